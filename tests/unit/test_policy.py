"""The sandbox's policy evaluator (pure): table-driven cases and properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amishare.policy.evaluate import Caller, PolicyError, Request, UnsupportedCondition, evaluate, like, parse_policy

ROOT = Caller(account="222222222222", arn="arn:aws:iam::222222222222:root")
SESSION = Caller(
    account="222222222222",
    arn="arn:aws:sts::222222222222:assumed-role/Copy/s1",
    role_arn="arn:aws:iam::222222222222:role/Copy",
)


def _decide(
    statement: dict[str, Any], caller: Caller = ROOT, action: str = "kms:Decrypt", context: dict[str, Any] | None = None
) -> str:
    policy = parse_policy({"Statement": [{"Resource": "*", **statement}]})
    return evaluate(policy, Request(caller, action, "arn:aws:kms:us-east-1:111111111111:key/k", context or {}))


@pytest.mark.parametrize(
    ("statement", "caller", "context", "expected"),
    [
        ({"Effect": "Allow", "Principal": "*", "Action": "kms:*"}, ROOT, {}, "Allow"),
        ({"Effect": "Allow", "Principal": {"AWS": "222222222222"}, "Action": "kms:Decrypt"}, ROOT, {}, "Allow"),
        (
            {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::333333333333:root"]}, "Action": "kms:*"},
            ROOT,
            {},
            "ImplicitDeny",
        ),
        (
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:role/Copy"}, "Action": "kms:*"},
            SESSION,
            {},
            "Allow",
        ),
        (
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:role/Copy"}, "Action": "kms:*"},
            ROOT,
            {},
            "ImplicitDeny",
        ),
        (
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "kms:*"},
            ROOT,
            {},
            "ImplicitDeny",
        ),
        ({"Effect": "Allow", "Principal": "*", "Action": "KMS:decrypt"}, ROOT, {}, "Allow"),
        ({"Effect": "Allow", "Principal": "*", "NotAction": "kms:Decrypt"}, ROOT, {}, "ImplicitDeny"),
        ({"Effect": "Deny", "Principal": "*", "Action": "kms:*"}, ROOT, {}, "Deny"),
        (
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "kms:*",
                "Condition": {"StringEquals": {"kms:CallerAccount": ["333333333333", "222222222222"]}},
            },
            ROOT,
            {"kms:CallerAccount": "222222222222"},
            "Allow",
        ),
        (
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "kms:*",
                "Condition": {"StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}},
            },
            ROOT,
            {},
            "ImplicitDeny",
        ),
        (
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "kms:*",
                "Condition": {"StringEqualsIfExists": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}},
            },
            ROOT,
            {},
            "Allow",
        ),
        (
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "kms:*",
                "Condition": {"StringEquals": {"KMS:VIASERVICE": "x"}},
            },
            ROOT,
            {"kms:ViaService": "x"},
            "Allow",
        ),
        (
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "kms:*",
                "Condition": {"StringNotEquals": {"kms:ViaService": "x"}},
            },
            ROOT,
            {},
            "Allow",
        ),
        (
            {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Condition": {"Null": {"kms:ViaService": "true"}}},
            ROOT,
            {},
            "Allow",
        ),
        (
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "kms:*",
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
            ROOT,
            {"kms:GrantIsForAWSResource": True},
            "Allow",
        ),
        (
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "kms:*",
                "Condition": {"ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt", "Encrypt"]}},
            },
            ROOT,
            {"kms:GrantOperations": ["Decrypt"]},
            "Allow",
        ),
        (
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "kms:*",
                "Condition": {"ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt"]}},
            },
            ROOT,
            {"kms:GrantOperations": ["Decrypt", "CreateGrant"]},
            "ImplicitDeny",
        ),
        (
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "kms:*",
                "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-a/r-b/ou-c/*"}},
            },
            ROOT,
            {"aws:PrincipalOrgPaths": ["o-a/r-b/ou-c/ou-d/"]},
            "Allow",
        ),
    ],
)
def test_evaluation_table(statement: dict[str, Any], caller: Caller, context: dict[str, Any], expected: str) -> None:
    assert _decide(statement, caller, context=context) == expected


def test_deny_wins_over_allow() -> None:
    policy = parse_policy(
        {
            "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
                {"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"},
            ]
        }
    )
    request = Request(ROOT, "kms:Decrypt", "k")
    assert evaluate(policy, request) == "Deny"
    assert evaluate(policy, Request(ROOT, "kms:Encrypt", "k")) == "Allow"


def test_invalid_policies_and_operators_are_reported() -> None:
    with pytest.raises(PolicyError):
        parse_policy("{not json")
    with pytest.raises(PolicyError):
        parse_policy({"Statement": [{"Effect": "Maybe", "Action": "x"}]})
    with pytest.raises(UnsupportedCondition):
        _decide(
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
            },
            context={"aws:SourceIp": "10.1.1.1"},
        )


names = st.text(alphabet="abcXYZ019:-/.", min_size=0, max_size=12)


@given(names)
def test_star_matches_everything_and_literal_matches_itself(value: str) -> None:
    assert like("*", value)
    assert like(value, value)


@given(names, names)
def test_like_without_wildcards_is_equality(pattern: str, value: str) -> None:
    assert like(pattern, value) == (pattern == value)


@given(st.lists(st.sampled_from(["Allow", "Deny"]), min_size=1, max_size=6))
def test_any_matching_deny_decides(effects: list[str]) -> None:
    policy = parse_policy(
        {"Statement": [{"Effect": e, "Principal": "*", "Action": "kms:*", "Resource": "*"} for e in effects]}
    )
    decision = evaluate(policy, Request(ROOT, "kms:Decrypt", "k"))
    assert decision == ("Deny" if "Deny" in effects else "Allow")
