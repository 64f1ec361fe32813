"""amishare bootstrap: templates that pass cfn-lint, carry the generated policies, and a README that deploys them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cfnlint.api import lint
from click.testing import CliRunner

from amishare.cli.main import cli
from amishare.generate import bootstrap, iam_policy


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(bootstrap.templates()))
def test_every_template_passes_cfn_lint(name: str) -> None:
    template = bootstrap.templates()[name]
    assert lint(json.dumps(template), regions=["us-east-1", "eu-west-1"]) == []


@pytest.mark.slow
def test_cfn_lint_is_really_looking() -> None:
    broken = bootstrap.share_key()
    broken["Resources"]["Key"]["Properties"]["EnableKeyRotation"] = "sometimes"
    assert lint(json.dumps(broken), regions=["us-east-1"])


def test_the_roles_carry_the_generated_policies_and_the_trust_needs_the_external_id() -> None:
    role = bootstrap.destination_role()["Resources"]["Role"]["Properties"]
    (inline,) = role["Policies"]
    assert inline["PolicyDocument"] == iam_policy.policy(iam_policy.TARGET_ROLES, iam_policy.COMMANDS)
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}
    source = bootstrap.source_role()["Resources"]["Role"]["Properties"]["Policies"][0]["PolicyDocument"]
    assert source == iam_policy.policy("source", iam_policy.COMMANDS)


def test_the_share_key_rotates_and_admits_no_target() -> None:
    key = bootstrap.share_key()["Resources"]["Key"]["Properties"]
    assert key["EnableKeyRotation"] is True
    principals = json.dumps([s["Principal"] for s in key["KeyPolicy"]["Statement"]])
    assert "222222222222" not in principals and '"*"' not in principals


def test_monitoring_watches_the_sharing_calls_and_public_sharing() -> None:
    resources = bootstrap.monitoring()["Resources"]
    names = resources["SharingChanges"]["Properties"]["EventPattern"]["detail"]["eventName"]
    assert names == ["CreateGrant", "ModifyImageAttribute", "ModifySnapshotAttribute", "PutKeyPolicy"]
    public = resources["PublicSharing"]["Properties"]["EventPattern"]["detail"]["requestParameters"]
    assert public == {"launchPermission": {"add": {"items": {"group": ["all"]}}}}
    assert resources["ImageStates"]["Properties"]["EventPattern"]["detail-type"] == ["EC2 AMI State Change"]


def test_the_command_writes_the_templates_and_a_readme(tmp_path: Path) -> None:
    out = tmp_path / "bootstrap"
    result = CliRunner().invoke(
        cli, ["bootstrap", "--out", str(out), "--source", "111111111111", "--accounts", "222222222222,333333333333"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "destination-role.json",
        "monitoring.json",
        "share-key.json",
        "source-role.json",
    ]
    readme = (out / "README.md").read_text()
    # self-managed: the stack instances in the accounts named (--accounts; --deployment-targets is the service-managed
    # form), and an [accounts.*] table for each of them
    assert "--accounts 222222222222 333333333333" in readme and "111111111111" in readme
    assert 'id = "222222222222"' in readme and 'id = "333333333333"' in readme
    refused = CliRunner().invoke(cli, ["bootstrap", "--out", str(out), "--org", "--accounts", "222222222222"])
    assert refused.exit_code == 2 and "--org or --accounts" in refused.output
