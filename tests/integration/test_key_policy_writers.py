"""Writers of one key policy (aws/steps/key_edits.py ``edit_key_access``, engine/locks.py), each case a race
played on the local AWS: an edit is read back and what another writer took from it is made again, by the rules of
aws/steps/key_edits.py. Two runs that want one account's access opposite ways (one's revocation, the other's share,
within a read-back of each other) end with the access open for the run that still needs it, which closes it
itself; before, they undid each other's edit until one failed ("lost amishare's edit 5 times in a row").

The locks: one process's (``LocalKeyLocks``), the processes of one machine sharing a journal file (two
``FileKeyLocks`` on one folder), every machine sharing a DynamoDB journal (two ``DynamoKeyLocks`` on one table), and
two journals that share nothing (two machines with a journal file each: ``FileKeyLocks`` on two folders)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from amishare import api
from amishare.aws.dynamodb_locks import DynamoKeyLocks
from amishare.aws.steps.key_edits import KEY_EDIT_ATTEMPTS, KeyEdit, edit_key_access
from amishare.engine.locks import FileKeyLocks, KeyLocks, LocalKeyLocks
from amishare.errors import AwsError
from amishare.policy import key_policy
from amishare.sandbox import Sandbox
from tests.integration.test_journal_backends import TABLE, create_table
from tests.support.world import OTHER, OWNER, REGION, TARGET

pytestmark = pytest.mark.slow  # each case waits out read-backs of 0.05 to 2.5 s

ACCESS = key_policy.KeyAccess(accounts=frozenset({TARGET}))


SHARED = ["process", "machine", "table"]


def _locks(kind: str, sb: Sandbox, builder: api.Settings, folder: Path) -> tuple[KeyLocks, KeyLocks]:
    """Two writers' views of one key's lock, as two runs would hold it."""
    if kind == "process":
        shared = LocalKeyLocks()
        return shared, shared
    if kind == "machine":
        return FileKeyLocks(folder / "keylocks"), FileKeyLocks(folder / "keylocks")
    if kind == "journals":
        return FileKeyLocks(folder / "one"), FileKeyLocks(folder / "another")
    create_table(sb)
    client = builder.sessions().client("dynamodb", REGION)
    return DynamoKeyLocks(client, TABLE), DynamoKeyLocks(client, TABLE)


@pytest.fixture(params=SHARED)
def locks(request: Any, sb: Sandbox, builder: api.Settings, tmp_path: Path) -> tuple[KeyLocks, KeyLocks]:
    return _locks(request.param, sb, builder, tmp_path)


@pytest.fixture(params=[*SHARED, "journals"])
def any_locks(request: Any, sb: Sandbox, builder: api.Settings, tmp_path: Path) -> tuple[KeyLocks, KeyLocks]:
    return _locks(request.param, sb, builder, tmp_path)


def test_access_a_share_added_that_another_run_revoked_is_made_again(
    sb: Sandbox, builder: api.Settings, any_locks: tuple[KeyLocks, KeyLocks]
) -> None:
    """Run A shares (adds TARGET); within A's read-back, run B revokes TARGET: A still needs the access (its copies
    have not started) and makes it again, whatever lock the runs share; B's revocation reports no error."""
    key, sessions = sb.create_key(OWNER, REGION), builder.sessions()
    sb.clear_calls()
    share = KeyEdit(key, REGION, add=ACCESS)
    shared = _in_thread(
        lambda: edit_key_access(sessions, None, share, locks=any_locks[0], verify_after=1.0, confirm_after=1.0)
    )
    _wait_for_writes(sb, 1)
    revoked = edit_key_access(
        sessions, None, KeyEdit(key, REGION, remove=ACCESS), locks=any_locks[1], verify_after=0.05
    )
    assert revoked == {"key": key, "changed": True}
    assert shared.result(timeout=30) == {"key": key, "changed": True, "rewritten": 1}
    assert TARGET in _granted(sb, key)
    assert _writes(sb) == 3


