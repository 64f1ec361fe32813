"""A run in slices (issue 18's engine seam): each slice applies until its budget is spent and pauses with
everything journaled; the next slice, in another process, continues it. A transfer run in short slices ends as
one run would: every destination owns exactly one copy, the staging copies are gone, nothing is left shared."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from amishare import api
from amishare.sandbox import Sandbox
from tests.support.world import OTHER, OWNER, REGION, REGION2, TARGET, two_destinations


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    with Sandbox(copy_seconds_per_gib=0.15) as sb:  # an 8 GiB copy takes 1.2 s: longer than a slice
        sb.reset()
        two_destinations(sb, tmp_path, str(tmp_path / "journal.sqlite3"))
        image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key="aws/ebs")
        for name, value in sb.credentials(OWNER).items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        yield sb, image, tmp_path, api.settings(cwd=tmp_path)


def _next_slice(folder: Path, run_id: str, budget: float) -> dict[str, Any]:
    """One more slice of the run, in a process of its own (as another Lambda invocation would be)."""
    code = (
        "import json, sys; from pathlib import Path; from amishare import api\n"
        f"outcome = api.resume(api.settings(cwd=Path({str(folder)!r})), {run_id!r}, budget={budget})\n"
        "print(json.dumps({'status': outcome.result.status, 'wake_in': outcome.result.wake_in}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, env=os.environ, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.slow
def test_a_transfer_run_in_slices_ends_as_one_run_would(world: Any) -> None:
    sb, image, folder, settings = world
    request = api.TransferRequest(image, (TARGET, OTHER), source=OWNER, regions=(REGION, REGION2))
    plan = api.plan_transfer(settings, request)
    first = api.apply(settings, plan, budget=0.5)
    assert first.result is not None and first.result.status == "paused"
    slices, status, wake_in = 1, "paused", first.result.wake_in or 0.0
    while status == "paused":
        assert slices < 40, "the run does not end"
        time.sleep(min(wake_in, 2.0))  # as the state machine's Wait state would, between two slices
        answer = _next_slice(folder, first.result.run_id, budget=2.0)  # a slice must outlast a poll (docs/engine.md)
        status, wake_in = answer["status"], answer["wake_in"] or 0.0
        slices += 1
    assert status == "succeeded" and slices >= 2
    for account in (TARGET, OTHER):
        for region in (REGION, REGION2):
            owned = sb.session(account, region).client("ec2").describe_images(Owners=["self"])["Images"]
            assert len(owned) == 1, (account, region, owned)  # a copy re-entered by a later slice is not made twice
    staging = (
        sb.session(OWNER, REGION2)
        .client("ec2")
        .describe_images(Owners=["self"], Filters=[{"Name": "tag:amishare:staging", "Values": ["true"]}])["Images"]
    )
    assert staging == []
    record = api.run(settings, first.result.run_id)
    assert record.status == "succeeded"


@pytest.mark.slow
def test_resume_for_a_duration_is_one_slice_on_the_command_line(world: Any) -> None:
    from click.testing import CliRunner

    from amishare.cli.main import cli

    _, image, _, settings = world
    request = api.TransferRequest(image, (TARGET, OTHER), source=OWNER, regions=(REGION, REGION2))
    first = api.apply(settings, api.plan_transfer(settings, request), budget=0.2)
    assert first.result is not None and first.result.paused
    runner = CliRunner()
    sliced = runner.invoke(cli, ["resume", first.result.run_id, "--for", "1s", "--no-progress"])
    assert sliced.exit_code == 0, sliced.output
    assert "paused" in sliced.output and f"`amishare resume {first.result.run_id}` goes on" in sliced.output
    assert "pending: the next slice goes on" in sliced.output
    whole = runner.invoke(cli, ["resume", first.result.run_id, "--no-progress"])
    assert whole.exit_code == 0 and "succeeded: 4 of 4 copies owned by their destinations" in whole.output
