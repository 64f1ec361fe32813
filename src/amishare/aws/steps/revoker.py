"""Batched revocation: the destinations of a transfer whose copies are done lose their access together.

A RevokeDestination step ``request``s its revocation and returns ``InProgress`` without holding a
thread. Requests of the same batch (same account, region, shared image and key) are served by one
``ModifyImageAttribute``, one ``ModifySnapshotAttribute`` per snapshot (at most 500 accounts each)
and one key policy edit. A batch is flushed as soon as every revocation of it the plan still expects
has asked (the last one waits for nothing), else ``window`` seconds after its first request (copies
completing within that second share the calls; access stays open that much longer, never more).
"""

from __future__ import annotations

import contextvars
import functools
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from amishare.aws.errors import IMAGE_GONE
from amishare.aws.session import Sessions, as_step
from amishare.aws.steps.key_edits import KeyEdit, edit_key_access, left_open
from amishare.engine.kinds.gates import MAX_SNAPSHOT_CHANGES, RevokeDestination, SnapshotChange
from amishare.engine.locks import KeyLocks
from amishare.engine.plan import Plan
from amishare.engine.steps import Timers
from amishare.errors import AwsError
from amishare.policy import key_policy
from amishare.policy.access import run_grant_name

Batch = tuple[str, str, str, str | None, bool, str | None]  # account, region, image, key, image access, grant key


@dataclass
class _Queue:
    requests: dict[str, RevokeDestination] = field(default_factory=dict)  # by step key
    scheduled: bool = False
    run_id: str = ""


class Revoker:
    def __init__(self, sessions: Sessions, *, window: float = 1.0, key_locks: KeyLocks) -> None:
        self.sessions = sessions
        self.window = window
        self.key_locks = key_locks
        self._lock = threading.Lock()
        self._queues: dict[Batch, _Queue] = {}
        self._expected: dict[Batch, set[str]] = {}
        self._batch_of: dict[str, Batch] = {}  # step key -> its batch, as the plan names it
        # step key -> (None (revoked) or the error, why its account's key access was left open, if it was)
        self._outcomes: dict[str, tuple[str | None, str | None]] = {}
        self._timers: Timers | None = None

    def bind(self, timers: Timers, plan: Plan, finished: set[str]) -> None:
        """Learn which revocations the plan still expects (``finished``: already done in an earlier attempt)."""
        self._timers = timers
        for action in plan.actions:
            if isinstance(action, RevokeDestination) and action.key not in finished:
                self._batch_of[action.key] = action.batch()
                self._expected.setdefault(action.batch(), set()).add(action.key)

    def outcome(self, key: str) -> tuple[bool, str | None, str | None]:
        """(settled, error, key access left) of the revocation requested by step ``key``: why its account's key
        access was left open, when another writer granted it again meanwhile (aws/steps/key_edits.py)."""
        with self._lock:
            if key in self._outcomes:
                return True, *self._outcomes.pop(key)
        return False, None, None

    def request(self, action: RevokeDestination, who: str | None, run_id: str) -> None:
        """Queue ``action``'s revocation (idempotent); the batch is flushed on a worker.

        The batch is the one the plan names (its image still ``@<staging copy>``), so that the revocations
        expected of it are counted; ``action`` itself is resolved (its image is the copy's id)."""
        batch = self._batch_of.get(action.key, action.batch())
        assert self._timers is not None, "bind() the revoker to the executor first"
        with self._lock:
            queue = self._queues.setdefault(batch, _Queue(run_id=run_id))
            queue.requests[action.key] = action
            everyone = self._expected.get(batch, set()) <= set(queue.requests)
            if queue.scheduled and not everyone:
                return
            queue.scheduled = True
        delay = 0.0 if everyone else self.window
        self._timers.call_later(delay, lambda: as_step("RevokeDestination", self._flush, batch, who))

    def _flush(self, batch: Batch, who: str | None) -> None:
        with self._lock:
            queue = self._queues.pop(batch, None)
            if queue is None or not queue.requests:
                return
            for key in queue.requests:
                self._expected.get(batch, set()).discard(key)
        _, region, _, key_arn, image_access, grant_key = batch
        image_id = next(iter(queue.requests.values())).image  # resolved: the same image for the whole batch
        targets = sorted({a.target for a in queue.requests.values()})
        remove = key_policy.KeyAccess(accounts=frozenset(targets), autoscaling=frozenset(targets))
        with ThreadPoolExecutor(max_workers=3) as pool:  # the image's gates and the key's, at the same time
            step = contextvars.copy_context()
            grants = (
                pool.submit(step.copy().run, self._revoke_grants, who, region, grant_key, targets, queue.run_id)
                if grant_key
                else None
            )
            gates = (
                pool.submit(step.copy().run, self._remove_image_access, who, region, image_id, targets)
                if image_access
                else None
            )
            access = (
                pool.submit(
                    step.copy().run,
                    functools.partial(edit_key_access, locks=self.key_locks),
                    self.sessions,
                    who,
                    KeyEdit(key_arn, region, remove=remove),
                )
                if key_arn
                else None
            )
        failures = [f.exception() for f in (gates, access, grants) if f is not None and f.exception() is not None]
        error = str(failures[0]) if failures else None
        left = {a: WHY_LEFT[f] for a, f in left_open(access.result()).items()} if access and not failures else {}
        assert self._timers is not None
        with self._lock:
            for key, action in queue.requests.items():
                self._outcomes[key] = (error, left.get(action.target))
        for key in queue.requests:
            self._timers.wake(key)

    def _revoke_grants(self, who: str | None, region: str, key_arn: str, targets: list[str], run_id: str) -> None:
        """Revoke the grants this run made for ``targets`` on ``key_arn`` (found by name: one ListGrants scan for
        the batch; a grant already gone is done)."""
        wanted = {run_grant_name(t, run_id) for t in targets}
        kms = self.sessions.client("kms", region, who)
        found: list[str] = []
        marker: str | None = None
        while True:
            page = kms.list_grants(KeyId=key_arn, **({"Marker": marker} if marker else {}))
            found += [g["GrantId"] for g in page.get("Grants", []) if g.get("Name") in wanted]
            marker = page.get("NextMarker") if page.get("Truncated") else None
            if not marker:
                break
        for grant_id in found:
            revoke_grant(kms, key_arn, grant_id)

    def _remove_image_access(self, who: str | None, region: str, image_id: str, targets: list[str]) -> None:
        ec2 = self.sessions.client("ec2", region, who)
        try:
            images = ec2.describe_images(ImageIds=[image_id])["Images"]
            if not images or images[0].get("State") == "deregistered":
                return  # deregistered meanwhile (docs/aws-facts.md section 3): nobody can use it any more
            mappings = images[0].get("BlockDeviceMappings", [])
            snapshots = [m["Ebs"]["SnapshotId"] for m in mappings if m.get("Ebs", {}).get("SnapshotId")]
            calls: list[Callable[[], Any]] = [
                functools.partial(
                    ec2.modify_image_attribute,
                    ImageId=image_id,
                    LaunchPermission={"Remove": [{"UserId": t} for t in targets]},
                ),
                *snapshot_permission_calls(ec2, [SnapshotChange(s, tuple(targets)) for s in snapshots], "remove"),
            ]
            with ThreadPoolExecutor(max_workers=len(calls)) as pool:  # independent changes: at once
                step = contextvars.copy_context()
                for future in [pool.submit(step.copy().run, call) for call in calls]:
                    future.result()
        except AwsError as exc:
            # a staging image deleted meanwhile (NotFound, or Unavailable while still described as deregistered:
            # docs/aws-facts.md section 3): nobody can use it any more (its key access still goes)
            if exc.code not in IMAGE_GONE | {"InvalidSnapshot.NotFound"}:
                raise