def test_a_revocation_another_run_undid_under_the_shared_lock_is_left_to_it(
    sb: Sandbox, builder: api.Settings, locks: tuple[KeyLocks, KeyLocks]
) -> None:
    """Run A revokes TARGET; within A's read-back, run B shares TARGET (B's copies need it). The policy is as
    amishare's lock saw B write it: A leaves TARGET (noted) for B to close; two writes in all."""
    key, sessions, _, revoked = _revoking(sb, builder, locks[0], verify_after=1.0)
    shared = edit_key_access(sessions, None, KeyEdit(key, REGION, add=ACCESS), locks=locks[1], verify_after=0.05)
    assert shared == {"key": key, "changed": True}
    assert revoked.result(timeout=30) == {"key": key, "changed": True, "left": TARGET}
    assert TARGET in _granted(sb, key)
    assert _writes(sb) == 2


def test_a_revocation_a_run_of_another_journal_undid_is_made_again_once_then_left(
    sb: Sandbox, builder: api.Settings, tmp_path: Path
) -> None:
    """Without a shared lock, A cannot tell B's share from an older copy written back: it revokes again once (its
    read-back after 1 s); B, reading back after 1.5 s, makes its access again and reads it back after
    KEY_CONFIRM_AFTER (here 2.5 s), after A's next read (2 s), where A, finding it back again, leaves it to the
    writer outside its lock. The access ends open, for B."""
    one, another = _locks("journals", sb, builder, tmp_path)
    key, sessions, _, revoked = _revoking(sb, builder, one, verify_after=1.0)
    share = KeyEdit(key, REGION, add=ACCESS)
    shared = edit_key_access(sessions, None, share, locks=another, verify_after=1.5, confirm_after=2.5)
    assert shared == {"key": key, "changed": True, "rewritten": 1}
    assert revoked.result(timeout=30) == {"key": key, "changed": True, "rewritten": 1, "left_to_outside": TARGET}
    assert TARGET in _granted(sb, key)
    assert _writes(sb) == 4


def test_a_revocation_restored_and_carried_on_by_another_run_s_edit_is_made_again(
    sb: Sandbox, builder: api.Settings, locks: tuple[KeyLocks, KeyLocks]
) -> None:
    """A revokes TARGET; an outside writer writes back an older copy that grants it; then B, under the lock, shares
    another account, its write carrying TARGET on. The policy is amishare's latest write, but no edit under the lock
    granted TARGET since A's removal (the ledger): A takes it away again; B's account stays."""
    key, sessions, older, revoked = _revoking(sb, builder, locks[0], verify_after=1.0)
    _kms(sb).put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(older))  # the stale writer
    other = KeyEdit(key, REGION, add=key_policy.KeyAccess(accounts=frozenset({OTHER})))
    assert edit_key_access(sessions, None, other, locks=locks[1], verify_after=0.05) == {"key": key, "changed": True}
    assert revoked.result(timeout=30) == {"key": key, "changed": True, "rewritten": 1}
    assert _granted(sb, key) == {OTHER}


def test_a_revocation_another_run_undid_stays_left_to_it_whatever_else_changes(
    sb: Sandbox, builder: api.Settings, locks: tuple[KeyLocks, KeyLocks]
) -> None:
    """A revokes TARGET; B shares it again under the lock; then someone adds a statement of their own. The policy
    is no longer amishare's latest write, but the ledger says B granted TARGET on purpose: A leaves it to B."""
    key, sessions, _, revoked = _revoking(sb, builder, locks[0], verify_after=1.0)
    share = KeyEdit(key, REGION, add=ACCESS)
    assert edit_key_access(sessions, None, share, locks=locks[1], verify_after=0.05) == {"key": key, "changed": True}
    theirs = _policy(sb, key)
    theirs["Statement"].append(
        {
            "Sid": "Audit",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{OWNER}:root"},
            "Action": "kms:Describe*",
            "Resource": "*",
        }
    )
    _kms(sb).put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(theirs))
    assert revoked.result(timeout=30) == {"key": key, "changed": True, "left": TARGET}
    assert TARGET in _granted(sb, key)


