"""The audit's reading of key policies and grants (pure), table-driven."""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from amishare.checks.audit import AccountRegion, Allowlist, admitted, audit
from amishare.model import GrantInfo, ImageInfo, KeyInfo, LaunchPermissions, SnapshotInfo
from amishare.policy.key_policy import KeyAccess, statements_for

OWNER, A, B = "111111111111", "222222222222", "333333333333"
REGION = "us-east-1"
ARN = f"arn:aws:kms:{REGION}:{OWNER}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ADMIN = {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OWNER}:root"}, "Action": "kms:*"}


def _key(*statements: dict[str, Any], grants: tuple[GrantInfo, ...] = ()) -> KeyInfo:
    policy = {"Version": "2012-10-17", "Statement": [ADMIN, *statements]}
    return KeyInfo(ARN, OWNER, REGION, "CUSTOMER", policy=policy, grants=grants)


ORG = "o-abcdefghij"
CASES: list[tuple[str, KeyInfo, set[str], set[str], bool]] = [
    ("the owner's admin statement admits no one else", _key(), set(), set(), False),
    (
        "amishare's account statement",
        _key(*statements_for(REGION, KeyAccess(accounts=frozenset({A, B})))),
        {A, B},
        set(),
        False,
    ),
    (
        "an organization statement",
        _key(*statements_for(REGION, KeyAccess(organizations=frozenset({ORG})))),
        set(),
        {ORG},
        False,
    ),
    (
        "a role of another account",
        _key({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:role/x"}, "Action": "kms:Decrypt"}),
        {A},
        set(),
        False,
    ),
    (
        "Principal * limited by kms:CallerAccount",
        _key(
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "kms:Decrypt",
                "Condition": {"StringEquals": {"kms:CallerAccount": B}},
            }
        ),
        {B},
        set(),
        False,
    ),
    (
        "Principal * with nothing to limit it",
        _key({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt"}),
        set(),
        set(),
        True,
    ),
    ("a Deny admits no one", _key({"Effect": "Deny", "Principal": {"AWS": A}, "Action": "kms:*"}), set(), set(), False),
    (
        "a grant to another account's role",
        _key(grants=(GrantInfo("g1", f"arn:aws:iam::{B}:role/r", ("Decrypt",)),)),
        {B},
        set(),
        False,
    ),
]


@pytest.mark.parametrize(("key", "accounts", "orgs", "everyone"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_admitted(key: KeyInfo, accounts: set[str], orgs: set[str], everyone: bool) -> None:
    found = admitted(key)
    assert set(found.accounts) == accounts
    assert set(found.organizations) == orgs
    assert bool(found.everyone) is everyone


def test_amishare_autoscaling_statement_is_not_unscoped_but_a_bare_decrypt_is() -> None:
    access = KeyAccess(accounts=frozenset({A}), autoscaling=frozenset({A}))
    scoped = _key(*statements_for(REGION, access))
    bare = _key({"Sid": "Bare", "Effect": "Allow", "Principal": {"AWS": A}, "Action": "kms:Decrypt"})
    for key, expected in ((scoped, set()), (bare, {"KEY_ACCESS_UNSCOPED"})):
        read = AccountRegion(OWNER, REGION, (), (), {ARN: key}, "block-new-sharing")
        codes = {f.code for f in audit([read], Allowlist(accounts=frozenset({A}))).findings}
        assert codes - {"KEY_ACCESS_WITHOUT_SHARE"} == expected


def test_an_unencrypted_share_names_whom_it_is_shared_with() -> None:
    """Issue 19: UNENCRYPTED_SHARED did not say who had the image; now its principal, detail and fix name them."""
    snapshot = SnapshotInfo("snap-0123456789abcdef0", 8, None, shared_with=frozenset({A}))
    launch = LaunchPermissions(accounts=frozenset({A, B}), public=True)
    image = ImageInfo("ami-0123456789abcdef0", "plain", OWNER, REGION, "available", (snapshot,), launch)
    read = AccountRegion(OWNER, REGION, (image,), (snapshot,), {}, "block-new-sharing")
    found = {f.resource or f.image: f for f in audit([read], Allowlist()).findings if f.code == "UNENCRYPTED_SHARED"}
    shared_image, shared_snapshot = found["ami-0123456789abcdef0"], found["snap-0123456789abcdef0"]
    assert shared_image.principal == f"{A}, {B}, public"
    assert f"is shared with {A}, {B}, public and its volumes are not encrypted" in shared_image.detail
    assert f"`amishare share COPY --to {A},{B} --region {REGION}`" in shared_image.fix  # an encrypted copy: not public
    assert f"`amishare revoke ami-0123456789abcdef0 --from {A},{B},public --region {REGION}`" in shared_image.fix
    assert shared_snapshot.principal == A and f"shared with {A} and not encrypted" in shared_snapshot.detail
    assert shared_snapshot.fix.endswith(f"--operation-type remove --region {REGION} --user-ids {A}")


def test_the_copy_an_unencrypted_share_s_fix_names_is_quoted_for_a_shell() -> None:
    """An AMI name may hold spaces and parentheses (EC2 allows them): the printed copy-image quotes the copy's name,
    so a shell passes it as one word."""
    snapshot = SnapshotInfo("snap-0123456789abcdef0", 8, None, shared_with=frozenset({A}))
    launch = LaunchPermissions(accounts=frozenset({A}))
    image = ImageInfo("ami-0123456789abcdef0", "golden (2026) v1", OWNER, REGION, "available", (snapshot,), launch)
    read = AccountRegion(OWNER, REGION, (image,), (snapshot,), {}, "block-new-sharing")
    (fix,) = {f.fix for f in audit([read], Allowlist()).findings if f.code == "UNENCRYPTED_SHARED" and not f.resource}
    words = shlex.split(fix[fix.index("aws ec2 copy-image") : fix.index("), share the copy")])
    assert words[words.index("--name") + 1] == "golden (2026) v1-encrypted"
