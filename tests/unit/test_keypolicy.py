"""Key policy editing (pure): properties that must hold for any policy and any targets."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amishare.policy import key_policy
from amishare.policy.key_policy import KeyAccess

REGION = "us-east-1"
ADMIN_ACTIONS = {
    "kms:*",
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
    "kms:DisableKey",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:UpdateKeyDescription",
    "kms:EnableKeyRotation",
    "kms:DisableKeyRotation",
    "kms:CancelKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:Put*",
    "kms:Delete*",
    "kms:Update*",
    "kms:Enable*",
    "kms:Disable*",
    "kms:Schedule*",
}

accounts = st.from_regex(r"\d{12}", fullmatch=True)
org_ids = st.from_regex(r"o-[a-z0-9]{10}", fullmatch=True)
ou_ids = st.from_regex(r"ou-[a-z0-9]{4}-[a-z0-9]{8}", fullmatch=True)
access = st.builds(
    KeyAccess,
    accounts=st.frozensets(accounts, max_size=8),
    organizations=st.frozensets(org_ids, max_size=3),
    ous=st.frozensets(st.tuples(org_ids, ou_ids), max_size=3),
    autoscaling=st.frozensets(accounts, max_size=3),
)
other_statement = st.fixed_dictionaries(
    {
        "Sid": st.text(alphabet="ABCdef0123", min_size=1, max_size=12),
        "Effect": st.sampled_from(["Allow", "Deny"]),
        "Principal": st.one_of(st.just("*"), st.builds(lambda a: {"AWS": f"arn:aws:iam::{a}:root"}, accounts)),
        "Action": st.one_of(
            st.sampled_from(["kms:*", "kms:Decrypt", "kms:Describe*"]),
            st.lists(st.sampled_from(["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"]), min_size=1, max_size=3),
        ),
        "Resource": st.just("*"),
    },
    optional={
        "Condition": st.fixed_dictionaries({"StringEquals": st.fixed_dictionaries({"kms:CallerAccount": accounts})})
    },
)
policies = st.builds(
    lambda statements, with_id: {
        "Version": "2012-10-17",
        "Statement": statements,
        **({"Id": "key-consolepolicy-3"} if with_id else {}),
    },
    st.lists(other_statement, min_size=1, max_size=6),
    st.booleans(),
)


@pytest.mark.slow
@given(policies, access)
def test_adding_then_removing_gives_back_the_original_policy(policy: dict[str, Any], wanted: KeyAccess) -> None:
    added = key_policy.with_access(policy, REGION, wanted)
    assert key_policy.without_access(added, REGION, wanted) == policy


@pytest.mark.slow
@given(policies, access)
def test_other_statements_are_kept_exactly_and_in_order(policy: dict[str, Any], wanted: KeyAccess) -> None:
    added = key_policy.with_access(policy, REGION, wanted)
    assert [s for s in added["Statement"] if not key_policy.is_amishare(s)] == policy["Statement"]
    assert {k: v for k, v in added.items() if k != "Statement"} == {k: v for k, v in policy.items() if k != "Statement"}


@pytest.mark.slow
@given(policies, access, access)
def test_adding_is_idempotent_and_accumulates(policy: dict[str, Any], first: KeyAccess, second: KeyAccess) -> None:
    once = key_policy.with_access(policy, REGION, first)
    assert key_policy.with_access(once, REGION, first) == once
    both = key_policy.with_access(once, REGION, second)
    assert key_policy.granted(both) == first | second
    assert key_policy.without_access(both, REGION, second) == key_policy.with_access(policy, REGION, first - second)


@given(access)
def test_target_statements_never_carry_kms_star_or_administration(wanted: KeyAccess) -> None:
    for statement in key_policy.statements_for(REGION, wanted):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not set(actions) & ADMIN_ACTIONS
        assert set(actions) <= set(key_policy.TARGET_ACTIONS)
        assert statement["Effect"] == "Allow"
        condition = statement["Condition"]["StringEquals"]
        if statement["Sid"] == key_policy.SID_AUTOSCALING:  # only grants to the accounts' Auto Scaling roles
            assert actions == ["kms:CreateGrant"]
            assert all(p.endswith("/AWSServiceRoleForAutoScaling") for p in condition["kms:GranteePrincipal"])
        else:
            assert condition["kms:ViaService"] == f"ec2.{REGION}.amazonaws.com"


@pytest.mark.slow
@given(access)
def test_account_statements_are_scoped_to_the_caller_accounts(wanted: KeyAccess) -> None:
    for statement in key_policy.statements_for(REGION, wanted):
        if statement["Sid"] == key_policy.SID_ACCOUNTS:
            principals = {p.split(":")[4] for p in statement["Principal"]["AWS"]}
            assert principals == set(statement["Condition"]["StringEquals"]["kms:CallerAccount"]) == wanted.accounts


@settings(max_examples=25)
@given(st.integers(min_value=700, max_value=1000))
def test_over_32_kb_is_refused_before_any_call(count: int) -> None:
    many = KeyAccess(accounts=frozenset(f"{n:012d}" for n in range(count)))
    policy = key_policy.with_access({"Version": "2012-10-17", "Statement": []}, REGION, many)
    assert len(key_policy.compact(policy).encode()) > key_policy.MAX_POLICY_BYTES
    with pytest.raises(key_policy.KeyPolicyTooLarge, match="32768"):
        key_policy.check_size(policy)


def test_a_policy_without_amishare_statements_is_returned_unchanged() -> None:
    single = {
        "Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
    }
    assert key_policy.without_access(single, REGION, KeyAccess(accounts=frozenset({"222222222222"}))) == single
    added = key_policy.with_access(single, REGION, KeyAccess(accounts=frozenset({"222222222222"})))
    assert added["Statement"][0] == single["Statement"]
    assert json.loads(key_policy.check_size(added)) == added


def test_how_many_accounts_fit_in_one_policy() -> None:
    """The grouped statement keeps a policy under the limit far past 60-80 accounts (docs/aws-facts.md section 2)."""
    fits = max(
        n
        for n in range(50, 700, 10)
        if len(
            key_policy.render(
                key_policy.with_access(
                    {"Statement": []}, REGION, KeyAccess(accounts=frozenset(f"{i:012d}" for i in range(n)))
                )
            ).encode()
        )
        <= key_policy.MAX_POLICY_BYTES
    )
    assert fits >= 600  # measured on what is sent: compact once the indented form is over the limit


@settings(max_examples=30)
@given(st.integers(min_value=1, max_value=700))
def test_the_size_is_measured_on_the_document_sent(count: int) -> None:
    """Refused exactly when the smallest document KMS would accept is over the limit; else sent as measured."""
    many = KeyAccess(accounts=frozenset(f"{n:012d}" for n in range(count)))
    policy = key_policy.with_access({"Version": "2012-10-17", "Statement": []}, REGION, many)
    if len(key_policy.compact(policy).encode()) > key_policy.MAX_POLICY_BYTES:
        with pytest.raises(key_policy.KeyPolicyTooLarge):
            key_policy.check_size(policy)
    else:
        sent = key_policy.check_size(policy)
        assert len(sent.encode()) <= key_policy.MAX_POLICY_BYTES and json.loads(sent) == policy


@pytest.mark.parametrize(
    ("add", "remove"),
    [
        (KeyAccess(accounts=frozenset({"222222222222"})), key_policy.NO_ACCESS),  # granted already
        (key_policy.NO_ACCESS, KeyAccess(accounts=frozenset({"444444444444"}))),  # not granted: nothing to take
        (key_policy.NO_ACCESS, key_policy.NO_ACCESS),
    ],
)
def test_an_edit_that_changes_no_access_leaves_the_policy_as_it_is_whatever_its_statements_order(
    add: KeyAccess, remove: KeyAccess
) -> None:
    """A policy whose owner appended a statement after amishare's: an edit already in place is no change (the plan
    has no key policy edit and the step writes nothing), not amishare's statements moved to the end, which a plan
    would show again on every run."""
    mine = key_policy.statements_for(REGION, KeyAccess(accounts=frozenset({"222222222222"})))
    theirs = {
        "Sid": "Audit",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
        "Action": "kms:Describe*",
        "Resource": "*",
    }
    policy = {"Version": "2012-10-17", "Statement": [*mine, theirs]}
    assert key_policy.edited(policy, REGION, add, remove) == policy


def test_an_edit_that_rescopes_amishare_s_statement_to_the_region_is_a_change() -> None:
    """The same accounts, but amishare's statement scoped to another region's EC2: the edit writes it anew."""
    access = KeyAccess(accounts=frozenset({"222222222222"}))
    policy = {"Version": "2012-10-17", "Statement": key_policy.statements_for("eu-west-1", access)}
    edited = key_policy.edited(policy, REGION, access, key_policy.NO_ACCESS)
    assert edited != policy and edited["Statement"] == key_policy.statements_for(REGION, access)
