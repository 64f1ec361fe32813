"""Rule: unknown images and snapshots get a proper NotFound/Malformed error, never an HTTP 500,
on every call amishare uses (docs/aws-facts.md section 8)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from amishare.sandbox import Sandbox
from tests.support.world import OWNER, REGION, Clients, error_of

MISSING_IMAGE = "ami-0123456789abcdef0"
MISSING_SNAPSHOT = "snap-0123456789abcdef0"
LATER = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)

IMAGE_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("describe_images", {"ImageIds": ["IMAGE"]}),
    ("describe_image_attribute", {"ImageId": "IMAGE", "Attribute": "launchPermission"}),
    ("modify_image_attribute", {"ImageId": "IMAGE", "LaunchPermission": {"Add": [{"UserId": "222222222222"}]}}),
    ("reset_image_attribute", {"ImageId": "IMAGE", "Attribute": "launchPermission"}),
    ("copy_image", {"SourceImageId": "IMAGE", "SourceRegion": REGION, "Name": "copy"}),
    ("deregister_image", {"ImageId": "IMAGE"}),
    ("enable_image_deprecation", {"ImageId": "IMAGE", "DeprecateAt": LATER}),
    ("disable_image_deprecation", {"ImageId": "IMAGE"}),
    ("enable_image_deregistration_protection", {"ImageId": "IMAGE"}),
    ("disable_image_deregistration_protection", {"ImageId": "IMAGE"}),
    ("create_tags", {"Resources": ["IMAGE"], "Tags": [{"Key": "k", "Value": "v"}]}),
]
SNAPSHOT_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("describe_snapshots", {"SnapshotIds": ["SNAPSHOT"]}),
    ("describe_snapshot_attribute", {"SnapshotId": "SNAPSHOT", "Attribute": "createVolumePermission"}),
    (
        "modify_snapshot_attribute",
        {
            "SnapshotId": "SNAPSHOT",
            "Attribute": "createVolumePermission",
            "OperationType": "add",
            "UserIds": ["222222222222"],
        },
    ),
    ("copy_snapshot", {"SourceSnapshotId": "SNAPSHOT", "SourceRegion": REGION}),
    ("delete_snapshot", {"SnapshotId": "SNAPSHOT"}),
]


def _fill(value: Any, placeholder: str, real: str) -> Any:
    if value == placeholder:
        return real
    if isinstance(value, list):
        return [_fill(v, placeholder, real) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, placeholder, real) for k, v in value.items()}
    return value


@pytest.mark.parametrize(("operation", "params"), IMAGE_CALLS, ids=[c[0] for c in IMAGE_CALLS])
def test_rule_unknown_image_is_not_found(sb: Sandbox, aws: Clients, operation: str, params: dict[str, Any]) -> None:
    ec2 = aws(OWNER, "ec2")
    assert error_of(getattr(ec2, operation), **_fill(params, "IMAGE", MISSING_IMAGE))["Code"] == (
        "InvalidAMIID.NotFound"
    )
    assert error_of(getattr(ec2, operation), **_fill(params, "IMAGE", "ami-nothex"))["Code"] in (
        "InvalidAMIID.Malformed",
        "InvalidID",
    )


@pytest.mark.parametrize(("operation", "params"), SNAPSHOT_CALLS, ids=[c[0] for c in SNAPSHOT_CALLS])
def test_rule_unknown_snapshot_is_not_found(sb: Sandbox, aws: Clients, operation: str, params: dict[str, Any]) -> None:
    ec2 = aws(OWNER, "ec2")
    assert error_of(getattr(ec2, operation), **_fill(params, "SNAPSHOT", MISSING_SNAPSHOT))["Code"] == (
        "InvalidSnapshot.NotFound"
    )
    assert error_of(getattr(ec2, operation), **_fill(params, "SNAPSHOT", "snap-nothex"))["Code"] in (
        "InvalidSnapshotID.Malformed",
        "InvalidID",
    )


def test_rule_unknown_keys_are_not_found(sb: Sandbox, aws: Clients) -> None:
    kms = aws(OWNER, "kms")
    for ref in (
        "alias/nope",
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        f"arn:aws:kms:{REGION}:{OWNER}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    ):
        assert error_of(kms.describe_key, KeyId=ref)["Code"] == "NotFoundException"


def test_rule_ec2_calls_the_sandbox_does_not_emulate_say_so(sb: Sandbox, aws: Clients) -> None:
    error = error_of(
        aws(OWNER, "ec2").create_image_usage_report,
        ImageId=MISSING_IMAGE,
        ResourceTypes=[{"ResourceType": "ec2:Instance"}],
    )
    assert error["Code"] == "UnsupportedOperation"
    assert "sandbox.md" in error["Message"]


def test_rule_dry_run_checks_then_makes_no_change(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "golden", kms_key=None)
    ec2 = aws(OWNER, "ec2")
    error = error_of(
        ec2.modify_image_attribute, ImageId=image, DryRun=True, LaunchPermission={"Add": [{"UserId": "222222222222"}]}
    )
    assert error["Code"] == "DryRunOperation"
    assert ec2.describe_image_attribute(ImageId=image, Attribute="launchPermission")["LaunchPermissions"] == []
    assert not [c for c in sb.calls() if c.mutating]
