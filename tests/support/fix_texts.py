"""The fix texts doctor, audit and verify print, made for real by their pure checks: one scenario per doctor code,
one audit estate that holds every finding code, one image that fails verify in every way; and cleanup's warning
about key access it did not write (tests/unit/test_printed_commands.py parses their commands;
tests/integration/test_printed_fixes_run.py runs them on the local AWS, and checks it covers every code with a
command)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from amishare.checks.audit import AccountRegion, Allowlist, audit
from amishare.checks.doctor import diagnose
from amishare.checks.doctor.facts import DoctorFacts, TargetView
from amishare.checks.verify import verify
from amishare.model import GrantInfo, ImageInfo, KeyInfo, LaunchPermissions, MappingInfo, SnapshotInfo
from amishare.policy.key_policy import KeyAccess, statements_for

OWNER, A, B, C = "111111111111", "222222222222", "333333333333", "444444444444"
REGION, OTHER_REGION = "us-east-1", "us-west-2"
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
KEY = f"arn:aws:kms:{REGION}:{OWNER}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ADMIN = {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OWNER}:root"}, "Action": "kms:*"}


def key_info(*statements: dict[str, Any], state: str = "Enabled", manager: str = "CUSTOMER") -> KeyInfo:
    """OWNER's customer managed key ``KEY`` in REGION: an admin statement and ``statements``."""
    policy = {"Version": "2012-10-17", "Statement": [ADMIN, *statements]}
    return KeyInfo(KEY, OWNER, REGION, manager, state=state, policy=policy)


def image_info(
    key: str | None = KEY, launch: LaunchPermissions | None = None, shared: frozenset[str] = frozenset({A})
) -> ImageInfo:
    """OWNER's image on one snapshot encrypted with ``key``, shared (launch, and the snapshot with ``shared``)."""
    snapshot = SnapshotInfo("snap-0123456789abcdef0", 8, key, shared_with=shared)
    launch = LaunchPermissions(accounts=frozenset({A})) if launch is None else launch
    return ImageInfo("ami-0123456789abcdef0", "golden", OWNER, REGION, "available", (snapshot,), launch)


def doctor_facts(
    image: ImageInfo | None = None, key: KeyInfo | None = None, state: str = "available", **extra: Any
) -> DoctorFacts:
    """What doctor observes of the image for account A in REGION (default: shared through all three gates)."""
    image = image_info() if image is None and state == "available" else image
    keys = {KEY: key if key is not None else key_info(*statements_for(REGION, KeyAccess(accounts=frozenset({A}))))}
    return DoctorFacts("ami-0123456789abcdef0", A, REGION, state, image, keys, **extra)


