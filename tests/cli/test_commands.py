"""share, revoke, show and runs as a user types them (in-process CLI against the sandbox)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from amishare.cli.main import cli
from amishare.sandbox import Sandbox
from tests.support.world import OTHER, OWNER, REGION, TARGET, mutating_calls


@pytest.fixture
def run(sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "amishare.toml").write_text(
        "[defaults]\n"
        f'region = "{REGION}"\n'
        'share_key = "alias/amishare-share"\n'
        f'endpoint_url = "{sb.endpoint_url}"\n'
        f'journal = "{tmp_path / "journal.sqlite3"}"\n'
        "[accounts.dev]\n"
        f'id = "{TARGET}"\n'
        "[accounts.qa]\n"
        f'id = "{OTHER}"\n'
    )
    env = sb.credentials(OWNER)

    def invoke(*args: str) -> Any:
        return CliRunner().invoke(cli, list(args), env=env)

    return invoke


@pytest.mark.slow
def test_share_show_revoke_runs_in_text(sb: Sandbox, run: Any) -> None:
    sb.create_key(OWNER, REGION, alias="amishare-share")
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key="aws/ebs")
    dry = run("share", image, "--to", "dev", "--to", "qa", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "+ ReEncryptImage" in dry.output and "dev (222222222222)" in dry.output
    assert mutating_calls(sb) == []
    applied = run("share", image, "--to", "dev", "--to", "qa", "--yes")
    assert applied.exit_code == 0, applied.output
    assert "succeeded" in applied.output
    again = run("share", image, "--to", "dev", "--to", "qa", "--yes")
    assert again.exit_code == 0 and "No changes" in again.output
    shown = run("show", image)
    assert shown.exit_code == 0 and "222222222222: can copy" in shown.output
    revoked = run("revoke", image, "--from", "qa", "--yes")
    assert revoked.exit_code == 0, revoked.output
    runs = run("runs")
    assert runs.exit_code == 0
    assert runs.output.count("succeeded") == 2
    run_id = runs.output.splitlines()[1].split()[0]
    detail = run("runs", "show", run_id)
    assert detail.exit_code == 0 and "UnshareImage" in detail.output


@pytest.mark.slow
def test_json_output_is_stable_and_documented(sb: Sandbox, run: Any) -> None:
    image = sb.seed_image(OWNER, REGION, "plain", volumes_gib=[8], kms_key=None)
    dry = run("share", image, "--to", "dev", "--dry-run", "--output", "json")
    assert dry.exit_code == 0, dry.output
    document = json.loads(dry.output)
    assert document["schema"] == "amishare.plan/1"
    assert [a["kind"] for a in document["plan"]["actions"]] == ["ShareSnapshots", "ShareImage"]
    assert set(document["plan"]["actions"][0]) == {
        "key",
        "kind",
        "account",
        "region",
        "summary",
        "params",
        "depends_on",
        "after",
        "permissions",
    }
    applied = run("share", image, "--to", "dev", "--yes", "--output", "json")
    result = json.loads(applied.stdout)
    assert result["schema"] == "amishare.run/1"
    assert result["status"] == "succeeded" and result["subject_image"] == image
    assert {r["state"] for r in result["results"]} == {"succeeded"}
    gates = json.loads(run("show", image, "--output", "json").output)
    assert gates["schema"] == "amishare.gates/1"
    assert gates["gates"][0]["can_copy"] is True
    runs = json.loads(run("runs", "--output", "json").output)
    assert runs["runs"][0]["run_id"] == result["run_id"]


def test_partial_failure_exits_7(sb: Sandbox, run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The exit code of a partial run (the executor's partial runs are proven in tests/integration)."""
    from amishare.aws.steps import handlers
    from amishare.engine.kinds.gates import LaunchPermissionChange
    from amishare.errors import AwsError

    def refuse(steps: Any, action: Any, context: Any) -> Any:
        raise AwsError("ModifyImageAttribute failed: RequestLimitExceeded: Request limit exceeded.")

    monkeypatch.setitem(handlers.HANDLERS, LaunchPermissionChange, refuse)
    image = sb.seed_image(OWNER, REGION, "plain", volumes_gib=[8], kms_key=None)
    result = run("share", image, "--to", "dev", "--yes")
    assert result.exit_code == 7, result.output
    assert "partial" in result.output and "RequestLimitExceeded" in result.output
    assert "amishare runs show" in result.output


def test_iam_prints_each_role_s_policy_as_json() -> None:
    import json

    from click.testing import CliRunner

    from amishare.cli.main import cli

    result = CliRunner().invoke(cli, ["iam", "--for", "transfer", "--regions", "eu-west-1", "--output", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert set(document["policies"]) == {"source", "destination"}
    assert "ec2.eu-west-1.amazonaws.com" in json.dumps(document["policies"]["destination"])