def test_an_add_dropped_by_a_writer_outside_the_lock_is_made_again(
    sb: Sandbox, builder: api.Settings, locks: tuple[KeyLocks, KeyLocks]
) -> None:
    """Another tool writes back the copy it read before amishare's write: the read-back finds the edit lost and
    makes it again."""
    key, sessions = sb.create_key(OWNER, REGION), builder.sessions()
    older = _policy(sb, key)
    sb.clear_calls()
    share = KeyEdit(key, REGION, add=ACCESS)
    shared = _in_thread(
        lambda: edit_key_access(sessions, None, share, locks=locks[0], verify_after=1.0, confirm_after=0.5)
    )
    _wait_for_writes(sb, 1)
    _kms(sb).put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(older))  # the stale writer
    assert shared.result(timeout=30) == {"key": key, "changed": True, "rewritten": 1}
    assert TARGET in _granted(sb, key)
    assert _writes(sb) == 3  # amishare's, the stale writer's, amishare's again


def test_a_removal_undone_by_a_writer_outside_the_lock_is_made_again(
    sb: Sandbox, builder: api.Settings, locks: tuple[KeyLocks, KeyLocks]
) -> None:
    """An older copy written back after a revocation grants TARGET again: the read-back takes it away again (no
    leak)."""
    key, _, older, revoked = _revoking(sb, builder, locks[0], verify_after=1.0)
    _kms(sb).put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(older))  # the stale writer
    assert revoked.result(timeout=30) == {"key": key, "changed": True, "rewritten": 1}
    assert TARGET not in _granted(sb, key)
    assert _writes(sb) == 3


def test_an_edit_a_writer_outside_the_lock_keeps_dropping_fails_naming_the_fix(
    sb: Sandbox, builder: api.Settings, locks: tuple[KeyLocks, KeyLocks]
) -> None:
    key = sb.create_key(OWNER, REGION)
    sessions = builder.sessions()
    older = json.dumps(_policy(sb, key))
    stop = threading.Event()
    kms = _kms(sb)

    def restore() -> None:  # something that keeps writing back an older copy, every 20 ms
        while not stop.wait(0.02):
            kms.put_key_policy(KeyId=key, PolicyName="default", Policy=older)

    writer = threading.Thread(target=restore)
    writer.start()
    try:
        with pytest.raises(AwsError, match=f"lost amishare's edit {KEY_EDIT_ATTEMPTS} times in a row.*CloudTrail"):
            share = KeyEdit(key, REGION, add=ACCESS)
            edit_key_access(sessions, None, share, locks=locks[0], verify_after=0.5, confirm_after=0.5)
    finally:
        stop.set()
        writer.join()


def _revoking(
    sb: Sandbox, builder: api.Settings, locks: KeyLocks, verify_after: float
) -> tuple[str, Any, dict[str, Any], Future[dict[str, Any]]]:
    """A key whose policy grants TARGET (through ``locks``), and run A revoking it in a thread, once its write is in:
    the key, the sessions, the policy before the revocation, and A's result to come."""
    key, sessions = sb.create_key(OWNER, REGION), builder.sessions()
    edit_key_access(sessions, None, KeyEdit(key, REGION, add=ACCESS), locks=locks, verify_after=0.0)
    older = _policy(sb, key)
    sb.clear_calls()
    revoke = KeyEdit(key, REGION, remove=ACCESS)
    revoked = _in_thread(lambda: edit_key_access(sessions, None, revoke, locks=locks, verify_after=verify_after))
    _wait_for_writes(sb, 1)
    return key, sessions, older, revoked


def _in_thread(call: Callable[[], dict[str, Any]]) -> Future[dict[str, Any]]:
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(call)
    pool.shutdown(wait=False)
    return future


def _kms(sb: Sandbox) -> Any:
    return sb.session(OWNER, REGION).client("kms")


def _policy(sb: Sandbox, key: str) -> dict[str, Any]:
    return dict(json.loads(_kms(sb).get_key_policy(KeyId=key, PolicyName="default")["Policy"]))


def _granted(sb: Sandbox, key: str) -> frozenset[str]:
    return key_policy.granted(_policy(sb, key)).accounts


def _writes(sb: Sandbox) -> int:
    return len([c for c in sb.calls() if c.action == "PutKeyPolicy" and c.status < 300])


def _wait_for_writes(sb: Sandbox, count: int) -> None:
    deadline = time.monotonic() + 10
    while _writes(sb) < count:
        assert time.monotonic() < deadline, "no PutKeyPolicy came"
        time.sleep(0.01)
