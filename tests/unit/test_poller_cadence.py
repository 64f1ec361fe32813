"""The poller's cadence follows the copy's age on AWS (its CreationDate), not how long this process has watched:
a slice that picks up a copy started an hour ago polls it every ``poll_max``, not every ``poll_min``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from amishare.aws.steps.poller import ImagePoller


class FakeTimers:
    def __init__(self) -> None:
        self.clock = 1000.0

    def call_later(self, delay: float, task: Callable[[], None]) -> None:
        pass

    def wake(self, key: str) -> None:
        pass

    def now(self) -> float:
        return self.clock


def _poller() -> tuple[ImagePoller, FakeTimers]:
    poller = ImagePoller(None, poll_min=0.2, poll_max=30.0)  # type: ignore[arg-type]  # no AWS call is made here
    timers = FakeTimers()
    poller.bind(timers)
    return poller, timers


@pytest.mark.parametrize(("age", "interval"), [(3600.0, 30.0), (100.0, 10.0), (0.5, 0.2), (None, 0.2)])
def test_the_interval_is_a_tenth_of_the_copys_age_on_aws(age: float | None, interval: float) -> None:
    poller, timers = _poller()
    watch = poller.watch("await:copy", "222222222222", "us-east-1", "ami-1", timeout=86400.0)
    image: dict[str, Any] = {"ImageId": "ami-1", "State": "pending"}
    if age is not None:
        made = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=age)
        image["CreationDate"] = made.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    poller._record({"await:copy": watch}, {"ami-1": image})
    assert poller._interval([watch], timers.now()) == pytest.approx(interval, rel=0.05)