LEFT_TO_A_RUN = "left: another run granted it again meanwhile, and closes it when its copies are done"
LEFT_TO_OUTSIDE = (
    "left: a writer outside amishare's key lock keeps granting it (a run of another journal, or someone who means "
    "it): see who in CloudTrail (PutKeyPolicy)"
)
WHY_LEFT = {"left": LEFT_TO_A_RUN, "left_to_outside": LEFT_TO_OUTSIDE}  # by the key edit's result field


def snapshot_permission_calls(ec2: Any, changes: Iterable[SnapshotChange], operation: str) -> list[Callable[[], Any]]:
    """The ModifySnapshotAttribute calls that make ``changes`` (``add`` or ``remove``), at most
    ``MAX_SNAPSHOT_CHANGES`` accounts each (docs/aws-facts.md section 4)."""
    return [
        functools.partial(
            ec2.modify_snapshot_attribute,
            SnapshotId=change.snapshot,
            Attribute="createVolumePermission",
            OperationType=operation,
            UserIds=list(change.accounts[start : start + MAX_SNAPSHOT_CHANGES]),
        )
        for change in changes
        for start in range(0, len(change.accounts), MAX_SNAPSHOT_CHANGES)
    ]


def revoke_grant(kms: Any, key_arn: str, grant_id: str) -> bool:
    """Revoke a grant; False when it was already gone (revoking is then done, not failed)."""
    try:
        kms.revoke_grant(KeyId=key_arn, GrantId=grant_id)
    except AwsError as exc:
        if exc.code != "NotFoundException":
            raise
        return False
    return True
