"""Edits of amishare's statements in a KMS key policy that hold against other writers.

A key policy is one document, changed by read-modify-write (GetKeyPolicy, then PutKeyPolicy; KMS has no
conditional write: docs/aws-facts.md section 2). amishare's own writers take turns under a key lock
(engine/locks.py); a writer outside it (another tool, a run of another journal) that read the policy before an
edit and writes after it drops the edit. So every edit is read back a moment later and what was lost is made
again, by these rules:

- access the edit **adds** is made again whoever took it away: the run that added it still needs it (its copies
  have not started) and closes it itself once they are done; after making it again, the next read waits
  ``KEY_CONFIRM_AFTER``, longer than any other writer's read-back, so a writer that takes it away once more is seen;
- access the edit **removed** and found back is taken away again only when an outside writer restored it from an
  older copy: not when the policy is what amishare last wrote under the lock (another run, which still needs that
  access, added it on top of this removal: it closes it itself), and not more than ``REMOVE_AGAIN`` times (a writer
  that keeps granting it without amishare's lock is such a run of another journal, or someone who means it); the
  account is then ``left``, noted in the step's result.

Two runs that want one account's access opposite ways (one's revocation, the other's share) so end with the access
open until the later run closes it, where each used to undo the other's edit until both failed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from amishare.aws.session import Sessions
from amishare.engine.locks import KeyLocks
from amishare.errors import AwsError
from amishare.policy import key_policy

# The read-back waits for another writer's read-modify-write of the policy to land: that writer calls the same KMS
# endpoint (GetKeyPolicy, then PutKeyPolicy) as this edit did, so its time is judged from this edit's own: four times
# as long, within these bounds (seconds). On AWS an edit takes 0.1 to 0.3 s (a read-back after 0.5 to 1.2 s); on a
# local AWS a few ms (after 0.5 s: a floor of 0.1 s let two runs sharing a destination overwrite each other's
# statement faster than either could see it hold, once in a CI run: see docs/concepts.md, concurrent runs).
KEY_VERIFY_AFTER = (0.5, 2.0)
KEY_VERIFY_FACTOR = 4.0
KEY_EDIT_ATTEMPTS = 5
# After access it added was taken away and made again: twice the longest read-back, so that a remover's one more
# removal (at most KEY_VERIFY_AFTER[1] after its write, plus its own read and write) lands before this read.
KEY_CONFIRM_AFTER = 2 * KEY_VERIFY_AFTER[1]
REMOVE_AGAIN = 1


@dataclass(frozen=True)
class KeyEdit:
    """An edit of amishare's statements in the policy of the key ``key_arn`` (of ``region``)."""

    key_arn: str
    region: str
    add: key_policy.KeyAccess = key_policy.NO_ACCESS
    remove: key_policy.KeyAccess = key_policy.NO_ACCESS


@dataclass(frozen=True)
class _Pass:
    """One read-modify-write of an edit: how long it took (None: nothing to write), whether it made added access
    again, whether it took removed access away again, and what removed access the policy grants (after it)."""

    took: float | None
    added_again: bool = False
    removed_again: bool = False
    left: key_policy.KeyAccess = key_policy.NO_ACCESS


def edit_key_access(
    sessions: Sessions,
    who: str | None,
    edit: KeyEdit,
    *,
    locks: KeyLocks,
    verify_after: float | None = None,
    confirm_after: float = KEY_CONFIRM_AFTER,
) -> dict[str, Any]:
    """Apply ``edit`` to amishare's statements of the key policy, as ``who``, and make sure it holds (the rules
    are the module's). Read back ``verify_after`` seconds after each write (None: ``KEY_VERIFY_FACTOR`` times as long
    as the write's own read-modify-write took, within ``KEY_VERIFY_AFTER``), ``confirm_after`` seconds after added
    access was made again. Returns ``{"key", "changed"}``, and ``"rewritten"`` (how often the edit was lost and made
    again) and ``"left"`` (removed access another writer keeps granting, comma-separated) when there are any."""
    changed = False
    removed_again = 0
    for attempt in range(KEY_EDIT_ATTEMPTS):
        done = _edit_once(sessions, who, edit, locks, attempt, may_remove_again=removed_again < REMOVE_AGAIN)
        if done.took is None:
            lost = max(0, attempt - 1)  # times another writer dropped the edit and it was applied again
            extra: dict[str, Any] = {"rewritten": lost} if lost else {}
            if done.left:
                extra["left"] = ", ".join(_names(done.left))  # a string: `amishare runs show` prints it
            return {"key": edit.key_arn, "changed": changed, **extra}
        changed = True
        removed_again += done.removed_again
        wait = verify_after if verify_after is not None else read_back_after(done.took)
        time.sleep(confirm_after if done.added_again else wait)
    raise AwsError(
        f"key {edit.key_arn}: the policy lost amishare's edit {KEY_EDIT_ATTEMPTS} times in a row: something keeps "
        "rewriting it from an older copy; find that writer (CloudTrail: PutKeyPolicy), then resume",
        operation="PutKeyPolicy",
        account=who,
        region=edit.region,
    )


def read_back_after(edit_seconds: float) -> float:
    """How long after a key policy edit that took ``edit_seconds`` (its read and its write) to read it back."""
    low, high = KEY_VERIFY_AFTER
    return min(high, max(low, KEY_VERIFY_FACTOR * edit_seconds))


def _edit_once(
    sessions: Sessions, who: str | None, edit: KeyEdit, locks: KeyLocks, attempt: int, *, may_remove_again: bool
) -> _Pass:
    """Read the key policy, make what is still to make of the edit (attempt 0: all of it), write it back when it
    changed: one writer per key at a time (``locks``), which remembers what amishare wrote last."""
    kms = sessions.client("kms", edit.region, who)
    with locks.hold(edit.key_arn) as held:
        started = time.monotonic()
        current = json.loads(kms.get_key_policy(KeyId=edit.key_arn, PolicyName="default")["Policy"])
        granted = key_policy.granted(current)
        outside = held.last_written != key_policy.digest(current)  # not as amishare's last writer left it
        remove = edit.remove if attempt == 0 or (outside and may_remove_again) else key_policy.NO_ACCESS
        updated = key_policy.edited(current, edit.region, edit.add, remove)
        if updated == current:
            return _Pass(None, left=granted & edit.remove)
        try:
            text = key_policy.check_size(updated)
        except key_policy.KeyPolicyTooLarge as exc:
            raise AwsError(
                f"key {edit.key_arn}: {exc}", operation="PutKeyPolicy", account=who, region=edit.region
            ) from exc
        kms.put_key_policy(KeyId=edit.key_arn, PolicyName="default", Policy=text)
        held.wrote = key_policy.digest(updated)
        again = attempt > 0
        return _Pass(
            time.monotonic() - started,
            added_again=again and bool(edit.add - granted),
            removed_again=again and bool(granted & remove),
        )


def _names(access: key_policy.KeyAccess) -> list[str]:
    """The accounts, organizations and OUs ``access`` names."""
    return sorted(access.accounts | access.autoscaling | access.organizations | {ou for _, ou in access.ous})
