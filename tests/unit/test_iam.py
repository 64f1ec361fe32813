"""The generated policies: valid, least privilege, and covering every permission the kinds declare."""

from __future__ import annotations

import json

import pytest

from amishare.engine.kinds import KINDS
from amishare.engine.permissions import Principal
from amishare.generate import iam_policy
from amishare.policy.evaluate import parse_policy

ADMIN = ("kms:*", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:CreateKey", "iam:")


@pytest.mark.parametrize("role", iam_policy.ROLES)
def test_every_policy_parses_and_grants_no_wildcard_action_nor_key_administration(role: str) -> None:
    document = iam_policy.policy(role, iam_policy.COMMANDS)
    parse_policy(json.dumps(document))
    actions = [a for s in document["Statement"] for a in s["Action"]]
    assert actions and all(
        "*" not in a.split(":")[1] or a == "kms:ReEncrypt*" or a == "kms:GenerateDataKey*" for a in actions
    )
    # the source writes amishare's own statements into its share keys: PutKeyPolicy, on its own keys only
    assert not [
        a for a in actions if a.startswith(ADMIN) and not (role in ("source", "cleanup") and a == "kms:PutKeyPolicy")
    ]


@pytest.mark.parametrize("command", ["audit", "doctor", "verify", "shared-with-me", "show"])
def test_reading_commands_need_only_reads(command: str) -> None:
    for role in iam_policy.ROLES:
        actions = {a for s in iam_policy.policy(role, [command])["Statement"] for a in s["Action"]}
        assert all(a.split(":")[1].startswith(("Describe", "Get", "List")) or a == "sts:AssumeRole" for a in actions), (
            role,
            actions,
        )


def test_every_declared_permission_is_in_some_policy() -> None:
    granted = {
        a for r in iam_policy.ROLES for s in iam_policy.policy(r, iam_policy.COMMANDS)["Statement"] for a in s["Action"]
    }
    declared = {p.action for cls in KINDS.values() for p in cls.needs if p.principal is not Principal.CALLER}
    assert declared <= granted, declared - granted


def test_scope_fills_regions_accounts_and_view_service() -> None:
    document = iam_policy.policy(
        "destination", ["transfer"], iam_policy.Scope(regions=("eu-west-1",), source="111111111111")
    )
    text = json.dumps(document)
    assert "ec2.eu-west-1.amazonaws.com" in text and "arn:aws:kms:eu-west-1:111111111111:key/*" in text
    assert "ec2.*.amazonaws.com" not in text
    unscoped = json.dumps(iam_policy.policy("destination", ["transfer"]))
    assert '"StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"}' in unscoped


def test_a_role_a_command_does_not_use_gets_nothing() -> None:
    assert iam_policy.policy("destination", ["audit"])["Statement"] == []
    with pytest.raises(ValueError, match="unknown role"):
        iam_policy.policy("admin", ["share"])


# Actions newer than parliament's list of IAM actions (1.6.4), each checked against the EC2 API reference.
PARLIAMENT_UNKNOWN = {"ec2:DescribeImageReferences"}


@pytest.mark.slow
@pytest.mark.parametrize("role", iam_policy.ROLES)
def test_parliament_finds_nothing_but_the_documented_unknown_actions(role: str) -> None:
    from parliament import analyze_policy_string

    findings = analyze_policy_string(json.dumps(iam_policy.policy(role, iam_policy.COMMANDS))).findings
    unknown = {f.detail.removeprefix("Unknown action ") for f in findings if f.issue == "UNKNOWN_ACTION"}
    assert unknown <= PARLIAMENT_UNKNOWN
    assert [f.issue for f in findings if f.issue != "UNKNOWN_ACTION"] == []


def test_a_condition_value_without_a_region_is_listed_once_however_many_regions() -> None:
    scope = iam_policy.Scope(regions=("us-east-1", "eu-west-1", "ap-southeast-2"))
    conditions = [
        s["Condition"] for s in iam_policy.policy("source", ["transfer"], scope)["Statement"] if "Condition" in s
    ]
    assert {"StringEquals": {"ec2:CreateAction": "CopyImage"}} in conditions
    assert {
        "StringEquals": {
            "kms:ViaService": [
                "ec2.us-east-1.amazonaws.com",
                "ec2.eu-west-1.amazonaws.com",
                "ec2.ap-southeast-2.amazonaws.com",
            ]
        }
    } in conditions
