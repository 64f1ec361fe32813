"""The engine broken on purpose, with its journal in DynamoDB (the local AWS in this process, amishare in processes
of their own, killed with SIGKILL at an exact call): a chunk's slice killed mid-pass is taken over by the next slice;
a CLI `resume` killed mid-pass is taken over by the next `resume`; two runs of one image with overlapping
destinations, their key policy edits held up on purpose by the shared key lock, end with one copy per destination
and region and no key statement lost or leaked, the lock's waits counted in the table."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from amishare import api
from amishare.api.converge import ConvergeRequest, plan_manifest
from amishare.api.runner import handle
from amishare.aws.dynamodb_locks import DynamoKeyLocks
from amishare.model import TAG_STAGING
from amishare.policy import key_policy
from amishare.sandbox import Sandbox
from amishare.sandbox.state import Call
from tests.integration.test_journal_backends import TABLE
from tests.integration.test_runner import _loop, engine  # noqa: F401 (the fixture)
from tests.support.world import OTHER, OWNER, REGION, REGION2, TARGET

pytestmark = pytest.mark.slow


def _env(sb: Sandbox) -> dict[str, str]:
    return {**os.environ, **sb.credentials(OWNER), "AWS_REGION": REGION}


class KillAt:
    """SIGKILL the process given to ``watch`` right after the sandbox has answered the first call ``when`` accepts."""

    def __init__(self, sb: Sandbox, action: str, when: Any) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.ready = threading.Event()
        self.killed = threading.Event()
        sb.after(action, self._kill, when=when)

    def watch(self, process: subprocess.Popen[str]) -> subprocess.Popen[str]:
        self.process = process
        self.ready.set()
        return process

    def _kill(self) -> None:
        self.ready.wait(30)
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.killed.set()


def _copy_by(account: str, region: str) -> Any:
    return lambda call, params: call.account == account and call.region == region


def _in_a_process(folder: Path, sb: Sandbox, request: dict[str, Any]) -> subprocess.Popen[str]:
    """The runner serving ``request`` in a process of its own (as another Lambda invocation would)."""
    code = "import json, sys\nfrom amishare.api.runner import handle\n"
    code += "print(json.dumps(handle(json.loads(sys.argv[1]))))"
    return subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(request)],
        cwd=folder,
        env=_env(sb),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _one_copy_each(sb: Sandbox, accounts: tuple[str, ...], regions: tuple[str, ...]) -> None:
    for account in accounts:
        for region in regions:
            images = sb.session(account, region).client("ec2").describe_images(Owners=["self"])["Images"]
            assert len(images) == 1, (account, region, images)  # the copy the killed driver asked for, once
            assert images[0]["State"] == "available"


def _nothing_left_behind(sb: Sandbox, *transferred: str) -> None:
    """No staging copy left, and no amishare key statement naming an account the image was transferred to (a share's
    statements stay: they are its access)."""
    for region in (REGION, REGION2):
        ec2 = sb.session(OWNER, region).client("ec2")
        staging = ec2.describe_images(Owners=["self"], Filters=[{"Name": f"tag:{TAG_STAGING}", "Values": ["true"]}])
        assert staging["Images"] == []
        kms = sb.session(OWNER, region).client("kms")
        policy = json.loads(kms.get_key_policy(KeyId="alias/amishare-share", PolicyName="default")["Policy"])
        mine = [json.dumps(s) for s in policy["Statement"] if key_policy.is_amishare(s)]
        assert not [s for s in mine for account in transferred if account in s]  # no key access left behind


def test_a_chunk_s_slice_killed_mid_pass_is_taken_over_by_the_next_slice(engine: Any) -> None:  # noqa: F811
    sb, folder, settings = engine
    planned = handle({"action": "plan", "manifest": str(folder / "estate.toml")}, settings)
    run_id, chunk = planned["run_id"], f"chunk:{REGION2}:0"
    assert _loop(settings, run_id, "prepare")["status"] == "done"
    killer = KillAt(sb, "ec2:CopyImage", _copy_by(OTHER, REGION2))
    died = killer.watch(_in_a_process(folder, sb, {"action": "slice", "run_id": run_id, "phase": chunk}))
    died.wait(timeout=60)
    assert killer.killed.is_set() and died.returncode == -signal.SIGKILL
    record = api.runs(settings)[0]
    assert record.status == "paused"  # nobody recorded an end
    assert _loop(settings, run_id, chunk)["status"] == "done"  # its lease's process is gone: taken over at once
    for other in planned["chunks"]:
        _loop(settings, run_id, other)
    _loop(settings, run_id, "finish")
    assert handle({"action": "report", "run_id": run_id}, settings)["status"] == "succeeded"
    _one_copy_each(sb, (OTHER,), (REGION, REGION2))
    assert plan_manifest(settings, ConvergeRequest(str(folder / "estate.toml"))).plan.actions == ()
    _nothing_left_behind(sb, OTHER)


def test_a_cli_resume_killed_mid_pass_is_taken_over_by_the_next_resume(engine: Any) -> None:  # noqa: F811
    sb, folder, settings = engine
    run_id = handle({"action": "plan", "manifest": str(folder / "estate.toml")}, settings)["run_id"]
    killer = KillAt(sb, "ec2:CopyImage", _copy_by(OTHER, REGION))
    command = [sys.executable, "-m", "amishare", "resume", run_id, "--no-progress"]
    died = killer.watch(subprocess.Popen(command, cwd=folder, env=_env(sb), text=True, stdout=subprocess.PIPE))
    died.communicate(timeout=60)
    assert killer.killed.is_set() and died.returncode == -signal.SIGKILL
    again = subprocess.run(command, cwd=folder, env=_env(sb), capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    shown = subprocess.run(
        [sys.executable, "-m", "amishare", "runs", "show", run_id, "--output", "json"],
        cwd=folder,
        env=_env(sb),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    (record,) = json.loads(shown.stdout)["runs"]
    assert record["status"] == "succeeded" and {a["state"] for a in record["actions"]} == {"succeeded"}
    _one_copy_each(sb, (OTHER,), (REGION, REGION2))
    _nothing_left_behind(sb, OTHER)


def _transfer(sb: Sandbox, folder: Path, image: str, *accounts: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "amishare", "transfer", image, "--from", OWNER]
    command += [a for t in accounts for a in ("--to", t)]
    command += ["--regions", f"{REGION},{REGION2}", "--yes", "--no-progress"]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    return subprocess.Popen(command, cwd=folder, env=_env(sb), text=True, **pipes)  # type: ignore[call-overload]


def test_two_runs_of_one_image_wait_for_the_shared_key_lock_and_end_with_one_copy_each(engine: Any) -> None:  # noqa: F811
    sb, folder, settings = engine
    image = sb.session(OWNER, REGION).client("ssm").get_parameter(Name="/golden/base")["Parameter"]["Value"]
    key = sb.session(OWNER, REGION).client("kms").describe_key(KeyId="alias/amishare-share")["KeyMetadata"]["Arn"]
    locks = DynamoKeyLocks(sb.session(OWNER, REGION).client("dynamodb"), TABLE)
    with locks.hold(key):  # another machine edits the key's policy: both runs must wait for it
        runs = [_transfer(sb, folder, image, TARGET, OTHER), _transfer(sb, folder, image, OTHER)]
        deadline = time.monotonic() + 60
        while locks.waits(key) < 2 and time.monotonic() < deadline and all(r.poll() is None for r in runs):
            time.sleep(0.05)
        assert locks.waits(key) >= 2, [r.communicate() for r in runs]  # both held up, counted in the table
        assert not [c for c in sb.calls() if c.action == "PutKeyPolicy" and c.region == REGION and _ok(c)]
    for process in runs:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, out + err
    _one_copy_each(sb, (TARGET, OTHER), (REGION, REGION2))
    _nothing_left_behind(sb, TARGET, OTHER)
    assert len(api.runs(settings)) == 2


def _ok(call: Call) -> bool:
    return call.status < 300
