"""The journal's two backends behind one interface: SQLite (one machine) and a DynamoDB table (every machine,
through the local AWS). The same contract for both: a run and its plan recorded before the first AWS call, action
states, the newest runs first, one live holder per run; and for DynamoDB the fencing that keeps a runner whose
lease was taken over from writing, and runs that a second process lists, shows and resumes."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from amishare import api
from amishare.aws.dynamodb_journal import DynamoJournal
from amishare.engine.journal import Journal
from amishare.engine.kinds.gates import ShareImage
from amishare.engine.plan import Plan
from amishare.errors import JournalError, RunBusy
from amishare.sandbox import Sandbox
from tests.support.world import OTHER, OWNER, REGION, REGION2, TARGET, two_destinations

TABLE = "amishare-runs"
URL = f"dynamodb://{TABLE}"


def create_table(sb: Sandbox) -> None:
    sb.session(OWNER, REGION).client("dynamodb").create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture(params=["sqlite", "dynamodb"])
def journal(request: Any, sb: Sandbox, builder: api.Settings, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        log: Any = Journal(tmp_path / "journal.sqlite3")
    else:
        create_table(sb)
        log = DynamoJournal(builder.sessions(), URL, REGION)
    yield log
    log.close()


def _plan(count: int = 3) -> Plan:
    actions = tuple(
        ShareImage(key=f"share:{n}", account=OWNER, region=REGION, image="ami-1", accounts=(TARGET,))
        for n in range(count)
    )
    return Plan("share", OWNER, REGION, "ami-1", (), actions, "ami-1")


def _at(minute: int) -> dt.datetime:
    return dt.datetime(2026, 12, 2, 9, minute, tzinfo=dt.UTC)


def test_a_run_is_recorded_with_its_plan_and_its_actions_states(journal: Any) -> None:
    plan = _plan()
    journal.start("run-1", plan, _at(0))
    first, second, _ = plan.actions
    journal.action_started("run-1", first, _at(1))
    journal.action_finished("run-1", first, "succeeded", _at(2), {"image_id": "ami-2"})
    journal.action_started("run-1", second, _at(1))
    journal.action_finished("run-1", second, "failed", _at(3), error="boom")
    journal.finish("run-1", "partial", _at(4))
    record = journal.run("run-1")
    assert (record.status, record.command, record.finished_at) == ("partial", "share", _at(4).isoformat())
    assert Plan.from_dict(record.plan).actions == plan.actions
    assert [(a.key, a.state) for a in record.actions] == [
        ("share:0", "succeeded"),
        ("share:1", "failed"),
        ("share:2", "pending"),
    ]
    assert record.actions[0].output == {"image_id": "ami-2"} and record.actions[1].error == "boom"


def test_runs_are_listed_newest_first_and_an_unknown_run_is_named(journal: Any) -> None:
    for n in range(3):
        journal.start(f"run-{n}", _plan(1), _at(n))
        journal.finish(f"run-{n}", "succeeded", _at(n))
    assert [r.run_id for r in journal.runs(2)] == ["run-2", "run-1"]
    with pytest.raises(JournalError, match=r"no run 'nope'.*run-2"):
        journal.run("nope")


def test_a_big_plan_is_kept_whole(journal: Any) -> None:
    plan = _plan(2000)  # ~1 MB of JSON: more than a DynamoDB item holds
    journal.start("run-big", plan, _at(0))
    journal.finish("run-big", "succeeded", _at(1))
    assert len(Plan.from_dict(journal.run("run-big").plan).actions) == 2000


def _held_elsewhere(sb: Sandbox, name: str, heartbeat: float, token: int = 1) -> None:
    """Another machine's process holds ``name`` (its heartbeat at ``heartbeat``; ``run@phase``: a phase's lease)."""
    run, _, phase = name.partition("@")
    sb.session(OWNER, REGION).client("dynamodb").put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": f"lease#{run}"},
            "sk": {"S": f"lease@{phase}" if phase else "lease"},
            "owner": {"S": "ci@runner-7"},
            "host": {"S": "runner-7"},
            "pid": {"N": "4242"},
            "heartbeat": {"N": repr(heartbeat)},
            "token": {"N": str(token)},
            "released": {"BOOL": False},
        },
    )


def test_a_live_holder_elsewhere_keeps_the_run_and_a_stale_one_is_taken_over(
    sb: Sandbox, builder: api.Settings
) -> None:
    import time

    create_table(sb)
    log = DynamoJournal(builder.sessions(), URL, REGION)
    try:
        _held_elsewhere(sb, "run-1", time.time())
        with pytest.raises(RunBusy, match="ci@runner-7"):
            log.leases.acquire("run-1")
        _held_elsewhere(sb, "run-1", time.time() - 3600)  # frozen an hour: stale
        log.leases.acquire("run-1")
        assert log.leases.holder("run-1") is not None and log.leases.holder("run-1").host != "runner-7"  # type: ignore[union-attr]
    finally:
        log.close()


def _live_elsewhere(journal: Any, sb: Sandbox, name: str) -> None:
    """A live process of another machine holds the lease ``name`` in ``journal``."""
    import time

    if isinstance(journal, DynamoJournal):
        _held_elsewhere(sb, name, time.time())
        return
    with sqlite3.connect(journal.path) as db:
        db.execute("INSERT INTO leases VALUES (?, 'ci@runner-7', 'runner-7', 4242, ?)", (name, time.time()))


def test_a_run_is_driven_whole_or_phase_by_phase_never_both_and_its_phases_at_once(journal: Any, sb: Sandbox) -> None:
    _live_elsewhere(journal, sb, "run-1@chunk:eu-west-1:0")
    with pytest.raises(RunBusy, match="ci@runner-7"):
        journal.leases.acquire("run-1")  # a resume of the whole run while a chunk is driven elsewhere
    journal.leases.acquire("run-1@chunk:us-east-1:0")  # another chunk of the same run: at once
    with pytest.raises(RunBusy, match="ci@runner-7"):
        journal.leases.acquire("run-1@chunk:eu-west-1:0")
    _live_elsewhere(journal, sb, "run-2")
    with pytest.raises(RunBusy, match="ci@runner-7"):
        journal.leases.acquire("run-2@prepare")  # a phase while the whole run is driven elsewhere
    assert journal.leases.holder("run-2@prepare") is None  # refused: nothing left held
    journal.leases.acquire("run-3@prepare")  # another run's: unaffected
    journal.leases.release("run-3@prepare")
    journal.leases.acquire("run-3")


def test_a_runner_whose_lease_was_taken_over_cannot_write(sb: Sandbox, builder: api.Settings) -> None:
    create_table(sb)
    log = DynamoJournal(builder.sessions(), URL, REGION)
    try:
        plan = _plan(1)
        log.start("run-1", plan, _at(0))
        # meanwhile this process froze; another machine took the lease over (token 2)
        _held_elsewhere(sb, "run-1", 1e12, token=2)
        log.action_finished("run-1", plan.actions[0], "succeeded", _at(1))
        with pytest.raises(JournalError, match="no longer holds the run's lease"):
            log.flush()
        item = (
            sb.session(OWNER, REGION)
            .client("dynamodb")
            .get_item(TableName=TABLE, Key={"pk": {"S": "run#run-1"}, "sk": {"S": "action#000000"}})["Item"]
        )
        assert item["state"]["S"] == "pending"  # the successor's record stands
    finally:
        log.leases._held.clear()  # it is not ours any more: nothing to release
        log.close()


@pytest.mark.slow
def test_a_transfer_journaled_in_dynamodb_is_listed_shown_and_resumed_by_another_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Sandbox(copy_seconds_per_gib=0.15) as sb:
        sb.reset()
        create_table(sb)
        two_destinations(sb, tmp_path, URL)
        image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key="aws/ebs")
        for name, value in sb.credentials(OWNER).items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        settings = api.settings(cwd=tmp_path)
        assert settings.journal_location == URL
        request = api.TransferRequest(image, (TARGET, OTHER), source=OWNER, regions=(REGION, REGION2))
        first = api.apply(settings, api.plan_transfer(settings, request), budget=0.5)
        assert first.result is not None and first.result.paused

        def amishare(*args: str) -> str:
            done = subprocess.run(
                [sys.executable, "-m", "amishare", *args],
                check=False,
                capture_output=True,
                text=True,
                env=os.environ,
                cwd=tmp_path,
                timeout=300,
            )
            assert done.returncode == 0, done.stderr
            return done.stdout

        listed = json.loads(amishare("runs", "--output", "json"))
        assert listed["runs"][0]["run_id"] == first.result.run_id and listed["runs"][0]["status"] == "paused"
        amishare("resume", first.result.run_id, "--no-progress")  # another process, as another machine would
        shown = json.loads(amishare("runs", "show", first.result.run_id, "--output", "json"))
        assert shown["runs"][0]["status"] == "succeeded"
        for account in (TARGET, OTHER):
            for region in (REGION, REGION2):
                owned = sb.session(account, region).client("ec2").describe_images(Owners=["self"])["Images"]
                assert len(owned) == 1


def test_the_key_lock_in_the_table_admits_one_writer_across_processes_and_counts_the_waits(
    sb: Sandbox, builder: api.Settings
) -> None:
    """Two runners (threads here, each with its own lock object as another machine would have) edit one key's
    policy: never both at once, and the contention is counted in the journal's table."""
    import threading
    import time

    from amishare.aws.dynamodb_locks import DynamoKeyLocks

    create_table(sb)
    key = f"arn:aws:kms:{REGION}:{OWNER}:key/11111111-2222-3333-4444-555555555555"
    client = builder.sessions().client("dynamodb", REGION)
    runners = [DynamoKeyLocks(client, TABLE), DynamoKeyLocks(client, TABLE)]
    inside: list[int] = []
    overlaps: list[tuple[int, int]] = []

    def edit(n: int) -> None:
        for _ in range(3):
            with runners[n % 2].hold(key):
                overlaps.extend((n, other) for other in inside)
                inside.append(n)
                time.sleep(0.05)
                inside.remove(n)

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []
    assert runners[0].waits(key) > 0  # the contention is in the journal


