"""Client-side pacing of EC2 reads to the token buckets AWS documents (docs/aws-facts.md section 4), and of every
KMS call to its request quota (docs/aws-facts.md section 9).

EC2 refuses a request over its bucket with ``RequestLimitExceeded``; botocore then backs off for a while
that grows with each refusal, so a reader that fires freely spends much of its time asleep. A reader that
takes a token from a local copy of the bucket before each call never meets the limit and runs at the
bucket's rate: the fastest AWS allows. One ``Pacer`` per account and region (each has its own buckets).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from amishare.model import KMS_REQUEST_QUOTAS

# EC2 API Reference, "Request throttling": non-mutating actions share a bucket of 100 refilled at 20 a second.
# A little under both, so that a clock that drifts from AWS's never meets the limit.
DESCRIBE_BUCKET = (95.0, 19.0)


class Pacer:
    """A token bucket that waits for a token rather than failing."""

    def __init__(
        self,
        size: float = DESCRIBE_BUCKET[0],
        rate: float = DESCRIBE_BUCKET[1],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.size, self.rate = size, rate
        self._clock, self._sleep = clock, sleep
        self._tokens = size
        self._updated = clock()
        self._lock = threading.Lock()

    def take(self) -> None:
        """Take one token, waiting until there is one (tokens are handed out in arrival order of the lock)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.size, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1  # a debt when negative: the caller waits it out
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)


# A pacer of one token refilled at 80% of (quota - 1) a second never lets more than the quota through in any second,
# with a fifth of the quota left for the time a request takes from its token to AWS (threads, the GIL, the network:
# measured, 90% was not enough). The quotas: ``model.KMS_REQUEST_QUOTAS``, or an account's raised ones.
KMS_QUOTAS = KMS_REQUEST_QUOTAS


class Pacers:
    """One pacer per (account, region), made on first use."""

    def __init__(self, factory: Callable[[], Pacer] = Pacer) -> None:
        self._factory = factory
        self._pacers: dict[tuple[str, str], Pacer] = {}
        self._lock = threading.Lock()

    def __call__(self, account: str, region: str) -> Pacer:
        with self._lock:
            found = self._pacers.get((account, region))
            if found is None:
                found = self._pacers[(account, region)] = self._factory()
            return found


def kms_bucket(
    operation: str, share: float = 1.0, quotas: Mapping[str, float] | None = None
) -> tuple[float, float] | None:
    """The (size, rate) of the pacer amishare takes a token from before the KMS call ``operation`` (None: none);
    ``share``: the part of the quota this process may use (``share_kms_quota``); ``quotas``: the account's own
    where raised (``[defaults] kms_request_quotas``), else KMS's defaults."""
    quota = (quotas or {}).get(operation, KMS_QUOTAS.get(operation))
    if quota is None:
        return None
    return 1.0, max(0.05, (quota - 1) * 0.8 * share)


_KMS: dict[tuple[str, str, str, float], Pacer] = {}
_KMS_LOCK = threading.Lock()
_KMS_SHARE = [1.0]


def share_kms_quota(share: float) -> None:
    """This process uses ``share`` (0 to 1) of each KMS quota from now on: the serverless engine's chunks run in as
    many processes at once as its Map allows, each told its share (``1 / concurrency``), so together they stay
    within the account's quota."""
    if not 0 < share <= 1:
        raise ValueError(f"a share of a quota is in (0, 1], not {share}")
    with _KMS_LOCK:
        if share != _KMS_SHARE[0]:
            _KMS_SHARE[0] = share
            _KMS.clear()


def pace_kms(
    account: str | None, region: str, operation: str, quotas: Mapping[str, float] | None = None
) -> None:
    """Wait, if need be, so that this process's calls of ``operation`` by ``account`` in ``region`` stay within KMS's
    request quota, or the account's raised one in ``quotas`` (one pacer per account, region, operation and rate,
    shared by every client of the process)."""
    with _KMS_LOCK:
        bucket = kms_bucket(operation, _KMS_SHARE[0], quotas)
        if bucket is None:
            return
        key = (account or "", region, operation, bucket[1])
        pacer = _KMS.get(key)
        if pacer is None:
            pacer = _KMS[key] = Pacer(*bucket)
    pacer.take()
