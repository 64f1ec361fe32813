"""The command line: version, help, demo and sandbox serve, run as a user runs them."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from amishare import __version__


def _amishare(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "amishare", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_version_and_help() -> None:
    result = _amishare("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"amishare, version {__version__}"
    result = _amishare("--help")
    assert result.returncode == 0
    assert "demo" in result.stdout and "sandbox" in result.stdout
    assert _amishare("sandbox", "serve", "--help").returncode == 0


def test_unknown_command_is_a_usage_error() -> None:
    result = _amishare("no-such-command")
    assert result.returncode == 2
    assert "No such command" in result.stderr


@pytest.mark.slow
def test_demo_runs_on_the_embedded_sandbox(tmp_path: Path) -> None:
    """The README's quick start ends with ``amishare demo``: in a real terminal of 80 columns (tmux, when the
    machine has it; piped otherwise), as a newcomer runs it. Issue 19: at 80 columns its tables and headings cut
    account ids (``4444444…``) and commands; now no id is cut and every command it shows parses."""
    from tests.support import tmux
    from tests.support.printed import broken_commands, cut_ids

    if tmux.AVAILABLE:
        screen = tmux.run(["demo"], {}, tmp_path, columns=80, timeout=300)
        assert screen.exit_code == 0, screen.text
        assert all(len(row) <= 80 for row in screen.rows)
        assert cut_ids(screen.rows) == [], screen.text
        assert broken_commands(screen.lines, tmp_path) == [], screen.text
        shown = screen.text
    else:
        result = _amishare("demo", timeout=180)  # ~65 s on 2 shared cores (chapter 15, the engine: ~20 s)
        assert result.returncode == 0, result.stderr
        shown = result.stdout
    text = " ".join(shown.split())
    assert "encrypted with aws/ebs, which cannot be shared" in text
    assert "222222222222: can copy" in text and "333333333333: can copy" in text
    assert "444444444444: cannot copy: InvalidAMIID.NotFound" in text
    assert "222222222222: cannot copy: InvalidRequest" in text  # after the revoke
    assert "No changes: every gate is already open for consumer-2 (333333333333)" in text
    assert "succeeded: 6 of 6 copies owned by their destinations" in text  # the transfer story
    assert "refused (exit 9): 1 problem(s) in the destinations; nothing was changed" in text  # the preflight
    assert "444444444444: cannot assume arn:aws:iam::444444444444:role/" in text
    assert "changes made meanwhile, from the sandbox's call log: 0" in text
    assert "AWS_MANAGED_KEY" in text and "1 of 2 image(s) pass" in text  # verify: golden fails, its copy passes
    # distribution as code: applied, applied again without a call, drift found, converged but for the outsider
    assert "No changes: the estate is as the manifest declares. mutating calls made: 0" in text
    assert "Drift: 2 finding(s) (1 stale-parameter, 1 unmanaged-share)" in text
    assert "Drift: 1 finding(s) (1 unmanaged-share)" in text
    # the serverless engine: the next version published starts one execution, named after its event, that goes
    # plan, prepare, the chunks side by side, finish, report; the estate converged; the event again starts none
    engine = text[text.index("15. The serverless engine") : text.index("16. What it all needed")]
    started = re.search(r"executions of amishare-engine: 1 (\S+) \(the event's id\): SUCCEEDED", engine)
    assert started, engine
    path = engine[engine.index("15b.") : engine.index("15c.")]
    states = [path.index(f" {state} ") for state in ("Plan", "Prepare", "Chunks", "Left", "Finish", "Report")]
    assert states == sorted(states) and "Converged the execution SUCCEEDED in" in path, path
    fleet = "333333333333, 555555555555"  # consumer-2 and consumer-3: each owns its copy (transfer)
    for chunk in ("chunk:eu-west-1:0", "chunk:us-east-1:0"):
        assert re.search(rf"{chunk}: \d+ slices?(, \d+ waits?)?, SUCCEEDED: \d+ actions for {fleet}", path), path
    assert re.search(r"succeeded: (\d+) of \1 actions succeeded", path), path
    assert re.search(r"15c\. `amishare runs --journal dynamodb://amishare-engine` .* \S+ apply succeeded ami-", engine)
    assert "No changes: the estate is as the manifest declares." in engine[engine.index("15d.") : engine.index("15e.")]
    assert f"deliveries of {started[1]}: 2; executions they started: 1" in engine and "Executions: 1;" in engine
    assert "the runner answers duplicate" in engine


@pytest.mark.slow
def test_sandbox_serve_prints_endpoint_first_then_credentials_and_serves() -> None:
    import boto3

    process = subprocess.Popen(
        [sys.executable, "-m", "amishare", "sandbox", "serve", "--latency-ms", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert first.startswith("endpoint: http://127.0.0.1:")
        endpoint = first.split(" ", 1)[1]
        lines = [process.stdout.readline().strip() for _ in range(4)]
        assert all(line.startswith("account ") and "AWS_ACCESS_KEY_ID=" in line for line in lines)
        exports = dict(part.split("=", 1) for part in lines[0].split("export ", 1)[1].split())
        assert exports["AWS_ENDPOINT_URL"] == endpoint
        ec2 = boto3.client(
            "ec2",
            region_name="us-east-1",
            endpoint_url=endpoint,
            aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
        )
        images = ec2.describe_images(Owners=["self"])["Images"]
        assert [i["Name"] for i in images] == ["golden-al2023-2026.11.22"]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    assert process.returncode in (0, 130, -signal.SIGINT)


def test_help_lists_every_command_with_its_own_short_help_and_loads_no_boto3() -> None:
    import subprocess
    import sys

    import click

    from amishare.cli.main import COMMANDS, cli

    context = click.Context(cli)
    for name, (_, short) in COMMANDS.items():
        command = cli.get_command(context, name)
        assert command is not None and command.get_short_help_str(limit=80) == short, name
    probe = "import sys; from amishare.cli.main import main; sys.argv=['amishare','--help'];\n" + (
        "try:\n    main()\nexcept SystemExit:\n    pass\nprint(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('boto3', 'botocore', 'rich', 'moto')))"
    )
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert shown.strip().endswith("[]"), shown
    for name in COMMANDS:
        assert name in shown


def test_sandbox_serve_on_a_busy_port_says_so_without_a_traceback() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        served = subprocess.run(
            [sys.executable, "-m", "amishare", "sandbox", "serve", "--port", str(port)],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert served.returncode == 8, served.stdout + served.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in served.stderr and "choose another --port" in served.stderr
    assert "Traceback" not in served.stderr
