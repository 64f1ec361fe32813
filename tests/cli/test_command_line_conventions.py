"""The command line's conventions, as a user of the AWS CLI expects them (issue 19): Ctrl-C at the prompt exits
130, global options go before or after the command, the environment's region outranks amishare.toml's, a
policy redirected to a file is JSON, a report of an unknown format is refused before the scan, a relative
journal is relative to its config file, times read as ISO 8601, and one max_parallel range."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from amishare import config
from amishare.cli.main import cli
from amishare.errors import ConfigError
from amishare.sandbox import Sandbox
from tests.support.terminal import at_the_prompt
from tests.support.world import OWNER, REGION, REGION2, TARGET, mutating_calls


def _env(sb: Sandbox, tmp_path: Path, **extra: str | None) -> dict[str, Any]:
    env: dict[str, Any] = {**sb.credentials(OWNER), "AWS_REGION": REGION, "AWS_DEFAULT_REGION": None}
    env["AMISHARE_JOURNAL"] = str(tmp_path / "journal.sqlite3")
    return {**env, **extra}


def _run(sb: Sandbox, tmp_path: Path, *args: str, **env: str | None) -> Any:
    return CliRunner().invoke(cli, list(args), env=_env(sb, tmp_path, **env))


@pytest.fixture
def image(sb: Sandbox) -> str:
    return sb.seed_image(OWNER, REGION, "app", kms_key=sb.create_key(OWNER, REGION, alias="app"))


def test_ctrl_c_at_the_confirmation_prompt_exits_130_and_changes_nothing(
    sb: Sandbox, image: str, tmp_path: Path
) -> None:
    """Issue 19: Ctrl-C at "Apply these changes?" exited 1 ("Aborted!"); the README says 130."""
    sb.clear_calls()
    env = {k: v for k, v in _env(sb, tmp_path).items() if v is not None}
    session = at_the_prompt(["share", image, "--to", TARGET], env, tmp_path, answer=None)
    assert "Apply these changes? [y/N]" in session.screen, session.screen
    assert session.exit_code == 130, session.screen
    assert "Interrupted" in session.screen and "Aborted!" not in session.screen
    assert mutating_calls(sb) == []


def test_global_options_go_before_the_command_as_well_as_after(sb: Sandbox, image: str, tmp_path: Path) -> None:
    """Issue 19: ``amishare --region R show IMAGE`` was refused ("No such option"), as the AWS CLI takes it."""
    before = _run(sb, tmp_path, "--region", REGION, "--output", "json", "show", image, AWS_REGION=REGION2)
    assert before.exit_code == 0, before.output
    assert json.loads(before.stdout)["schema"] == "amishare.gates/1"
    equals = _run(sb, tmp_path, f"--region={REGION}", "show", image, "--output=json", AWS_REGION=REGION2)
    assert equals.exit_code == 0 and json.loads(equals.stdout)["schema"] == "amishare.gates/1"
    later_wins = _run(sb, tmp_path, "--region", REGION2, "show", image, "--region", REGION)
    assert later_wins.exit_code == 0, later_wins.output  # as a later option does, the one after the command wins
    runs = _run(sb, tmp_path, "--output", "json", "runs")  # a group's own options
    assert runs.exit_code == 0 and json.loads(runs.stdout)["schema"] == "amishare.runs/1"
    listed = _run(sb, tmp_path, "--output", "json", "runs", "show", "20260101T000000Z-abcdef")  # and its subcommand
    assert listed.exit_code == 10 and json.loads(listed.stdout)["error"]["exit"] == 10


def test_the_environment_s_region_outranks_amishare_toml_s(sb: Sandbox, image: str, tmp_path: Path) -> None:
    """Issue 19: amishare.toml's region beat AWS_REGION; the AWS CLI's order is the flag, the environment, then
    the config file."""
    cfg = tmp_path / "amishare.toml"
    cfg.write_text(f'[defaults]\nregion = "{REGION2}"\n')
    assert _run(sb, tmp_path, "show", image, "--config", str(cfg)).exit_code == 0  # AWS_REGION
    by_default = _run(sb, tmp_path, "show", image, "--config", str(cfg), AWS_REGION=None, AWS_DEFAULT_REGION=REGION)
    assert by_default.exit_code == 0, by_default.output
    unset = _run(sb, tmp_path, "show", image, "--config", str(cfg), AWS_REGION=None)
    assert unset.exit_code == 6 and REGION2 in unset.output  # then the file's
    flag = _run(sb, tmp_path, "show", image, "--config", str(cfg), "--region", REGION2)
    assert flag.exit_code == 6  # the flag outranks the environment


def test_an_iam_policy_redirected_to_a_file_is_json(tmp_path: Path) -> None:
    """Issue 19: ``amishare iam --role source > policy.json`` wrote a '# source role' line before the JSON."""
    policy = tmp_path / "policy.json"
    with policy.open("w") as out:
        done = subprocess.run(
            [sys.executable, "-m", "amishare", "iam", "--role", "source"],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    document = json.loads(policy.read_text())
    assert document["Version"] == "2012-10-17" and document["Statement"]
    assert "# source role" in done.stderr


def test_a_report_of_an_unknown_format_is_refused_before_the_scan(sb: Sandbox, tmp_path: Path) -> None:
    """Issue 19: ``audit --report x.txt`` wrote JSON into x.txt after the whole scan."""
    sb.clear_calls()
    result = _run(sb, tmp_path, "audit", "--report", str(tmp_path / "x.txt"))
    assert result.exit_code == 2
    assert ".html, .htm, .csv, .json" in result.output
    assert sb.calls() == [] and not (tmp_path / "x.txt").exists()


def test_a_relative_journal_is_relative_to_its_config_file(
    sb: Sandbox, image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19: ``journal = "state/journal.sqlite3"`` was relative to wherever amishare ran."""
    project = tmp_path / "project"
    (project / "state").mkdir(parents=True)
    (project / "amishare.toml").write_text('[defaults]\njournal = "state/journal.sqlite3"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    shared = _run(
        sb, tmp_path, "share", image, "--to", TARGET, "--yes", "--config", str(project / "amishare.toml"),
        AMISHARE_JOURNAL=None,
    )  # fmt: skip
    assert shared.exit_code == 0, shared.output
    assert (project / "state" / "journal.sqlite3").exists() and not (elsewhere / "state").exists()


