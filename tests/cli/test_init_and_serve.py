"""A start for a real setup (issue 19, item 6): ``sandbox serve`` prints a ready amishare.toml (``--write-config
FILE``) and ``AWS_DEFAULT_REGION``; ``amishare init`` writes a starter amishare.toml from an organization that
the other commands then read."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from amishare import config
from amishare.cli.main import cli
from amishare.render.starter import FoundAccount, account_names, slug
from amishare.sandbox import Sandbox
from tests.support.world import OTHER, OWNER, REGION, TARGET, mutating_calls

THIRD = "444444444444"


@pytest.fixture
def organization(sb: Sandbox) -> dict[str, str]:
    """An organization managed by OWNER: TARGET in OU dev, OTHER in prod/web, THIRD at the root; the role
    amishare assumes exists in TARGET only (with a key there), the share key in OWNER."""
    _, units = sb.create_organization(OWNER, {"dev": [TARGET], "prod/web": [OTHER], "": [THIRD]})
    sb.create_role(TARGET, "AmiShareRole", trusted_account=OWNER)
    sb.create_key(TARGET, REGION, alias="dev-amis")
    sb.create_key(OWNER, REGION, alias="amishare-share")
    return units


def _run(sb: Sandbox, tmp_path: Path, *args: str) -> Any:
    env = {**sb.credentials(OWNER), "AWS_REGION": REGION, "AMISHARE_JOURNAL": str(tmp_path / "journal.sqlite3")}
    return CliRunner().invoke(cli, list(args), env=env)


def test_init_writes_a_starter_config_from_the_organization(
    sb: Sandbox, organization: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "amishare.toml"
    sb.clear_calls()
    result = _run(sb, tmp_path, "init", "--out", str(path))
    assert result.exit_code == 0, result.output
    assert mutating_calls(sb) == []  # reads, and AssumeRole to try the role
    assert f"wrote {path}: 4 accounts in 3 OUs" in result.stdout and "assumed in 1 of 3" in result.stdout
    text = path.read_text()
    written = config.load(path)  # what init writes, amishare reads
    assert {a.id: name for name, a in written.accounts.items()} == {
        OWNER: f"account-{OWNER}",  # sandbox accounts are named account-<id> in Organizations
        TARGET: f"account-{TARGET}",
        OTHER: f"account-{OTHER}",
        THIRD: f"account-{THIRD}",
    }
    assert written.defaults.role_name == "AmiShareRole"  # assumed in a member account: written
    assert written.defaults.share_key == "alias/amishare-share"  # found in the caller's account
    assert written.defaults.region == REGION and written.defaults.endpoint_url == sb.endpoint_url
    assert written.accounts[f"account-{TARGET}"].keys == {REGION: "alias/dev-amis"}  # read through the role
    assert written.accounts[f"account-{OTHER}"].keys == {}  # the role is not there: a commented key says why
    assert f'# keys = {{ {REGION} = "alias/..." }}' in text and "AmiShareRole not assumed: AccessDenied" in text
    for path_name, arn in organization.items():  # the OUs, as comments (an OU is a target by its ARN)
        assert f"# OU {path_name}: {arn}" in text
    assert f"[accounts.account-{OTHER}]  # 'account-{OTHER}', OU prod/web" in text


def test_the_written_config_works_with_the_other_commands(
    sb: Sandbox, organization: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "amishare.toml"
    assert _run(sb, tmp_path, "init", "--out", str(path)).exit_code == 0
    manifest = tmp_path / "estate.toml"
    manifest.write_text(
        f'version = 1\n[defaults]\nsource = "account-{OWNER}"\nregions = ["{REGION}"]\n'
        f'[targets]\ndev = {{ accounts = ["account-{TARGET}"] }}\n'
        f'prod = {{ ous = ["{organization["prod/web"]}"] }}\n'
        '[[image]]\nfamily = "app"\nselect = { name = "app-*" }\n'
        '  [[image.distribute]]\n  to = ["dev", "prod"]\n  mode = "share"\n'
    )
    validated = _run(
        sb, tmp_path, "manifest", "validate", "-f", str(manifest), "--config", str(path), "--output", "json"
    )
    assert validated.exit_code == 0, validated.output
    summary = json.loads(validated.stdout)
    assert summary["valid"] and summary["source"]["label"] == f"account-{OWNER}"
    image = sb.seed_image(OWNER, REGION, "app-1", kms_key="alias/amishare-share")
    planned = _run(sb, tmp_path, "--config", str(path), "share", image, "--to", f"account-{TARGET}", "--dry-run")
    assert planned.exit_code == 0, planned.output
    assert f"account-{TARGET} ({TARGET})" in planned.stdout


def test_init_never_overwrites_without_force(sb: Sandbox, organization: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "amishare.toml"
    path.write_text("# mine\n")
    sb.clear_calls()
    refused = _run(sb, tmp_path, "init", "--out", str(path))
    assert refused.exit_code == 2 and "exists" in refused.stderr and "--force" in refused.stderr
    assert path.read_text() == "# mine\n" and sb.calls() == []  # refused before any call
    forced = _run(sb, tmp_path, "init", "--out", str(path), "--force")
    assert forced.exit_code == 0, forced.output
    assert "[accounts." in path.read_text()


def test_init_outside_an_organization_writes_the_caller_alone(sb: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "amishare.toml"
    result = _run(sb, tmp_path, "init", "--out", str(path))
    assert result.exit_code == 0, result.output
    written = config.load(path)
    assert [a.id for a in written.accounts.values()] == [OWNER]
    text = path.read_text()
    assert "# not in an organization (AWSOrganizationsNotInUseException)" in text
    assert '# role_name = "AmiShareRole"' in text and '# share_key = "alias/amishare-share"' in text


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["Dev Account", "dev-account"], ["dev-account", "dev-account-2"]),
        (["Prod / Web (EU)"], ["prod-web-eu"]),
        (["123", "public", "!!!"], ["account-000000000001", "account-000000000002", "account-000000000003"]),
    ],
)
def test_account_names_are_slugs_unique_and_never_ids_or_target_words(names: list[str], expected: list[str]) -> None:
    accounts = tuple(FoundAccount(f"{n:012d}", name) for n, name in enumerate(names, 1))
    assert list(account_names(accounts).values()) == expected
    assert slug("Ünïcode Team") == "unicode-team"


@pytest.mark.slow
def test_sandbox_serve_prints_and_writes_a_ready_config(tmp_path: Path) -> None:
    written = tmp_path / "amishare.toml"
    process = subprocess.Popen(
        [sys.executable, "-m", "amishare", "sandbox", "serve", "--write-config", str(written)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(9)]
        builder = next(line for line in lines if line.startswith(f"account {OWNER}: export "))
        exports = dict(part.split("=", 1) for part in builder.split("export ", 1)[1].split())
        assert exports["AWS_DEFAULT_REGION"] == "us-east-1"
        assert any(line.startswith("role AmiShareRole in each consumer") for line in lines), lines
        written_line = (
            f"config written to {written} (as account {OWNER}): give it to amishare's commands with --config {written}"
        )
        assert written_line in lines, lines
        golden = next(line.split()[2] for line in lines if line.startswith("golden image "))
        # the exported line and the written config are all a user needs: no AWS_REGION, no flag
        env = {**exports, "AWS_REGION": None, "AMISHARE_JOURNAL": None}
        planned = CliRunner().invoke(
            cli, ["--config", str(written), "share", golden, "--to", "consumer-1", "--dry-run"], env=env
        )
        assert planned.exit_code == 0, planned.output
        assert "consumer-1 (222222222222)" in planned.stdout
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.slow
def test_sandbox_serve_prints_the_config_without_write_config() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "amishare", "sandbox", "serve", "--empty"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(11)]
        start = next(i for i, line in enumerate(lines) if line.startswith("# amishare.toml for these accounts"))
        import tomllib

        printed = tomllib.loads("".join(lines[start:]))  # the printed block is itself the file
        assert printed["defaults"]["region"] == "us-east-1"
        assert printed["defaults"]["endpoint_url"] == lines[0].split(" ", 1)[1].strip()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
