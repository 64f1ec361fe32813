"""EC2 request throttling: token buckets per account, region and action (docs/aws-facts.md section 4).

EC2 API Reference, "Request throttling": each bucket holds ``size`` tokens, refilled at
``rate`` tokens a second; a request takes one token or fails with ``RequestLimitExceeded``.
Actions with their own bucket are listed; other actions share their category's bucket.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
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

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
