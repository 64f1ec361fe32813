"""What a run says while it runs (issue 19, item 4): ``-v``/``--debug`` show each AWS call with its request id,
a piped run prints timestamped lines and a heartbeat, ``--output json`` streams JSON lines on stderr, and
``resume`` shows its run as ``transfer`` does."""

from __future__ import annotations

import io
import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from amishare import api
from amishare.cli.main import cli
from amishare.cli.progress import ProgressView
from amishare.engine.action import Action, ActionKind
from amishare.engine.plan import Plan
from amishare.sandbox import Sandbox
from tests.support.world import OTHER, OWNER, REGION, TARGET

STAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ")
CALL = re.compile(
    r"aws (?P<service>[a-z0-9-]+)\.(?P<operation>\w+) account=(?P<account>\w+) region=(?P<region>[\w-]+) "
    r"status=(?P<status>\d+)(?: \S+)? request_id=(?P<request_id>\S+) retries=(?P<retries>\d+) "
    r"duration=(?P<duration>[\d.]+)s step=(?P<step>\w+)"
)


@pytest.fixture
def estate(tmp_path: Path) -> Iterator[tuple[Sandbox, str, dict[str, str]]]:
    """A sandbox whose copies take a moment, an aws/ebs image of OWNER's, two destinations with roles and keys,
    and amishare.toml naming them; the environment a user of the command line has."""
    with Sandbox(copy_seconds_per_gib=0.05) as sb:
        sb.reset()
        sb.create_key(OWNER, REGION, alias="amishare-share")
        for account in (TARGET, OTHER):
            sb.create_role(account, "AmiShareRole", trusted_account=OWNER)
            sb.create_key(account, REGION, alias="mine")
        image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key="aws/ebs")
        (tmp_path / "amishare.toml").write_text(
            f'[defaults]\nregion = "{REGION}"\nshare_key = "alias/amishare-share"\nrole_name = "AmiShareRole"\n'
            f'endpoint_url = "{sb.endpoint_url}"\njournal = "{tmp_path / "journal.sqlite3"}"\n'
            f'[transfer]\nsource = "{OWNER}"\n'
            f'[accounts.dev]\nid = "{TARGET}"\nkeys = {{ {REGION} = "alias/mine" }}\n'
            f'[accounts.qa]\nid = "{OTHER}"\nkeys = {{ {REGION} = "alias/mine" }}\n'
        )
        env = {**sb.credentials(OWNER), "AWS_REGION": REGION}
        yield sb, image, env


