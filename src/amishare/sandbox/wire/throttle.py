"""Request throttling: EC2's token buckets and KMS's request quotas, per account and region.

EC2 (docs/aws-facts.md section 4; EC2 API Reference, "Request throttling"): each bucket holds ``size`` tokens,
refilled at ``rate`` tokens a second; a request takes one token or fails with ``RequestLimitExceeded``. Actions with
their own bucket are listed; other actions share their category's bucket.

KMS (KMS Developer Guide, "Request quotas", "Throttling AWS KMS requests"): each operation has a quota of requests
per second per account and region, counted in one-second intervals ("if users in your account submit 1000
DescribeKey requests in a second, AWS KMS throttles all subsequent DescribeKey requests in that second"); the
symmetric cryptographic operations share one quota, larger in some regions; a cross-account request counts against
the calling account; over the quota, ``ThrottlingException``. The defaults are the guide's current table; AWS has
raised several over time (RevokeGrant and RetireGrant from 15 to 30 to 50, PutKeyPolicy from 5 to 15), so
``Settings.kms_request_quotas`` overrides any of them.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# action -> (size, refill per second), from docs/aws-facts.md section 4
ACTION_BUCKETS: dict[str, tuple[float, float]] = {
    "CopyImage": (100, 1),
    "ModifyImageAttribute": (100, 5),
    "ModifySnapshotAttribute": (100, 5),
    "DeregisterImage": (100, 5),
    "CreateTags": (100, 10),
}
NON_MUTATING = (100.0, 20.0)  # Describe*, Get*
MUTATING = (100.0, 5.0)  # other mutating actions (AWS's generic mutating category; UNVERIFIED size)


# KMS operation -> requests per second per account and region (KMS Developer Guide, "Request quotas")
KMS_QUOTAS: dict[str, float] = {
    "CancelKeyDeletion": 5,
    "CreateAlias": 5,
    "CreateGrant": 50,
    "CreateKey": 5,
    "DeleteAlias": 15,
    "DescribeKey": 2000,
    "DisableKey": 5,
    "EnableKey": 5,
    "GetKeyPolicy": 1000,
    "ListAliases": 500,
    "ListGrants": 100,
    "ListKeyPolicies": 100,
    "ListKeys": 500,
    "ListResourceTags": 2000,
    "PutKeyPolicy": 15,
    "RetireGrant": 50,
    "RevokeGrant": 50,
    "ScheduleKeyDeletion": 15,
    "TagResource": 10,
    "UntagResource": 5,
    "UpdateAlias": 5,
    "UpdateKeyDescription": 5,
}
# "Cryptographic operations (symmetric) request rate": one quota shared by these, by region
KMS_CRYPTO_OPERATIONS = frozenset(
    {"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateRandom", "ReEncrypt"}
)
KMS_CRYPTO = "Cryptographic operations (symmetric)"
KMS_CRYPTO_BY_REGION = {
    **dict.fromkeys(("us-east-1", "us-west-2", "eu-west-1"), 100_000.0),
    **dict.fromkeys(
        ("us-east-2", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "eu-central-1", "eu-west-2"), 20_000.0
    ),
}
KMS_CRYPTO_DEFAULT = 10_000.0


def kms_quota(action: str, region: str, overrides: Mapping[str, float] | None = None) -> tuple[str, float] | None:
    """The quota ``action`` counts against in ``region`` (its name, requests per second), ``overrides`` first (by
    operation, or ``KMS_CRYPTO`` for the shared one); None for an operation without a quota here."""
    overrides = overrides or {}
    if action in KMS_CRYPTO_OPERATIONS:
        return KMS_CRYPTO, float(overrides.get(KMS_CRYPTO, KMS_CRYPTO_BY_REGION.get(region, KMS_CRYPTO_DEFAULT)))
    if action in overrides or action in KMS_QUOTAS:
        return action, float(overrides.get(action, KMS_QUOTAS.get(action, 0.0)))
    return None


@dataclass
class _Bucket:
    size: float
    rate: float
    tokens: float
    updated: float


def bucket_for(action: str, mutating: bool) -> tuple[str, tuple[float, float]]:
    if action in ACTION_BUCKETS:
        return action, ACTION_BUCKETS[action]
    return ("mutating", MUTATING) if mutating else ("non-mutating", NON_MUTATING)


class Throttle:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str, str], _Bucket] = {}
        self._seconds: dict[tuple[str, str, str], tuple[int, int]] = {}  # KMS: (account, region, quota) -> (s, n)

    def admit(self, account: str, region: str, action: str, mutating: bool) -> bool:
        """Take a token; False when the bucket is empty (the request is throttled)."""
        name, (size, rate) = bucket_for(action, mutating)
        now = self._clock()
        with self._lock:
            bucket = self._buckets.setdefault((account, region, name), _Bucket(size, rate, size, now))
            bucket.tokens = min(bucket.size, bucket.tokens + (now - bucket.updated) * bucket.rate)
            bucket.updated = now
            if bucket.tokens < 1:
                return False
            bucket.tokens -= 1
            return True

    def admit_kms(self, account: str, region: str, action: str, overrides: Mapping[str, float] | None = None) -> bool:
        """Count a KMS request in its one-second interval; False when its quota for that second is spent."""
        quota = kms_quota(action, region, overrides)
        if quota is None:
            return True
        name, per_second = quota
        second = math.floor(self._clock())
        with self._lock:
            start, count = self._seconds.get((account, region, name), (second, 0))
            if start != second:
                start, count = second, 0
            if count + 1 > per_second:
                self._seconds[(account, region, name)] = (start, count)
                return False
            self._seconds[(account, region, name)] = (start, count + 1)
            return True

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
            self._seconds.clear()
