"""Output conventions of every command: --output table, JSON errors on stdout, comma lists for --to/--from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from amishare.cli.main import cli
from amishare.sandbox import Sandbox
from tests.support.world import OTHER, OWNER, REGION, TARGET, mutating_calls


def _run(sb: Sandbox, tmp_path: Path, *args: str) -> Any:
    env = {**sb.credentials(OWNER), "AWS_REGION": REGION, "AWS_ENDPOINT_URL": sb.endpoint_url}
    env["AMISHARE_JOURNAL"] = str(tmp_path / "journal.sqlite3")
    return CliRunner().invoke(cli, list(args), env=env)


@pytest.fixture
def image(sb: Sandbox) -> str:
    return sb.seed_image(OWNER, REGION, "app", kms_key=sb.create_key(OWNER, REGION, alias="app"))


@pytest.mark.slow
def test_to_and_from_take_comma_lists_as_well_as_repeats(sb: Sandbox, image: str, tmp_path: Path) -> None:
    planned = _run(sb, tmp_path, "share", image, "--to", f"{TARGET}, {OTHER}", "--dry-run", "--output", "json")
    assert planned.exit_code == 0, planned.output
    assert [t["value"] for t in json.loads(planned.stdout)["plan"]["targets"]] == [TARGET, OTHER]
    shared = _run(sb, tmp_path, "share", image, "--to", f"{TARGET},{OTHER}", "--yes")
    assert shared.exit_code == 0, shared.output
    revoked = _run(sb, tmp_path, "revoke", image, "--from", f"{TARGET},{OTHER}", "--dry-run", "--output", "json")
    assert {t["value"] for t in json.loads(revoked.stdout)["plan"]["targets"]} == {TARGET, OTHER}


@pytest.mark.parametrize(
    ("args", "code", "exit_code"),
    [
        (["verify", "ami-123"], "UsageError", 2),
        (["doctor", "ami-0123", "--account", TARGET], "UsageError", 2),
        (["audit", "--allow", "acme"], "UsageError", 2),
        (["show", "ami-0123456789abcdef0"], "InvalidAMIID.NotFound", 6),
        (["share", "ami-0123456789abcdef0", "--to", OWNER, "--dry-run"], "InvalidAMIID.NotFound", 6),
    ],
)
def test_errors_are_json_on_stdout_with_output_json(
    sb: Sandbox, tmp_path: Path, args: list[str], code: str, exit_code: int
) -> None:
    sb.clear_calls()
    result = _run(sb, tmp_path, *args, "--output", "json")
    assert result.exit_code == exit_code, result.output
    error = json.loads(result.stdout)["error"]
    assert (error["code"], error["exit"]) == (code, exit_code) and error["message"]
    assert result.stderr.startswith("error: ")  # people still read stderr
    assert mutating_calls(sb) == []


@pytest.mark.slow
def test_every_reading_command_has_a_table(sb: Sandbox, image: str, tmp_path: Path) -> None:
    assert _run(sb, tmp_path, "share", image, "--to", TARGET, "--yes").exit_code == 0
    shown = _run(sb, tmp_path, "show", image, "--output", "table")
    assert shown.exit_code == 0, shown.output
    header, rule, *rows = shown.stdout.splitlines()
    assert "target" in header and set(rule) <= {"-", " "} and any(TARGET in r for r in rows)
    runs = _run(sb, tmp_path, "runs", "--output", "table")
    assert "run_id" in runs.stdout.splitlines()[0] and "succeeded" in runs.stdout
    verified = _run(sb, tmp_path, "verify", image, "--output", "table")
    assert verified.exit_code == 0 and "image_id" in verified.stdout.splitlines()[0] and image in verified.stdout
    planned = _run(sb, tmp_path, "share", image, "--to", OTHER, "--dry-run", "--output", "table")
    assert "kind" in planned.stdout.splitlines()[0] and "ShareImage" in planned.stdout
    doctored = _run(sb, tmp_path, "doctor", image, "--account", OTHER, "--output", "table")
    assert doctored.exit_code == 13 and doctored.stdout.splitlines()[0].split()[:2] == ["capability", "ok"]
    assert "NO_LAUNCH_PERMISSION" in doctored.stdout
    audited = _run(sb, tmp_path, "audit", "--output", "table")
    assert audited.exit_code == 0 and "IMAGE_BPA_OFF" in audited.stdout
