"""AWS's answers as amishare's model: DescribeImages, DescribeSnapshots, their permission attributes and
DescribeKey turned into ``ImageInfo``, ``SnapshotInfo``, ``LaunchPermissions`` and ``KeyInfo`` (pure)."""

from __future__ import annotations

from typing import Any

from amishare.model import ImageInfo, KeyInfo, LaunchPermissions, MappingInfo, SnapshotInfo


def launch_permissions(rows: list[dict[str, Any]]) -> LaunchPermissions:
    """DescribeImageAttribute's ``LaunchPermissions`` as data."""
    return LaunchPermissions(
        accounts=frozenset(p["UserId"] for p in rows if "UserId" in p),
        organizations=frozenset(p["OrganizationArn"] for p in rows if "OrganizationArn" in p),
        ous=frozenset(p["OrganizationalUnitArn"] for p in rows if "OrganizationalUnitArn" in p),
        public=any(p.get("Group") == "all" for p in rows),
    )


def snapshot_info(raw: dict[str, Any], permissions: list[dict[str, Any]]) -> SnapshotInfo:
    """A DescribeSnapshots entry and its ``CreateVolumePermissions`` as data."""
    return SnapshotInfo(
        snapshot_id=raw["SnapshotId"],
        size_gib=int(raw.get("VolumeSize", 0)),
        key_arn=raw.get("KmsKeyId") if raw.get("Encrypted") else None,
        shared_with=frozenset(p["UserId"] for p in permissions if "UserId" in p),
        public=any(p.get("Group") == "all" for p in permissions),
    )


def snapshot_ids(raw: dict[str, Any]) -> list[str]:
    """The EBS snapshots of a DescribeImages entry, in the order of its block device mappings."""
    return [m["Ebs"]["SnapshotId"] for m in raw.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("SnapshotId")]


def image_info(
    raw: dict[str, Any], region: str, launch: LaunchPermissions, snapshots: dict[str, SnapshotInfo]
) -> ImageInfo:
    """A DescribeImages entry as data, with its launch permission and its snapshots (from ``snapshots``, by id;
    one missing there is not the caller's to read, and left out)."""
    return ImageInfo(
        image_id=raw["ImageId"],
        name=raw.get("Name", ""),
        owner=raw["OwnerId"],
        region=region,
        state=raw.get("State", ""),
        snapshots=tuple(snapshots[i] for i in snapshot_ids(raw) if i in snapshots),
        launch=launch,
        tags=tags_of(raw),
        description=raw.get("Description", ""),
        mappings=tuple(mapping_info(m) for m in raw.get("BlockDeviceMappings", [])),
    )


def tags_of(raw: dict[str, Any]) -> dict[str, str]:
    """The tags of a Describe* entry (an image, a snapshot) as a dictionary."""
    return {str(t["Key"]): str(t["Value"]) for t in raw.get("Tags", [])}


def launch_template_ref(template: str) -> dict[str, str]:
    """How a call names a launch template given by id (``lt-...``) or by name."""
    return {"LaunchTemplateId": template} if template.startswith("lt-") else {"LaunchTemplateName": template}


def mapping_info(raw: dict[str, Any]) -> MappingInfo:
    """A block device mapping of a DescribeImages entry as data."""
    ebs = raw.get("Ebs") or {}
    return MappingInfo(
        device=str(raw.get("DeviceName", "")),
        snapshot_id=ebs.get("SnapshotId"),
        encrypted=ebs.get("Encrypted") if ebs else None,
        key_arn=ebs.get("KmsKeyId"),
        virtual_name=raw.get("VirtualName"),
    )


def key_info(meta: dict[str, Any], **read: Any) -> KeyInfo:
    """A ``KeyInfo`` from DescribeKey's metadata (and what else was ``read``: aliases, policy, grants)."""
    arn = str(meta["Arn"])
    return KeyInfo(
        arn=arn,
        account=str(meta["AWSAccountId"]),
        region=arn.split(":")[3],
        manager=meta.get("KeyManager", "CUSTOMER"),
        state=meta.get("KeyState", "Enabled"),
        spec=meta.get("KeySpec", "SYMMETRIC_DEFAULT"),
        usage=meta.get("KeyUsage", "ENCRYPT_DECRYPT"),
        **read,
    )
