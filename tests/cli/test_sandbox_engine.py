"""``amishare sandbox serve --engine --manifest FILE`` (issue 18, item 6): the served sandbox has the engine deployed,
prints ``journal: dynamodb://TABLE``, the state machine, and commands that run as printed against it: publishing an
image with the AWS CLI starts one run that ``amishare runs --journal dynamodb://TABLE`` (as printed) lists, ended
succeeded. Wrong combinations of flags are refused before anything is served."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from amishare.cli.main import cli
from amishare.sandbox.server import sandbox_session
from tests.support.world import OWNER

MANIFEST = """\
version = 1
[defaults]
source = "111111111111"
regions = ["us-east-1"]
[[image]]
family = "base"
select = { ssm_parameter = "/golden/base" }
  [[image.distribute]]
  to = ["consumer-1"]
  mode = "share"
"""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine"], "pass both --engine and --manifest FILE"),
        (["--manifest", "{manifest}"], "pass both --engine and --manifest FILE"),
        (["--config", "{manifest}"], "pass it with --engine"),
    ],
)
def test_the_engine_needs_its_manifest(tmp_path: Path, args: list[str], message: str) -> None:
    manifest = tmp_path / "estate.toml"
    manifest.write_text(MANIFEST)
    given = [a.format(manifest=manifest) for a in args]
    result = CliRunner().invoke(cli, ["sandbox", "serve", *given])
    assert result.exit_code == 2, result.output
    assert message in result.output


def _shell(line: str, cwd: Path) -> Any:
    """A printed command run as printed by a POSIX shell (the venv's amishare first on the PATH)."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {"PATH": path, "HOME": str(cwd), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}  # no ~/.aws to read
    return subprocess.run(["sh", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.slow  # ~20 s: a served sandbox in a process of its own (9 s to deploy), the run, 2 AWS CLI commands
@pytest.mark.skipif(shutil.which("aws") is None, reason="runs the printed AWS CLI commands")
def test_serve_with_the_engine_prints_commands_that_publish_and_list_its_run(tmp_path: Path) -> None:
    manifest = tmp_path / "estate.toml"
    manifest.write_text(MANIFEST)
    serve = [sys.executable, "-m", "amishare", "sandbox", "serve", "--engine", "--manifest", str(manifest)]
    process = subprocess.Popen(
        [*serve, "--copy-seconds-per-gib", "0.01", "--write-config", str(tmp_path / "amishare.toml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        lines: dict[str, str] = {}
        while "executions" not in lines:
            line = process.stdout.readline()
            assert line, f"serve ended early: {lines}"
            name, _, rest = line.strip().partition(": ")
            lines[name] = rest
        assert lines["journal"] == "dynamodb://amishare-engine"
        assert lines["engine"].startswith("state machine arn:aws:states:us-east-1:111111111111:stateMachine:")
        published = _shell(lines["publish base"], tmp_path)
        assert published.returncode == 0, published.stderr
        assert json.loads(published.stdout)["Version"] == 1
        keys = dict(part.split("=", 1) for part in lines[f"account {OWNER}"].removeprefix("export ").split())
        sfn = sandbox_session(lines["endpoint"], "us-east-1", keys["AWS_ACCESS_KEY_ID"], keys["AWS_SECRET_ACCESS_KEY"])
        machine = lines["engine"].split()[2].rstrip(";")
        deadline = time.monotonic() + 90
        while True:  # until the execution the parameter started has ended
            found = sfn.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"]
            if found and all(e["status"] != "RUNNING" for e in found):
                break
            assert time.monotonic() < deadline, found
            time.sleep(0.2)
        listed = _shell(lines["executions"], tmp_path)
        assert listed.returncode == 0, listed.stderr
        assert [e["status"] for e in json.loads(listed.stdout)["executions"]] == ["SUCCEEDED"]
        runs = _shell(lines["runs"] + " --output json", tmp_path)
        assert runs.returncode == 0, runs.stderr
        assert [r["status"] for r in json.loads(runs.stdout)["runs"]] == ["succeeded"]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
