"""The image poller: one ``DescribeImages`` per account and region per tick serves every waiting step.

AwaitImage steps ``watch`` their image and return ``InProgress`` without holding a thread. For each
(account, region) with watched images, one tick is scheduled on the executor's workers
(``Timers.call_later``); it describes ALL the watched ids of that account and region in one call
(docs/aws-facts.md section 4: never one call per image), records what it saw, and wakes the steps whose
image became available or failed (or, with progress shown, whose progress moved). The cadence follows
the age of the copies on AWS (their ``CreationDate``, once described: 0.1 x age within [poll_min, poll_max];
a copy of seconds is checked often, a copy of hours every ``poll_max``, also by a slice that picks up a run
another process started); no 10-minute cap; each watch has its deadline. A watch with an
expected duration (an earlier copy of the same image took that long) is first polled when that time has passed.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from amishare.aws.errors import IMAGE_GONE
from amishare.aws.session import Sessions, as_step
from amishare.engine.steps import Timers
from amishare.errors import AmiShareError, AwsError

_MISSING = re.compile(r"ami-[0-9a-f]+")
FAILED_STATES = ("failed", "invalid", "deregistered", "error", "disabled")
# With the progress shown, a copy is first looked at after this many seconds (not when it should be done):
# the live view gets its image id and percentage at once, not tens of minutes later.
PROGRESS_FIRST_LOOK = 5.0
Poll = Callable[[str | None, str, list[dict[str, Any]]], None]  # (account, region, images described)


@dataclass
class Watch:
    """What the poller knows of one watched image."""

    image_id: str
    registered: float
    deadline: float
    not_before: float
    image: dict[str, Any] | None = None  # the last description
    error: str | None = None  # why the wait failed (failed copy, gone, timeout)
    born: float | None = None  # when AWS made the image (its CreationDate), on the poller's clock

    @property
    def settled(self) -> bool:
        return self.error is not None or (self.image is not None and self.image.get("State") == "available")


@dataclass
class _Group:
    watches: dict[str, Watch] = field(default_factory=dict)  # by the key of the step that waits
    next_tick: float | None = None


def _born(image: dict[str, Any], now: float) -> float | None:
    """When AWS made ``image`` (its ``CreationDate``), on the clock ``now`` is read from; None when unknown."""
    created = image.get("CreationDate")
    if isinstance(created, str):
        try:
            made = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            return None
    elif isinstance(created, dt.datetime):
        made = created
    else:
        return None
    age = time.time() - (made if made.tzinfo else made.replace(tzinfo=dt.UTC)).timestamp()
    return now - max(0.0, age)


class ImagePoller:
    """One DescribeImages per account and region per tick for every image waited on there (module docstring)."""

    def __init__(
        self,
        sessions: Sessions,
        *,
        poll_min: float = 0.2,
        poll_max: float = 30.0,
        on_poll: Poll | None = None,
        snapshot_progress: bool = False,
    ) -> None:
        self.sessions = sessions
        self.poll_min, self.poll_max = poll_min, poll_max
        self.on_poll = on_poll
        self.snapshot_progress = snapshot_progress
        self._lock = threading.Lock()
        self._groups: dict[tuple[str | None, str], _Group] = {}
        self._timers: Timers | None = None
        self._cancelled = False

    def bind(self, timers: Timers) -> None:
        self._timers = timers

    def _now(self) -> float:
        assert self._timers is not None, "bind() the poller to the executor first"
        return self._timers.now()

    def watch(
        self, key: str, account: str | None, region: str, image_id: str, timeout: float, expected: float = 0.0
    ) -> Watch:
        """Start watching ``image_id`` for the step ``key`` (idempotent); return what is known."""
        group_key = (account, region)
        with self._lock:
            group = self._groups.setdefault(group_key, _Group())
            found = group.watches.get(key)
            if found is not None and found.image_id == image_id:
                return found
            now = self._now()
            if self.snapshot_progress:  # someone watches the progress: look early, then as the copy ages
                expected = min(expected, PROGRESS_FIRST_LOOK)
            watch = Watch(image_id, now, now + timeout, now + min(max(0.0, expected), timeout))
            group.watches[key] = watch
            first = max(now + self.poll_min, watch.not_before)
        self._schedule(group_key, first)
        return watch

    def forget(self, key: str, account: str | None, region: str) -> None:
        with self._lock:
            group = self._groups.get((account, region))
            if group is not None:
                group.watches.pop(key, None)

    def cancel(self) -> None:
        """Stop polling (the run is interrupted)."""
        with self._lock:
            self._cancelled = True
            self._groups.clear()

    # ------------------------------------------------------------------------ ticks
    def _schedule(self, group_key: tuple[str | None, str], when: float) -> None:
        assert self._timers is not None
        with self._lock:
            group = self._groups.get(group_key)
            if group is None or self._cancelled:
                return
            if group.next_tick is not None and group.next_tick <= when:
                return
            group.next_tick = when
        self._timers.call_later(when - self._now(), lambda: as_step("AwaitImage", self._tick, group_key, when))

    def _tick(self, group_key: tuple[str | None, str], when: float) -> None:
        with self._lock:
            group = self._groups.get(group_key)
            if group is None or group.next_tick != when:
                return  # superseded by an earlier tick
            group.next_tick = None
            now = self._now()
            due = {k: w for k, w in group.watches.items() if not w.settled and w.not_before <= now}
        woken = self._describe(group_key, due) if due else []
        assert self._timers is not None
        for key in woken:
            self._timers.wake(key)
        with self._lock:
            pending = [w for w in group.watches.values() if not w.settled]
            now = self._now()
        if pending:
            self._schedule(group_key, now + self._interval(pending, now))

    def _interval(self, pending: list[Watch], now: float) -> float:
        due = [w for w in pending if w.not_before <= now]
        intervals = []
        if due:  # the age of the copy on AWS, not of this watch: a slice that resumes a long copy polls it calmly
            oldest = min(w.born if w.born is not None else w.not_before for w in due)
            intervals.append(min(self.poll_max, max(self.poll_min, 0.1 * (now - oldest))))
        later = [w.not_before - now for w in pending if w.not_before > now]
        if later:
            intervals.append(min(later))
        deadlines = [w.deadline - now for w in pending]
        return max(0.0, min([*intervals, max(0.0, min(deadlines))] if deadlines else intervals))

    def _describe(self, group_key: tuple[str | None, str], due: dict[str, Watch]) -> list[str]:
        """One DescribeImages for every due image of the group; returns the steps to wake."""
        account, region = group_key
        ids = sorted({w.image_id for w in due.values()})
        ec2 = self.sessions.client("ec2", region, account)
        try:
            images = ec2.describe_images(ImageIds=ids)["Images"]
        except AwsError as exc:
            message = str(exc)
            if exc.code not in IMAGE_GONE:
                return self._settle_all(due, lambda w: message)
            missing = set(_MISSING.findall(message)) or set(ids)
            gone = {k: w for k, w in due.items() if w.image_id in missing}
            return self._settle_all(gone, lambda w: f"image {w.image_id} no longer exists")
        except AmiShareError as exc:
            message = str(exc)
            return self._settle_all(due, lambda w: message)
        if self.on_poll is not None:
            if self.snapshot_progress:
                self._add_progress(ec2, images)
            self.on_poll(account, region, images)
        return self._record(due, {i["ImageId"]: i for i in images})

    def _record(self, due: dict[str, Watch], by_id: dict[str, dict[str, Any]]) -> list[str]:
        woken = []
        now = self._now()
        with self._lock:
            for key, watch in due.items():
                image = by_id.get(watch.image_id)
                if image is None:  # docs/aws-facts.md section 3: deregistered a while ago, AWS answers without it
                    watch.error = f"image {watch.image_id} no longer exists (deregistered)"
                    woken.append(key)
                    continue
                state = image.get("State")
                before = (watch.image or {}).get("Progress")
                watch.image = image
                if watch.born is None:
                    watch.born = _born(image, now)
                if state in FAILED_STATES:
                    reason = image.get("StateReason", {}).get("Message", "no reason given")
                    watch.error = f"copy {watch.image_id} {state}: {reason}"
                elif state != "available" and now >= watch.deadline:
                    watch.error = f"image {watch.image_id} still {state} at the timeout"
                if watch.settled or (self.snapshot_progress and image.get("Progress") != before):
                    woken.append(key)
        return woken

    def _settle_all(self, watches: dict[str, Watch], reason: Callable[[Watch], str]) -> list[str]:
        with self._lock:
            for watch in watches.values():
                watch.error = reason(watch)
        return list(watches)

    @staticmethod
    def _add_progress(ec2: Any, images: list[dict[str, Any]]) -> None:
        """Each pending image's progress: its least advanced snapshot (one DescribeSnapshots per tick)."""
        pending = {
            m["Ebs"]["SnapshotId"]: image
            for image in images
            if image.get("State") == "pending"
            for m in image.get("BlockDeviceMappings", [])
            if m.get("Ebs", {}).get("SnapshotId")
        }
        if not pending:
            return
        try:
            snapshots = ec2.describe_snapshots(SnapshotIds=sorted(pending))["Snapshots"]
        except AmiShareError:
            return  # progress is a nicety: never fail a wait over it
        for snapshot in snapshots:
            image = pending[snapshot["SnapshotId"]]
            value = int(str(snapshot.get("Progress", "0%")).rstrip("%") or 0)
            image["Progress"] = f"{min(value, int(str(image.get('Progress', '100%')).rstrip('%')))}%"
