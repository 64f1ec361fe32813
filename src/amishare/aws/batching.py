"""Batched waiting and revoking: one API call serves every action waiting on the same account and region.

``ImagePoller``: actions waiting for images call ``wait``; one thread per (account, region) polls
``DescribeImages`` for ALL pending ids of that account and region at each tick (AWS-RULES.md
section 4: never one call per image), with a backoff that follows the age of the copies (a
copy of seconds is checked often, a copy of hours every ``poll_max`` seconds), no 10-minute cap,
and an overall timeout.

``Revoker``: destinations whose copies are done call ``revoke``; requests arriving within a short
window are served by one ``ModifyImageAttribute``, one ``ModifySnapshotAttribute`` per snapshot
(at most 500 accounts each) and one key policy update, per staging image.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from amishare import keypolicy
from amishare.aws.errors import error_code, translate
from amishare.aws.session import Sessions
from amishare.errors import AmiShareError, AwsError

_MISSING = re.compile(r"ami-[0-9a-f]+")
FAILED_STATES = ("failed", "invalid", "deregistered", "error", "disabled")


@dataclass
class _Waiter:
    image_id: str
    registered: float
    deadline: float
    not_before: float  # no poll is spent on it before then (an expected duration is known)
    done: threading.Event = field(default_factory=threading.Event)
    image: dict[str, Any] | None = None
    error: AmiShareError | None = None


class ImagePoller:
    def __init__(
        self,
        sessions: Sessions,
        *,
        poll_min: float = 0.2,
        poll_max: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_poll: Callable[[str | None, str, list[dict[str, Any]]], None] | None = None,
        snapshot_progress: bool = False,
    ) -> None:
        self.sessions = sessions
        self.poll_min, self.poll_max = poll_min, poll_max
        self.clock, self.sleep = clock, sleep
        self.on_poll = on_poll
        self.snapshot_progress = snapshot_progress
        self._lock = threading.Lock()
        self._waiters: dict[tuple[str | None, str], list[_Waiter]] = {}
        self._threads: dict[tuple[str | None, str], threading.Thread] = {}

    def wait(
        self, account: str | None, region: str, image_id: str, timeout: float, expected: float = 0.0
    ) -> dict[str, Any]:
        """Block until ``image_id`` is available (its description) or failed / timed out (``AwsError``).

        ``expected``: how long the copy is expected to take (e.g. an earlier copy of the same image);
        polling for it starts after 95% of that time.
        """
        now = self.clock()
        waiter = _Waiter(image_id, now, now + timeout, now + min(max(0.0, 0.95 * expected), timeout))
        key = (account, region)
        with self._lock:
            self._waiters.setdefault(key, []).append(waiter)
            if key not in self._threads or not self._threads[key].is_alive():
                thread = threading.Thread(
                    target=self._loop, args=(key,), daemon=True, name=f"amishare-poll-{account}-{region}"
                )
                self._threads[key] = thread
                thread.start()
        waiter.done.wait()
        if waiter.error is not None:
            raise waiter.error
        assert waiter.image is not None
        return waiter.image

    def _loop(self, key: tuple[str | None, str]) -> None:
        account, region = key
        while True:
            with self._lock:
                pending = list(self._waiters.get(key, []))
                if not pending:
                    self._threads.pop(key, None)
                    return
            now = self.clock()
            due = [w for w in pending if w.not_before <= now]
            if due:
                try:
                    self._tick(account, region, due)
                except AmiShareError as exc:
                    self._settle(key, due, error=exc)
                    continue
            with self._lock:
                pending = list(self._waiters.get(key, []))
            if pending:
                self.sleep(self._next_interval(pending, self.clock()))

    def _next_interval(self, pending: list[_Waiter], now: float) -> float:
        """The cadence follows the age of the copies being polled (0.1 x age, within [poll_min, poll_max]);
        copies not due yet wake the loop when they become due."""
        intervals = []
        due = [w for w in pending if w.not_before <= now]
        if due:
            oldest = min(w.not_before for w in due)
            intervals.append(min(self.poll_max, max(self.poll_min, 0.1 * (now - oldest))))
        later = [w.not_before - now for w in pending if w.not_before > now]
        if later:
            intervals.append(min(later))
        return max(0.0, min(intervals))

    def _tick(self, account: str | None, region: str, pending: list[_Waiter]) -> None:
        ids = sorted({w.image_id for w in pending})
        ec2 = self.sessions.client("ec2", region, account)
        try:
            images = ec2.describe_images(ImageIds=ids)["Images"]
        except ClientError as exc:
            if error_code(exc) != "InvalidAMIID.NotFound":
                raise translate(exc, "DescribeImages", account, region) from exc
            missing = set(_MISSING.findall(exc.response["Error"].get("Message", ""))) or set(ids)
            gone = [w for w in pending if w.image_id in missing]
            self._settle(
                (account, region),
                gone,
                error=AwsError(
                    f"image {gone[0].image_id if gone else ids[0]} no longer exists",
                    operation="DescribeImages",
                    code="InvalidAMIID.NotFound",
                    account=account,
                    region=region,
                ),
            )
            return
        except BotoCoreError as exc:
            raise translate(exc, "DescribeImages", account, region) from exc
        if self.on_poll is not None:
            if self.snapshot_progress:
                self._add_progress(ec2, images)
            self.on_poll(account, region, images)
        by_id = {i["ImageId"]: i for i in images}
        now = self.clock()
        for waiter in pending:
            image = by_id.get(waiter.image_id)
            state = image.get("State") if image else None
            if image is not None and state == "available":
                self._settle((account, region), [waiter], image=image)
            elif image is not None and state in FAILED_STATES:
                reason = image.get("StateReason", {}).get("Message", "no reason given")
                self._settle(
                    (account, region),
                    [waiter],
                    error=AwsError(
                        f"copy {waiter.image_id} {state}: {reason}",
                        operation="CopyImage",
                        account=account,
                        region=region,
                    ),
                )
            elif now >= waiter.deadline:
                self._settle(
                    (account, region),
                    [waiter],
                    error=AwsError(
                        f"image {waiter.image_id} still {state} at the timeout",
                        operation="DescribeImages",
                        account=account,
                        region=region,
                    ),
                )

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
        except (ClientError, BotoCoreError):
            return  # progress is a nicety: never fail a wait over it
        for snapshot in snapshots:
            image = pending[snapshot["SnapshotId"]]
            value = int(str(snapshot.get("Progress", "0%")).rstrip("%") or 0)
            image["Progress"] = f"{min(value, int(str(image.get('Progress', '100%')).rstrip('%')))}%"

    def cancel(self) -> None:
        """Release every waiter with an error (the run is being interrupted)."""
        with self._lock:
            waiters = [(key, list(items)) for key, items in self._waiters.items()]
        for key, items in waiters:
            self._settle(key, items, error=AmiShareError("interrupted"))

    def _settle(
        self,
        key: tuple[str | None, str],
        waiters: list[_Waiter],
        *,
        image: dict[str, Any] | None = None,
        error: AmiShareError | None = None,
    ) -> None:
        with self._lock:
            for waiter in waiters:
                if waiter in self._waiters.get(key, []):
                    self._waiters[key].remove(waiter)
                waiter.image, waiter.error = image, error
                waiter.done.set()


@dataclass
class _Revocation:
    account: str
    done: threading.Event = field(default_factory=threading.Event)
    error: AmiShareError | None = None


class Revoker:
    """Batches the revocation of destinations' access to one staging image."""

    def __init__(
        self,
        sessions: Sessions,
        *,
        window: float = 0.15,
        sleep: Callable[[float], None] = time.sleep,
        key_locks: dict[str, threading.Lock] | None = None,
    ) -> None:
        self.sessions = sessions
        self.window = window
        self.sleep = sleep
        self._lock = threading.Lock()
        self._queues: dict[tuple[str | None, str, str, str | None, bool], list[_Revocation]] = {}
        self.key_locks = key_locks if key_locks is not None else {}

    def revoke(
        self,
        account: str | None,
        region: str,
        image_id: str,
        key_arn: str | None,
        target: str,
        image_access: bool = True,
    ) -> None:
        """Remove ``target``'s launch and snapshot permission (when ``image_access``) and its key access
        (when ``key_arn``), batched with the other targets arriving within the window."""
        request = _Revocation(target)
        batch_key = (account, region, image_id, key_arn, image_access)
        with self._lock:
            queue = self._queues.setdefault(batch_key, [])
            queue.append(request)
            leader = len(queue) == 1
        if leader:
            self.sleep(self.window)
            with self._lock:
                batch = self._queues.pop(batch_key)
            try:
                self._flush(account, region, image_id, key_arn, sorted({r.account for r in batch}), image_access)
            except AmiShareError as exc:
                for item in batch:
                    item.error = exc
            except (ClientError, BotoCoreError) as exc:
                error = translate(exc, "RevokeDestination", account, region)
                for item in batch:
                    item.error = error
            for item in batch:
                item.done.set()
        request.done.wait()
        if request.error is not None:
            raise request.error

    def _flush(
        self,
        account: str | None,
        region: str,
        image_id: str,
        key_arn: str | None,
        targets: list[str],
        image_access: bool,
    ) -> None:
        if image_access:
            self._remove_image_access(account, region, image_id, targets)
        if key_arn:
            update_key_access(self.sessions, account, region, key_arn, remove=targets, locks=self.key_locks)

    def _remove_image_access(self, account: str | None, region: str, image_id: str, targets: list[str]) -> None:
        ec2 = self.sessions.client("ec2", region, account)
        try:
            image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
            ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Remove": [{"UserId": t} for t in targets]})
            for mapping in image.get("BlockDeviceMappings", []):
                snapshot = mapping.get("Ebs", {}).get("SnapshotId")
                for start in range(0, len(targets), 500) if snapshot else ():
                    ec2.modify_snapshot_attribute(
                        SnapshotId=snapshot,
                        Attribute="createVolumePermission",
                        OperationType="remove",
                        UserIds=targets[start : start + 500],
                    )
        except ClientError as exc:
            # a staging image deleted meanwhile: nobody can use it any more (its key access still goes)
            if not error_code(exc).startswith(("InvalidAMIID.NotFound", "InvalidSnapshot.NotFound")):
                raise


def update_key_access(
    sessions: Sessions,
    account: str | None,
    region: str,
    key_arn: str,
    *,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    autoscaling: Sequence[str] = (),
    locks: dict[str, threading.Lock],
) -> bool:
    """Read the key policy, add or remove accounts in amishare's statements, write it back (one writer per key)."""
    lock = locks.setdefault(key_arn, threading.Lock())
    kms = sessions.client("kms", region, account)
    with lock:
        current = json.loads(kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
        grant = keypolicy.KeyAccess(accounts=frozenset(add), autoscaling=frozenset(autoscaling))
        updated = keypolicy.with_access(current, region, grant)
        gone = keypolicy.KeyAccess(accounts=frozenset(remove), autoscaling=frozenset(remove))
        updated = keypolicy.without_access(updated, region, gone)
        if updated == current:
            return False
        kms.put_key_policy(KeyId=key_arn, PolicyName="default", Policy=keypolicy.check_size(updated))
        return True