DOCTOR_SCENARIOS: list[DoctorFacts] = [
    doctor_facts(state="missing", elsewhere=(OTHER_REGION,)),
    doctor_facts(state="missing"),
    doctor_facts(state="deregistered", image=image_info()),
    doctor_facts(state="pending", image=image_info()),
    doctor_facts(state="failed", image=image_info()),
    doctor_facts(state="disabled", image=image_info()),
    doctor_facts(key=key_info(manager="AWS")),
    doctor_facts(key=key_info(manager="AWS"), share_key="alias/amishare-share"),  # amishare.toml's share_key
    doctor_facts(deprecation_time="2026-01-01T00:00:00Z"),
    doctor_facts(image=image_info(launch=LaunchPermissions(), shared=frozenset())),
    doctor_facts(key=key_info()),
    doctor_facts(
        key=key_info(
            {
                "Sid": "OtherRegion",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                "Action": ["kms:Decrypt", "kms:CreateGrant", "kms:DescribeKey", "kms:ReEncrypt*"],
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:ViaService": f"ec2.{OTHER_REGION}.amazonaws.com"}},
            }
        )
    ),
    doctor_facts(
        key=key_info({"Sid": "NoOne", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"})
    ),
    doctor_facts(key=key_info(state="Disabled")),
    doctor_facts(target=TargetView(sees_image=True, dest_key_ref="alias/mine")),
    doctor_facts(target=TargetView(sees_image=False, allowed_state="enabled", image_allowed=False)),
    doctor_facts(
        key=key_info(
            {"Sid": "Gone", "Effect": "Allow", "Principal": {"AWS": "AROAABCDEFGHIJKLMNOP"}, "Action": "kms:*"}
        )
    ),
    doctor_facts(target=TargetView(sees_image=True, refused={"launch": "UnauthorizedOperation"})),
]


def audit_fixes() -> Iterable[tuple[str, str]]:
    """(code, fix) of every finding of an estate that holds every audit code."""
    public = SnapshotInfo("snap-000000000000000a1", 8, None, public=True)
    encrypted = SnapshotInfo("snap-000000000000000b2", 8, KEY, shared_with=frozenset({B, C}))
    unscoped = {"Sid": "Loose", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{B}:root"}, "Action": "kms:*"}
    images = (
        ImageInfo(
            "ami-000000000000000a1", "open", OWNER, REGION, "available", (public,), LaunchPermissions(public=True)
        ),
        ImageInfo(
            "ami-000000000000000b2",
            "shared",
            OWNER,
            REGION,
            "available",
            (encrypted,),
            LaunchPermissions(accounts=frozenset({A, C})),
        ),
    )
    read = AccountRegion(OWNER, REGION, images, (public, encrypted), {KEY: key_info(unscoped)}, "unblocked")
    for finding in audit([read], Allowlist(accounts=frozenset({A}))).findings:
        yield finding.code, finding.fix


def doctor_fixes() -> Iterable[tuple[str, str]]:
    """(code, fix) of every cause of the scenarios, one or more per doctor code."""
    for facts in DOCTOR_SCENARIOS:
        for capability in diagnose(facts, NOW).capabilities.values():
            for cause in capability.causes:
                yield cause.code, cause.fix


EXPECTED_KEY = key_info()  # verify --key: another key than the image's


def verify_fixes(expected: KeyInfo | None = EXPECTED_KEY, share_key: str | None = None) -> Iterable[tuple[str, str]]:
    """(code, fix) of every finding of an image that fails verify in every way (``--shareable``, ``--key`` another
    key: ``expected``; the configured ``share_key``): an instance store volume, an unencrypted one, one on aws/ebs,
    one whose mapping and snapshot disagree."""
    ebs = f"arn:aws:kms:{REGION}:{OWNER}:key/0000abcd-12ab-34cd-56ef-1234567890ab"
    other = f"arn:aws:kms:{REGION}:{OWNER}:key/ffffabcd-12ab-34cd-56ef-1234567890ab"
    snapshots = (
        SnapshotInfo("snap-0123456789abcdef0", 8, None),
        SnapshotInfo("snap-0fedcba9876543210", 8, ebs),
        SnapshotInfo("snap-00000000000000001", 8, other),
    )
    volumes = (
        MappingInfo("/dev/xvda", "snap-0123456789abcdef0", encrypted=False),
        MappingInfo("/dev/xvdb", "snap-0fedcba9876543210", encrypted=True, key_arn=ebs),
        MappingInfo("/dev/xvdc", "snap-00000000000000001", encrypted=True, key_arn=KEY),
        MappingInfo("/dev/sdb", virtual_name="ephemeral0"),
    )
    image = ImageInfo("ami-0123456789abcdef0", "golden", OWNER, REGION, "available", snapshots, mappings=volumes)
    keys = {ebs: KeyInfo(ebs, OWNER, REGION, "AWS", aliases=("alias/aws/ebs",)), KEY: key_info()}
    for finding in verify(image, keys, expected=expected, shareable=True, share_key=share_key).findings:
        yield finding.code, finding.fix


def cleanup_texts() -> Iterable[tuple[str, str]]:
    """cleanup --include-shared's warnings about a hand-written key statement and a grant that still admit a
    consumer after the revocation (each names the AWS CLI commands that remove it)."""
    from amishare.planners.cleanup import AccountRegionFacts, still_admitted

    statement = {
        "Sid": "HandWritten",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
        "Action": ["kms:Decrypt", "kms:CreateGrant", "kms:ReEncrypt*", "kms:DescribeKey"],
        "Resource": "*",
    }
    key = KeyInfo(
        KEY, OWNER, REGION, "CUSTOMER", policy={"Version": "2012-10-17", "Statement": [ADMIN, statement]},
        grants=(GrantInfo("g-0123456789abcdef", f"arn:aws:iam::{A}:root", ("Decrypt",), "by-hand"),),
    )  # fmt: skip
    where = AccountRegionFacts(OWNER, REGION, (), {KEY: key})
    for text in still_admitted(where, image_info()):
        yield "CLEANUP_STILL_ADMITTED", text