def test_runs_show_prints_times_in_iso_8601_utc(sb: Sandbox, tmp_path: Path) -> None:
    """Issue 19: ``runs show`` printed epoch floats (``started_at=1796199842.8835797``)."""
    golden = sb.seed_image(OWNER, REGION, "golden", kms_key="aws/ebs")
    sb.create_key(OWNER, REGION, alias="amishare-share")
    shared = _run(sb, tmp_path, "share", golden, "--to", TARGET, "--reencrypt-key", "alias/amishare-share", "--yes")
    assert shared.exit_code == 0, shared.output
    run_id = json.loads(_run(sb, tmp_path, "runs", "--output", "json").stdout)["runs"][0]["run_id"]
    shown = _run(sb, tmp_path, "runs", "show", run_id)
    assert shown.exit_code == 0, shown.output
    assert re.search(r"started \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, finished \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", shown.output)
    assert re.search(r"started_at=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", shown.output), shown.output  # the copy's start
    assert not re.search(r"\b\d{9,}\.\d+", shown.output), shown.output  # no epoch, no float of 16 digits


def test_max_parallel_has_one_range_in_the_config_and_the_flag(tmp_path: Path) -> None:
    """Issue 19: ``[defaults] max_parallel`` took 1 to 256, ``--max-parallel`` 1 to 512."""
    from amishare.cli.transfer import transfer

    (option,) = [p for p in transfer.params if p.name == "max_parallel"]
    assert isinstance(option.type, click.IntRange)
    assert (option.type.min, option.type.max) == config.MAX_PARALLEL == (1, 512)
    assert config.parse({"defaults": {"max_parallel": 512}}, tmp_path / "a.toml").defaults.max_parallel == 512
    with pytest.raises(ConfigError, match="from 1 to 512"):
        config.parse({"defaults": {"max_parallel": 513}}, tmp_path / "a.toml")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["show", "ami-0123456789abcdef0", "--bogus"], "No such option '--bogus'"),
        (["share", "--to", TARGET], "Missing argument 'IMAGE'"),
        (["runs", "show"], "Missing argument 'RUN_ID'"),
        (["nosuch"], "No such command 'nosuch'"),
    ],
)
def test_click_s_usage_errors_are_json_on_stdout_with_output_json(
    sb: Sandbox, tmp_path: Path, args: list[str], said: str
) -> None:
    """Issue 19: a usage error click finds (an unknown option, a missing argument) was plain text only under
    ``--output json``; it is the JSON error on stdout as amishare's own errors are, its text still on stderr."""
    result = _run(sb, tmp_path, "--output", "json", *args)
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert (error["code"], error["exit"]) == ("UsageError", 2) and said in error["message"]
    assert said in result.stderr


@pytest.mark.slow
def test_output_json_at_the_prompt_shows_the_plan_before_asking(sb: Sandbox, image: str, tmp_path: Path) -> None:
    """Issue 19: ``--output json`` in a terminal without ``--yes`` asked "Apply these changes?" before showing the
    plan. The plan asked about is shown first (on stderr: stdout is the document's)."""
    sb.clear_calls()
    env = {k: v for k, v in _env(sb, tmp_path).items() if v is not None}
    session = at_the_prompt(["share", image, "--to", TARGET, "--output", "json"], env, tmp_path, answer="n")
    assert session.exit_code == 1, session.screen
    asked = session.screen.index("Apply these changes? [y/N]")
    assert "+ ShareImage" in session.screen[:asked] and TARGET in session.screen[:asked], session.screen
    assert mutating_calls(sb) == []
