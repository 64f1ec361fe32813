"""The pacer never lets more calls through than the token bucket it copies, and makes no one wait needlessly."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amishare.aws.pacer import KMS_QUOTAS, Pacer, kms_bucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@given(st.lists(st.floats(min_value=0, max_value=2, allow_nan=False), min_size=1, max_size=300))
def test_calls_in_any_window_stay_within_the_bucket(gaps: list[float]) -> None:
    clock = FakeClock()
    pacer = Pacer(size=10, rate=5, clock=clock, sleep=clock.sleep)
    times = []
    for gap in gaps:
        clock.now += gap
        pacer.take()
        times.append(clock.now)
    for i, start in enumerate(times):
        for j in range(i, len(times)):
            window = times[j] - start
            assert j - i + 1 <= 10 + 5 * window + 1e-6


def test_a_burst_passes_at_once_then_calls_go_at_the_refill_rate() -> None:
    clock = FakeClock()
    pacer = Pacer(size=10, rate=5, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        pacer.take()
    assert clock.now == 0.0
    for _ in range(10):
        pacer.take()
    assert abs(clock.now - 2.0) < 1e-9  # ten more tokens at five a second


@given(
    st.sampled_from(sorted(KMS_QUOTAS)),
    st.lists(st.floats(min_value=0, max_value=0.5, allow_nan=False), min_size=1, max_size=400),
)
def test_kms_calls_never_exceed_their_quota_in_any_calendar_second(operation: str, gaps: list[float]) -> None:
    """KMS counts requests by the second (KMS Developer Guide, "Request quotas"): paced, no second ever holds more
    than the quota, wherever the seconds start."""
    bucket = kms_bucket(operation)
    assert bucket is not None
    clock = FakeClock()
    clock.now = 0.37  # not on a second's edge
    pacer = Pacer(*bucket, clock=clock, sleep=clock.sleep)
    seconds: Counter[int] = Counter()
    for gap in gaps:
        clock.now += gap
        pacer.take()
        seconds[math.floor(clock.now)] += 1
    assert max(seconds.values()) <= KMS_QUOTAS[operation]


def test_a_kms_operation_without_a_quota_is_not_paced() -> None:
    assert kms_bucket("Encrypt") is None and kms_bucket("PutKeyPolicy") == pytest.approx((1.0, 11.2))


def test_a_share_of_the_quota_paces_each_of_many_processes_to_its_part() -> None:
    whole, part = kms_bucket("RevokeGrant"), kms_bucket("RevokeGrant", share=0.025)  # one of 40 chunks at once
    assert whole is not None and part is not None
    assert part[1] * 40 == pytest.approx(whole[1])
