"""A transfer killed with SIGKILL at several points, then resumed, ends as an uninterrupted one:
no duplicate copies, no orphaned staging images or snapshots, no forgotten revocations."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from amishare.model import TAG_STAGING
from amishare.policy import key_policy
from amishare.sandbox import demo_world

Rows = dict[str, str]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``amishare sandbox serve`` in a process of its own (the transfer is killed, not the AWS)."""
    with _serve("--copy-seconds-per-gib", "0.05") as found:
        yield found


@pytest.fixture
def served_with_long_copies(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The same, with copies that take seconds: a run still lives while another process is started beside it,
    however loaded the machine."""
    with _serve("--copy-seconds-per-gib", "0.5") as found:
        yield found


@pytest.fixture
def served_slowly(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The same, answering every request 100 ms late: a run of quick steps lasts long enough to be killed."""
    with _serve("--copy-seconds-per-gib", "0.01", "--latency-ms", "100") as found:
        yield found


@contextlib.contextmanager
def _serve(*flags: str) -> Iterator[tuple[str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "amishare", "sandbox", "serve", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    endpoint = process.stdout.readline().split(" ", 1)[1].strip()
    golden = ""
    while not golden:
        line = process.stdout.readline()
        assert line, "sandbox serve ended early"
        if line.startswith("golden image "):
            golden = line.split()[2]
    try:
        yield endpoint, golden
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _env(endpoint: str) -> dict[str, str]:
    account = demo_world.BUILDER
    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": f"AKIA{account}SBOX",
        "AWS_SECRET_ACCESS_KEY": f"sandbox-secret-{account}",
        "AWS_ENDPOINT_URL": endpoint,
    }


def _actions(journal: Path) -> Rows:
    if not journal.exists():
        return {}
    try:
        with sqlite3.connect(journal, timeout=1) as db:
            return dict(db.execute("SELECT key, state FROM actions").fetchall())
    except sqlite3.Error:
        return {}


def _client(endpoint: str, account: str, region: str, service: str) -> Any:
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=f"AKIA{account}SBOX",
        aws_secret_access_key="x",
    )


STAGING_STARTED: Callable[[Rows], bool] = lambda rows: any(  # noqa: E731
    k.startswith("stage:") and s in ("running", "succeeded") for k, s in rows.items()
)
SOME_COPIES_DONE: Callable[[Rows], bool] = lambda rows: any(  # noqa: E731
    k.startswith("await:") and s == "succeeded" for k, s in rows.items()
)
# Revocations are batched over a 0.15 s window: a revocation is "running" for at least that long.
REVOKING: Callable[[Rows], bool] = lambda rows: any(  # noqa: E731
    k.startswith("revoke:") and s == "running" for k, s in rows.items()
)


def _start_transfer(endpoint: str, golden: str, tmp_path: Path, consumers: int) -> tuple[subprocess.Popen[str], Path]:
    """``amishare transfer`` of the golden image to the first ``consumers`` demo accounts, in both regions."""
    journal = tmp_path / "journal.sqlite3"
    (tmp_path / "amishare.toml").write_text(demo_world.config_text(endpoint, str(journal)))
    command = [sys.executable, "-m", "amishare", "transfer", golden, "--from", demo_world.BUILDER]
    for number in range(1, consumers + 1):
        command += ["--to", f"consumer-{number}"]
    command += ["--regions", ",".join(demo_world.REGIONS), "--yes", "--no-progress"]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=_env(endpoint), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return process, journal


def _wait_for(journal: Path, process: subprocess.Popen[str], condition: Callable[[Rows], bool]) -> None:
    deadline = time.monotonic() + 60
    while not condition(_actions(journal)) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None, f"the run ended before the kill point: {process.communicate()}"


def _run(journal: Path) -> tuple[str, str]:
    """The one run in the journal: its id and status."""
    with sqlite3.connect(journal) as db:
        ((run_id, status),) = db.execute("SELECT run_id, status FROM runs").fetchall()
    return str(run_id), str(status)


def _amishare(endpoint: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "amishare", *args],
        cwd=cwd,
        env=_env(endpoint),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _resume(endpoint: str, tmp_path: Path, run_id: str) -> None:
    resumed = _amishare(endpoint, tmp_path, "resume", run_id, "--no-progress")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr


@pytest.mark.parametrize(
    "kill_when",
    [
        pytest.param(STAGING_STARTED, id="while-staging", marks=pytest.mark.slow),
        pytest.param(SOME_COPIES_DONE, id="after-some-copies"),
        pytest.param(REVOKING, id="during-revocation", marks=pytest.mark.slow),
    ],
)
def test_kill_9_then_resume_ends_like_an_uninterrupted_run(
    served: tuple[str, str], tmp_path: Path, kill_when: Callable[[Rows], bool]
) -> None:
    endpoint, golden = served
    process, journal = _start_transfer(endpoint, golden, tmp_path, consumers=3)
    _wait_for(journal, process, kill_when)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    rows = _actions(journal)
    assert not all(s == "succeeded" for s in rows.values())  # really interrupted
    run_id, status = _run(journal)
    assert status == "running"  # nobody could record the end
    _resume(endpoint, tmp_path, run_id)
    assert set(_actions(journal).values()) == {"succeeded"}
    for consumer in demo_world.CONSUMERS:
        for region in demo_world.REGIONS:
            images = _client(endpoint, consumer, region, "ec2").describe_images(Owners=["self"])["Images"]
            assert len(images) == 1, (consumer, region, images)  # no duplicate copy
            assert images[0]["State"] == "available"
    for region in demo_world.REGIONS:
        ec2 = _client(endpoint, demo_world.BUILDER, region, "ec2")
        staging = ec2.describe_images(Owners=["self"], Filters=[{"Name": f"tag:{TAG_STAGING}", "Values": ["true"]}])
        assert staging["Images"] == []  # no orphaned staging image
        snapshots = ec2.describe_snapshots(
            OwnerIds=["self"], Filters=[{"Name": f"tag:{TAG_STAGING}", "Values": ["true"]}]
        )["Snapshots"]
        assert snapshots == []  # nor its snapshots
        policy = json.loads(
            _client(endpoint, demo_world.BUILDER, region, "kms").get_key_policy(
                KeyId=demo_world.SHARE_KEY_ALIAS, PolicyName="default"
            )["Policy"]
        )
        assert not any(key_policy.is_amishare(s) for s in policy["Statement"])  # no forgotten revocation


@pytest.mark.slow
def test_ctrl_c_exits_at_once_and_leaves_a_resumable_run(served: tuple[str, str], tmp_path: Path) -> None:
    endpoint, golden = served
    process, journal = _start_transfer(endpoint, golden, tmp_path, consumers=2)
    # while the staging copies run: after "some copies done" the last ones could finish before the signal lands
    _wait_for(journal, process, STAGING_STARTED)
    process.send_signal(signal.SIGINT)
    started = time.monotonic()
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 130, stderr
    assert time.monotonic() - started < 5  # no waiting for copies in flight
    run_id, status = _run(journal)
    assert status == "interrupted"
    assert f"amishare resume {run_id}" in stderr  # what to type next
    _resume(endpoint, tmp_path, run_id)
    for consumer in demo_world.CONSUMERS[:2]:
        for region in demo_world.REGIONS:
            assert len(_client(endpoint, consumer, region, "ec2").describe_images(Owners=["self"])["Images"]) == 1


@pytest.mark.slow
def test_resume_is_refused_while_the_run_s_process_lives_and_taken_over_once_it_is_gone(
    served_with_long_copies: tuple[str, str], tmp_path: Path
) -> None:
    endpoint, golden = served_with_long_copies
    process, journal = _start_transfer(endpoint, golden, tmp_path, consumers=2)
    _wait_for(journal, process, STAGING_STARTED)
    run_id, _ = _run(journal)
    refused = _amishare(endpoint, tmp_path, "resume", run_id, "--no-progress")
    assert refused.returncode == 11, refused.stdout + refused.stderr
    assert f"run {run_id} is being applied by" in refused.stderr and f"pid {process.pid}" in refused.stderr
    assert process.poll() is None  # the live run goes on, undisturbed
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    shown = _amishare(endpoint, tmp_path, "runs", "show", run_id, "--output", "json")
    assert shown.returncode == 0, shown.stderr
    (record,) = json.loads(shown.stdout)["runs"]
    assert record["status"] == "interrupted"  # its process is gone: not "running" for ever
    assert "running" not in {a["state"] for a in record["actions"]}
    _resume(endpoint, tmp_path, run_id)  # the dead process's lease is taken over
    assert set(_actions(journal).values()) == {"succeeded"}


@pytest.mark.slow
def test_two_transfers_of_one_image_at_once_with_overlapping_destinations(
    served: tuple[str, str], tmp_path: Path
) -> None:
    """Two processes, two journals (as on two machines): exactly one copy per destination and region, no key
    access lost while a copy needs it, none left behind."""
    endpoint, golden = served
    runs = []
    for name, consumers in (("a", ["consumer-1", "consumer-2"]), ("b", ["consumer-2", "consumer-3"])):
        home = tmp_path / name
        home.mkdir()
        (home / "amishare.toml").write_text(demo_world.config_text(endpoint, str(home / "journal.sqlite3")))
        command = [sys.executable, "-m", "amishare", "transfer", golden, "--from", demo_world.BUILDER]
        command += [a for c in consumers for a in ("--to", c)]
        command += ["--regions", ",".join(demo_world.REGIONS), "--yes", "--no-progress"]
        runs.append(
            subprocess.Popen(
                command, cwd=home, env=_env(endpoint), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    for process in runs:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, out + err
    for consumer in demo_world.CONSUMERS[:3]:
        for region in demo_world.REGIONS:
            images = _client(endpoint, consumer, region, "ec2").describe_images(Owners=["self"])["Images"]
            assert len(images) == 1, (consumer, region, images)  # consumer-2: one copy, the other run kept it
            assert images[0]["State"] == "available"
    for region in demo_world.REGIONS:
        ec2 = _client(endpoint, demo_world.BUILDER, region, "ec2")
        staging = ec2.describe_images(Owners=["self"], Filters=[{"Name": f"tag:{TAG_STAGING}", "Values": ["true"]}])
        assert staging["Images"] == []
        kms = _client(endpoint, demo_world.BUILDER, region, "kms")
        policy = json.loads(kms.get_key_policy(KeyId=demo_world.SHARE_KEY_ALIAS, PolicyName="default")["Policy"])
        assert not any(key_policy.is_amishare(s) for s in policy["Statement"])  # no leaked key access


@pytest.mark.slow
def test_a_cleanup_killed_and_resumed_ends_like_a_clean_one(served_slowly: tuple[str, str], tmp_path: Path) -> None:
    endpoint, golden = served_slowly
    ec2 = _client(endpoint, demo_world.BUILDER, demo_world.REGION, "ec2")
    old = [
        ec2.copy_image(SourceImageId=golden, SourceRegion=demo_world.REGION, Name=f"old-{n}")["ImageId"]
        for n in range(12)
    ]
    while any(i["State"] != "available" for i in ec2.describe_images(ImageIds=old)["Images"]):
        time.sleep(0.1)
    snapshots = {
        m["Ebs"]["SnapshotId"] for i in ec2.describe_images(ImageIds=old)["Images"] for m in i["BlockDeviceMappings"]
    }
    journal = tmp_path / "journal.sqlite3"
    (tmp_path / "amishare.toml").write_text(demo_world.config_text(endpoint, str(journal)))
    process = subprocess.Popen(
        [sys.executable, "-m", "amishare", "cleanup", "--name", "old-*", "--deregister", "--keep-last", "0", "--yes"],
        cwd=tmp_path,
        env=_env(endpoint),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(
        journal, process, lambda rows: any(k.startswith("deregister:") and s == "succeeded" for k, s in rows.items())
    )
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert not all(s == "succeeded" for s in _actions(journal).values())  # really interrupted
    run_id, status = _run(journal)
    assert status == "running"
    _resume(endpoint, tmp_path, run_id)
    assert set(_actions(journal).values()) == {"succeeded"}
    left = {i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]}
    assert left == {golden}  # every old image gone, the golden one untouched
    remaining = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert not snapshots & remaining  # their snapshots with them
    again = _amishare(endpoint, tmp_path, "cleanup", "--name", "old-*", "--deregister", "--keep-last", "0", "--dry-run")
    assert again.returncode == 0 and "no image matches" in again.stdout