def test_a_key_lock_whose_holder_died_is_taken_after_its_ttl(sb: Sandbox, builder: api.Settings) -> None:
    from amishare.aws.dynamodb_locks import DynamoKeyLocks

    create_table(sb)
    key = f"arn:aws:kms:{REGION}:{OWNER}:key/11111111-2222-3333-4444-555555555555"
    client = builder.sessions().client("dynamodb", REGION)
    now = [1000.0]
    dead = DynamoKeyLocks(client, TABLE, ttl=30.0, clock=lambda: now[0])
    assert dead._take(key, "dead-runner")  # took the lock, then died without letting go
    alive = DynamoKeyLocks(client, TABLE, ttl=30.0, clock=lambda: now[0])
    assert not alive._take(key, "alive-runner")
    now[0] += 31.0
    with alive.hold(key):
        pass


def test_a_key_lock_held_by_a_process_of_this_host_that_is_gone_is_taken_at_once(
    sb: Sandbox, builder: api.Settings
) -> None:
    """A command killed while it held the key's lock and run again on the same machine goes on at once (as it takes
    over the run's lease), not after the lock's ttl; a holder on another machine, or alive here, keeps it."""
    import os
    import socket
    import subprocess
    import sys

    from amishare.aws.dynamodb_locks import DynamoKeyLocks

    create_table(sb)
    key = f"arn:aws:kms:{REGION}:{OWNER}:key/11111111-2222-3333-4444-555555555555"
    client = builder.sessions().client("dynamodb", REGION)
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    now = [1000.0]
    locks = DynamoKeyLocks(client, TABLE, ttl=30.0, clock=lambda: now[0])
    host = socket.gethostname()
    for holder, taken in [
        (f"someone@another-host:{finished.pid}:1", False),  # another machine's: only its ttl lets go
        (f"someone@{host}:{os.getpid()}:1", False),  # alive here
        (f"someone@{host}:{finished.pid}:1", True),  # gone from this host
    ]:
        client.delete_item(TableName=TABLE, Key=locks._key(key))
        assert locks._take(key, holder)
        assert (locks._take_from_the_dead(key, "me") is not None) is taken, holder
        item = client.get_item(TableName=TABLE, Key=locks._key(key), ConsistentRead=True)["Item"]
        assert item["holder"]["S"] == ("me" if taken else holder)
