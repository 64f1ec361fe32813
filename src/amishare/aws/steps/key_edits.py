"""Edits of amishare's statements in a KMS key policy that hold against other writers.

A key policy is one document, changed by read-modify-write (GetKeyPolicy, then PutKeyPolicy; KMS has no
conditional write: docs/aws-facts.md section 2). amishare's own writers take turns under a key lock
(engine/locks.py); a writer outside it (another tool, a run of another journal) that read the policy before an
edit and writes after it drops the edit. So every edit is read back a moment later and what was lost is made
again. The lock keeps the key's **ledger**: the access amishare's edits under it mean to grant (each edit adds its
additions and takes out its removals, whether or not the policy changed), which tells access another run granted on
purpose from access a writer restored. The rules:

- access the edit **adds** is made again whoever took it away: the run that added it still needs it (its copies
  have not started) and closes it itself once they are done; after making it again, the next read waits
  ``KEY_CONFIRM_AFTER``, longer than any other writer's read-back, so a writer that takes it away once more is seen;
- access the edit **removed** and found back is left when the ledger grants it (another run under the lock added
  it since, on purpose, and closes it itself: ``left``); else it was restored by a writer outside the lock (an
  older copy written back, by a tool or by a run of another journal, perhaps carried on by a later edit of
  amishare's) and is taken away again, up to ``REMOVE_AGAIN`` times: a writer that keeps granting it without the
  lock is a run of another journal that needs it, or someone who means it, and it is left to them
  (``left_to_outside``). Both are noted in the step's result.

Two runs that want one account's access opposite ways (one's revocation, the other's share) so end with the access
open until the later run closes it, where each used to undo the other's edit until one failed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from amishare.aws.session import Sessions
from amishare.engine import codec
from amishare.engine.locks import KeyHold, KeyLocks
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
LEFT_FIELDS = ("left", "left_to_outside")  # an edit's result: removed access left to another run, to another writer


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
    again, whether it took removed access away again, and the removed access the policy still grants after it:
    granted by the ledger (``left``), or by a writer outside the lock (``left_to_outside``)."""

    took: float | None
    added_again: bool = False
    removed_again: bool = False
    left: key_policy.KeyAccess = key_policy.NO_ACCESS
    left_to_outside: key_policy.KeyAccess = key_policy.NO_ACCESS


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
            for name, access in zip(LEFT_FIELDS, (done.left, done.left_to_outside), strict=True):
                if access:
                    extra[name] = ", ".join(_names(access))  # a string: `amishare runs show` prints it
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
    changed, and keep the ledger: one writer per key at a time (``locks``)."""
    kms = sessions.client("kms", edit.region, who)
    with locks.hold(edit.key_arn) as held:
        started = time.monotonic()
        current = json.loads(kms.get_key_policy(KeyId=edit.key_arn, PolicyName="default")["Policy"])
        granted, ledger = key_policy.granted(current), _ledger(held)
        back = granted & edit.remove
        restored = back - ledger  # granted again by no edit under the lock
        remove = edit.remove if attempt == 0 else (restored if may_remove_again else key_policy.NO_ACCESS)
        meant = (ledger | edit.add) - remove  # the ledger once this pass's edit holds
        updated = key_policy.edited(current, edit.region, edit.add, remove)
        if updated == current:
            _keep_ledger(held, ledger, meant)
            return _Pass(None, left=back & ledger, left_to_outside=back - ledger)
        try:
            text = key_policy.check_size(updated)
        except key_policy.KeyPolicyTooLarge as exc:
            raise AwsError(
                f"key {edit.key_arn}: {exc}", operation="PutKeyPolicy", account=who, region=edit.region
            ) from exc
        kms.put_key_policy(KeyId=edit.key_arn, PolicyName="default", Policy=text)
        _keep_ledger(held, ledger, meant)
        again = attempt > 0
        return _Pass(
            time.monotonic() - started,
            added_again=again and bool(edit.add - granted),
            removed_again=again and bool(granted & remove),
        )


def _ledger(held: KeyHold) -> key_policy.KeyAccess:
    """The access amishare's edits under the lock mean to grant, as its record says (none recorded, or a record
    that is not a ledger: none; the next edit records one)."""
    if not held.recorded:
        return key_policy.NO_ACCESS
    try:
        access: key_policy.KeyAccess = codec.decode(key_policy.KeyAccess, json.loads(held.recorded))
    except (ValueError, TypeError, AttributeError):
        return key_policy.NO_ACCESS
    return access


def _keep_ledger(held: KeyHold, before: key_policy.KeyAccess, after: key_policy.KeyAccess) -> None:
    """Leave ``after`` as the lock's record when it changed (written when the lock is let go)."""
    if after != before:
        held.record = json.dumps(codec.encode(after), sort_keys=True, separators=(",", ":"))


def left_open(edited: dict[str, Any]) -> dict[str, str]:
    """The accounts (organizations, OUs) an edit's result says were left open, each with the field that says so
    (``left``, ``left_to_outside``)."""
    return {name: field for field in LEFT_FIELDS for name in str(edited.get(field, "")).split(", ") if name}


def _names(access: key_policy.KeyAccess) -> list[str]:
    """The accounts, organizations and OUs ``access`` names."""
    return sorted(access.accounts | access.autoscaling | access.organizations | {ou for _, ou in access.ous})