def _run(env: dict[str, str], tmp_path: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--config", str(tmp_path / "amishare.toml"), *args], env=env)


def test_debug_shows_every_aws_call_of_a_share_with_its_request_id(estate: Any, tmp_path: Path) -> None:
    sb, _, env = estate
    image = sb.seed_image(OWNER, REGION, "app", kms_key=sb.create_key(OWNER, REGION, alias="app"))
    sb.clear_calls()
    result = _run(env, tmp_path, "--debug", "share", image, "--to", TARGET, "--yes")
    assert result.exit_code == 0, result.output
    calls = [m for m in map(CALL.search, result.stderr.splitlines()) if m]
    # every call the sandbox served, and no other, is on stderr: service, operation, account, region, status ...
    served = Counter((c.service, c.action, c.account) for c in sb.calls())
    # the caller's account is "caller" until its GetCallerIdentity has answered
    logged = Counter((m["service"], m["operation"], OWNER if m["account"] == "caller" else m["account"]) for m in calls)
    assert logged == served
    assert {m["region"] for m in calls} == {REGION} and {m["status"] for m in calls} == {"200"}
    assert all(re.fullmatch(r"[0-9a-f-]{36}", m["request_id"]) for m in calls)  # AWS's request id, as answered
    assert len({m["request_id"] for m in calls}) == len(calls)
    steps = {m["operation"]: m["step"] for m in calls}
    assert steps["ModifyImageAttribute"] == "ShareImage" and steps["DescribeImages"] == "observe"
    # --debug: each call's parameters too; -v: the calls without them; neither: nothing
    assert any('params={"ImageId": "' + image in line for line in result.stderr.splitlines())
    verbose = _run(env, tmp_path, "show", image, "-v")
    assert verbose.exit_code == 0 and CALL.search(verbose.stderr) and "params=" not in verbose.stderr
    assert not CALL.search(_run(env, tmp_path, "show", image).stderr)


def test_a_call_that_fails_is_logged_with_its_error_code(estate: Any, tmp_path: Path) -> None:
    _, _, env = estate
    result = _run(env, tmp_path, "-v", "show", "ami-0123456789abcdef0")
    assert result.exit_code == 6, result.output
    (failed,) = [line for line in result.stderr.splitlines() if "DescribeImages" in line]
    assert "status=400 InvalidAMIID.NotFound request_id=" in failed


@pytest.mark.slow
def test_a_piped_transfer_prints_timestamped_lines(estate: Any, tmp_path: Path) -> None:
    _, image, env = estate
    result = _run(env, tmp_path, "transfer", image, "--to", "dev,qa", "--yes")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines and all(STAMPED.match(line) for line in lines), lines
    assert any(f"[ok] dev copies it in {REGION}" in line for line in lines), lines
    assert "succeeded: 2 of 2 copies" in result.stdout  # the result on stdout, as before


@pytest.mark.slow
def test_output_json_streams_progress_events_on_stderr(estate: Any, tmp_path: Path) -> None:
    _, image, env = estate
    result = _run(env, tmp_path, "--output", "json", "-v", "transfer", image, "--to", "dev", "--yes")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "succeeded"  # stdout: the one document
    events = [json.loads(line) for line in result.stderr.splitlines()]  # stderr: every line is JSON
    assert {e["schema"] for e in events} == {"amishare.progress/1"}
    assert all(STAMPED.match(e["time"] + " ") for e in events)
    kinds = Counter(e["event"] for e in events)
    assert kinds["run"] == 1 and kinds["action"] > 0 and kinds["aws-call"] > 0 and kinds["poll"] > 0
    copies = [e for e in events if e["event"] == "action" and e["kind"] == "CopyToDestination"]
    assert [e["state"] for e in copies] == ["running", "succeeded"] and copies[1]["detail"].startswith("ami-")
    assert all(set(e) >= {"key", "kind", "account", "region", "state", "detail", "summary"} for e in copies)
    call = next(e for e in events if e["event"] == "aws-call")
    assert set(call) >= {"service", "operation", "account", "region", "status", "request_id", "retries", "duration"}


@pytest.mark.slow
def test_resume_shows_its_run_as_transfer_does(estate: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 19: ``resume`` showed nothing until the copies finished."""
    _, image, env = estate
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = api.settings(api.Flags(config_path=str(tmp_path / "amishare.toml")), cwd=tmp_path)

    def interrupt(action: Action, state: str, detail: str | None) -> None:
        if action.kind is ActionKind.COPY_TO_DESTINATION and state == "succeeded":
            raise KeyboardInterrupt  # Ctrl-C while the copies are under way

    request = api.TransferRequest(image, ("dev", "qa"))
    with pytest.raises(KeyboardInterrupt) as interrupted:
        api.transfer(settings, request, hooks=api.Hooks(confirm=lambda plan: True, on_event=interrupt))
    run_id = interrupted.value.run_id  # type: ignore[attr-defined]
    resumed = _run(env, tmp_path, "resume", run_id)
    assert resumed.exit_code == 0, resumed.output
    lines = resumed.stderr.splitlines()
    assert lines and all(STAMPED.match(line) for line in lines), lines
    assert any(f"[ok] wait for qa's copy in {REGION}" in line for line in lines), lines


def _plan() -> Plan:
    from amishare.engine.kinds.copies import AwaitImage

    wait = AwaitImage(key="await:1", account=TARGET, region=REGION, image="ami-1")
    return Plan("transfer", OWNER, REGION, "ami-1", (), (wait,), subject="ami-1")


def test_a_quiet_wait_gets_a_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI systems kill a job silent for too long: a line says what is under way when nothing else was said."""
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    view = ProgressView(live=False, quiet=False, stamp=True, heartbeat=0.2)
    plan = _plan()
    view.start(plan)
    view.event(plan.actions[0], "running", None)
    view.event(plan.actions[0], "progress", "40%")
    time.sleep(0.9)
    view.stop()
    lines = err.getvalue().splitlines()
    beats = [line for line in lines if "still running" in line]
    assert beats and all(STAMPED.match(line) for line in lines), lines
    assert f"AwaitImage {TARGET} {REGION} 40%" in beats[0] and "1 under way" in beats[0]


def test_the_heartbeat_is_a_json_line_with_output_json(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    view = ProgressView(live=False, quiet=False, as_json=True, heartbeat=0.2)
    plan = _plan()
    view.start(plan)
    view.event(plan.actions[0], "running", None)
    time.sleep(0.9)
    view.stop()
    events = [json.loads(line) for line in err.getvalue().splitlines()]
    beat = next(e for e in events if e["event"] == "heartbeat")
    assert beat["under_way"][0]["key"] == "await:1" and beat["finished"] == 0


def test_every_command_takes_v_and_debug_those_without_connection_options_too(tmp_path: Path) -> None:
    """Issue 19 (item 4): ``-v`` and ``--debug`` were refused by the commands that make no AWS call of their own
    (``amishare iam -v``: "No such option"); every command takes them now, before or after its name, and
    ``--debug`` says first which amishare runs what (as the AWS CLI's does)."""
    import click

    from amishare.cli.main import COMMANDS

    context = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(context, name)
        assert command is not None
        leaves = command.commands.values() if isinstance(command, click.Group) else [command]
        for leaf in leaves:
            assert {"verbose", "debug"} <= {p.name for p in leaf.params}, (name, leaf.name)
    manifest = tmp_path / "estate.toml"
    manifest.write_text(
        'version = 1\n[defaults]\nsource = "111111111111"\nregions = ["us-east-1"]\n[[image]]\nfamily = "f"\n'
        'select = { ssm_parameter = "/f" }\n  [[image.distribute]]\n  to = ["222222222222"]\n  mode = "share"\n'
    )
    for args in (
        ["--debug", "iam", "--role", "source"],
        ["iam", "--role", "source", "-v"],
        ["bootstrap", "--out", str(tmp_path / "stacks"), "--debug"],
        ["-v", "manifest", "validate", "-f", str(manifest)],
        ["manifest", "validate", "-f", str(manifest), "--debug", "--output", "json"],
    ):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, (args, result.output)
        if "--debug" in args and "json" in args:
            (event,) = [json.loads(line) for line in result.stderr.splitlines()]
            assert (event["event"], event["level"]) == ("log", "debug") and "manifest validate" in event["message"]
        elif "--debug" in args:
            assert re.search(r"^\S+Z debug: amishare \w+: amishare \S+, Python ", result.stderr, re.M), result.stderr
        else:
            assert "debug:" not in result.stderr  # -v: the AWS calls (none here), not the DEBUG records


@pytest.mark.slow
def test_a_re_encryption_and_a_staging_copy_show_their_progress(estate: Any, tmp_path: Path) -> None:
    """Issue 19: share's wait for its re-encrypted copy and transfer's for its staging copy said nothing until
    they ended (the poller read a copy's progress only for the live table). Whoever reads the progress (lines,
    JSON lines, the live table) now gets every wait's."""
    sb, image, env = estate
    sb.settings.copy_seconds_per_gib = 0.3  # 8 GiB: 2.4 s, a few polls
    shared = _run(env, tmp_path, "share", image, "--to", TARGET, "--yes")
    assert shared.exit_code == 0, shared.output
    waited = rf"^\S+Z \[\.\.\] wait for the re-encrypted copy of {image} to be available: \d+%$"
    assert re.search(waited, shared.stderr, re.M), shared.stderr
    golden = sb.seed_image(OWNER, REGION, "golden-2", volumes_gib=[8], kms_key="aws/ebs")
    moved = _run(env, tmp_path, "--output", "json", "transfer", golden, "--to", "dev", "--yes")
    assert moved.exit_code == 0, moved.output
    events = [json.loads(line) for line in moved.stderr.splitlines()]
    staging = [
        e["detail"]
        for e in events
        if e["event"] == "action" and e["state"] == "progress" and "staging copy" in e["summary"]
    ]
    assert staging and all(re.fullmatch(r"\d+%", d) for d in staging), events


def test_the_live_table_shows_a_wait_outside_the_destinations_rows() -> None:
    """On a terminal, the staging copy's wait (in the source account: no destination row) is under the table."""
    from amishare.engine.kinds.copies import AwaitImage, CopyToDestination

    copy = CopyToDestination(
        key="copy:1", account=TARGET, region=REGION, source_image="@stage", source_region=REGION, name="g",
        description="",
    )  # fmt: skip
    staging = AwaitImage(key="await:stage", account=OWNER, region=REGION, image="@stage", label="the staging copy")
    plan = Plan("transfer", OWNER, REGION, "ami-1", (), (staging, copy), subject="ami-1")
    view = ProgressView(live=False, quiet=False, columns=80)
    view.track(plan)
    view.event(staging, "running", None)
    view.event(staging, "progress", "45%")
    assert "[..] wait for the staging copy: 45%" in str(view._table().caption)
    view.event(staging, "succeeded", "ami-0123456789abcdef0")
    assert "45%" not in str(view._table().caption or "")
