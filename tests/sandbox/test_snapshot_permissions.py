"""Rule: ModifySnapshotAttribute in both request forms; adding and removing in one call is
refused; at most 500 changes per call; encrypted snapshots are never public (docs/aws-facts.md
sections 1, 4 and 8)."""

from __future__ import annotations

from amishare.sandbox import Sandbox
from tests.support.world import OTHER, OWNER, REGION, TARGET, Clients, error_of


def _snapshot(sb: Sandbox, aws: Clients, kms_key: str | None = None) -> str:
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key=kms_key)
    mapping = aws(OWNER, "ec2").describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"][0]
    return str(mapping["Ebs"]["SnapshotId"])


def _permissions(aws: Clients, snapshot: str) -> list[dict[str, str]]:
    return list(
        aws(OWNER, "ec2").describe_snapshot_attribute(SnapshotId=snapshot, Attribute="createVolumePermission")[
            "CreateVolumePermissions"
        ]
    )


def test_rule_both_request_forms_add_and_remove(sb: Sandbox, aws: Clients) -> None:
    snapshot = _snapshot(sb, aws)
    ec2 = aws(OWNER, "ec2")
    ec2.modify_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission", OperationType="add", UserIds=[TARGET]
    )
    ec2.modify_snapshot_attribute(SnapshotId=snapshot, CreateVolumePermission={"Add": [{"UserId": OTHER}]})
    assert _permissions(aws, snapshot) == [{"UserId": TARGET}, {"UserId": OTHER}]
    ec2.modify_snapshot_attribute(SnapshotId=snapshot, CreateVolumePermission={"Remove": [{"UserId": TARGET}]})
    ec2.modify_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission", OperationType="remove", UserIds=[OTHER]
    )
    assert _permissions(aws, snapshot) == []


def test_rule_add_and_remove_in_one_call_is_refused(sb: Sandbox, aws: Clients) -> None:
    snapshot = _snapshot(sb, aws)
    error = error_of(
        aws(OWNER, "ec2").modify_snapshot_attribute,
        SnapshotId=snapshot,
        CreateVolumePermission={"Add": [{"UserId": TARGET}], "Remove": [{"UserId": OTHER}]},
    )
    assert error["Code"] == "InvalidParameterCombination"
    assert _permissions(aws, snapshot) == []


def test_rule_at_most_500_changes_per_call(sb: Sandbox, aws: Clients) -> None:
    snapshot = _snapshot(sb, aws)
    ec2 = aws(OWNER, "ec2")
    accounts = [f"{n:012d}" for n in range(100_000_000_000, 100_000_000_501)]
    error = error_of(
        ec2.modify_snapshot_attribute,
        SnapshotId=snapshot,
        Attribute="createVolumePermission",
        OperationType="add",
        UserIds=accounts,
    )
    assert error["Code"] == "InvalidParameterValue"
    ec2.modify_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission", OperationType="add", UserIds=accounts[:500]
    )
    assert len(_permissions(aws, snapshot)) == 500


def test_rule_malformed_account_and_encrypted_public_are_refused(sb: Sandbox, aws: Clients) -> None:
    key = sb.create_key(OWNER, REGION, alias="share")
    snapshot = _snapshot(sb, aws, kms_key=key)
    ec2 = aws(OWNER, "ec2")
    assert (
        error_of(
            ec2.modify_snapshot_attribute,
            SnapshotId=snapshot,
            Attribute="createVolumePermission",
            OperationType="add",
            UserIds=["12345"],
        )["Code"]
        == "InvalidUserID.Malformed"
    )
    error = error_of(
        ec2.modify_snapshot_attribute,
        SnapshotId=snapshot,
        Attribute="createVolumePermission",
        OperationType="add",
        GroupNames=["all"],
    )
    assert error["Code"] == "OperationNotPermitted"
    ec2.modify_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission", OperationType="add", UserIds=[TARGET]
    )  # a customer managed key can be shared
    assert _permissions(aws, snapshot) == [{"UserId": TARGET}]


def test_rule_only_the_owner_modifies_snapshot_permissions(sb: Sandbox, aws: Clients) -> None:
    snapshot = _snapshot(sb, aws)
    aws(OWNER, "ec2").modify_snapshot_attribute(
        SnapshotId=snapshot, CreateVolumePermission={"Add": [{"UserId": TARGET}]}
    )
    error = error_of(
        aws(TARGET, "ec2").modify_snapshot_attribute,
        SnapshotId=snapshot,
        CreateVolumePermission={"Add": [{"UserId": OTHER}]},
    )
    assert error["Code"] == "AuthFailure"
