"""Rule: RegisterImage keeps its block device mappings; images and snapshots report
``Encrypted`` and ``KmsKeyId`` (the key ARN) per volume (docs/aws-facts.md section 8)."""

from __future__ import annotations

from amishare.sandbox import Sandbox
from tests.support.world import OWNER, REGION, TARGET, Clients, error_of


def _snapshots(aws: Clients, image: str) -> list[str]:
    mappings = aws(OWNER, "ec2").describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"]
    return [m["Ebs"]["SnapshotId"] for m in mappings if "Ebs" in m]


def test_rule_register_image_keeps_block_device_mappings(sb: Sandbox, aws: Clients) -> None:
    key = sb.create_key(OWNER, REGION, alias="app")
    seed = sb.seed_image(OWNER, REGION, "seed", volumes_gib=[8, 20], kms_key=key)
    root, data = _snapshots(aws, seed)
    ec2 = aws(OWNER, "ec2")
    image = ec2.register_image(
        Name="registered",
        RootDeviceName="/dev/sda1",
        Architecture="arm64",
        VirtualizationType="hvm",
        BlockDeviceMappings=[
            {
                "DeviceName": "/dev/sda1",
                "Ebs": {"SnapshotId": root, "VolumeSize": 10, "VolumeType": "gp3", "DeleteOnTermination": True},
            },
            {
                "DeviceName": "/dev/sdf",
                "Ebs": {"SnapshotId": data, "VolumeType": "io2", "Iops": 3000, "DeleteOnTermination": False},
            },
            {"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"},
        ],
    )["ImageId"]
    described = ec2.describe_images(ImageIds=[image])["Images"][0]
    assert described["RootDeviceName"] == "/dev/sda1"
    assert described["Architecture"] == "arm64"
    by_device = {m["DeviceName"]: m for m in described["BlockDeviceMappings"]}
    assert by_device["/dev/sda1"]["Ebs"] == {
        "SnapshotId": root,
        "VolumeSize": 10,
        "VolumeType": "gp3",
        "DeleteOnTermination": True,
        "Encrypted": True,
        "KmsKeyId": key,
    }
    assert by_device["/dev/sdf"]["Ebs"]["VolumeSize"] == 20  # defaults to the snapshot's size
    assert by_device["/dev/sdf"]["Ebs"]["Iops"] == 3000
    assert by_device["/dev/sdf"]["Ebs"]["DeleteOnTermination"] is False
    assert by_device["/dev/sdb"] == {"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"}


def test_rule_register_image_refuses_bad_mappings(sb: Sandbox, aws: Clients) -> None:
    seed = sb.seed_image(OWNER, REGION, "seed", volumes_gib=[8], kms_key=None)
    (root,) = _snapshots(aws, seed)
    ec2 = aws(OWNER, "ec2")
    small = [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": root, "VolumeSize": 4}}]
    assert (
        error_of(ec2.register_image, Name="small", RootDeviceName="/dev/xvda", BlockDeviceMappings=small)["Code"]
        == "InvalidParameterValue"
    )
    dup = [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": root}}]
    assert (
        error_of(ec2.register_image, Name="seed", RootDeviceName="/dev/xvda", BlockDeviceMappings=dup)["Code"]
        == "InvalidAMIName.Duplicate"
    )
    foreign = aws(TARGET, "ec2")
    assert (
        error_of(foreign.register_image, Name="stolen", RootDeviceName="/dev/xvda", BlockDeviceMappings=dup)["Code"]
        == "InvalidSnapshot.NotFound"
    )


def test_rule_images_and_snapshots_report_encryption_per_volume(sb: Sandbox, aws: Clients) -> None:
    plain = sb.seed_image(OWNER, REGION, "plain", volumes_gib=[8], kms_key=None)
    managed = sb.seed_image(OWNER, REGION, "managed", volumes_gib=[8, 16], kms_key="aws/ebs")
    ec2, kms = aws(OWNER, "ec2"), aws(OWNER, "kms")
    ebs_key = kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["Arn"]
    plain_ebs = ec2.describe_images(ImageIds=[plain])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]
    assert plain_ebs["Encrypted"] is False
    assert "KmsKeyId" not in plain_ebs
    for mapping in ec2.describe_images(ImageIds=[managed])["Images"][0]["BlockDeviceMappings"]:
        assert mapping["Ebs"]["Encrypted"] is True
        assert mapping["Ebs"]["KmsKeyId"] == ebs_key
    snapshots = ec2.describe_snapshots(SnapshotIds=_snapshots(aws, managed))["Snapshots"]
    assert [(s["Encrypted"], s["KmsKeyId"], s["State"]) for s in snapshots] == [(True, ebs_key, "completed")] * 2
    assert sorted(s["VolumeSize"] for s in snapshots) == [8, 16]
    found = ec2.describe_images(
        Owners=["self"], Filters=[{"Name": "block-device-mapping.encrypted", "Values": ["false"]}]
    )["Images"]
    assert [i["ImageId"] for i in found] == [plain]
