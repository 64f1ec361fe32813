"""Rule: CopyImage/CopySnapshot honour Encrypted and KmsKeyId; bad keys fail asynchronously
(docs/aws-facts.md section 2)."""

from __future__ import annotations

from typing import Any

import pytest

from amishare.sandbox import Sandbox
from tests.support.world import OWNER, REGION, REGION2, TARGET, Clients, error_of


def _volumes(ec2: Any, image: str) -> list[dict[str, Any]]:
    return [m["Ebs"] for m in ec2.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"]]


def _copy(ec2: Any, image: str, **kwargs: Any) -> str:
    return str(ec2.copy_image(SourceImageId=image, SourceRegion=REGION, Name="copy", **kwargs)["ImageId"])


@pytest.mark.parametrize("form", ["id", "arn", "alias", "alias-arn"])
def test_rule_copy_image_takes_every_form_of_key(sb: Sandbox, aws: Clients, form: str) -> None:
    key_arn = sb.create_key(OWNER, REGION, alias="share")
    ref = {
        "id": key_arn.rsplit("/", 1)[1],
        "arn": key_arn,
        "alias": "alias/share",
        "alias-arn": f"arn:aws:kms:{REGION}:{OWNER}:alias/share",
    }[form]
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8, 16], kms_key="aws/ebs")
    ec2 = aws(OWNER, "ec2")
    copy = _copy(ec2, image, Encrypted=True, KmsKeyId=ref)
    assert ec2.describe_images(ImageIds=[copy])["Images"][0]["State"] == "available"
    assert [(v["Encrypted"], v["KmsKeyId"]) for v in _volumes(ec2, copy)] == [(True, key_arn)] * 2
    snapshots = ec2.describe_snapshots(SnapshotIds=[v["SnapshotId"] for v in _volumes(ec2, copy)])["Snapshots"]
    assert {s["KmsKeyId"] for s in snapshots} == {key_arn}
    described = ec2.describe_images(ImageIds=[copy])["Images"][0]
    assert (described["SourceImageId"], described["SourceImageRegion"]) == (image, REGION)


def test_rule_kms_key_id_without_encrypted_is_refused(sb: Sandbox, aws: Clients) -> None:
    sb.create_key(OWNER, REGION, alias="share")
    image = sb.seed_image(OWNER, REGION, "golden", kms_key=None)
    ec2 = aws(OWNER, "ec2")
    error = error_of(ec2.copy_image, SourceImageId=image, SourceRegion=REGION, Name="copy-1", KmsKeyId="alias/share")
    assert error["Code"] == "InvalidParameterDependency"
    snapshot = _volumes(ec2, image)[0]["SnapshotId"]
    error = error_of(ec2.copy_snapshot, SourceSnapshotId=snapshot, SourceRegion=REGION, KmsKeyId="alias/share")
    assert error["Code"] == "InvalidParameterDependency"


def test_rule_key_in_another_region_fails_the_copy_asynchronously(sb: Sandbox, aws: Clients) -> None:
    other_region_key = sb.create_key(OWNER, REGION2, alias="share")
    image = sb.seed_image(OWNER, REGION, "golden", kms_key="aws/ebs")
    ec2 = aws(OWNER, "ec2")
    copy = _copy(ec2, image, Encrypted=True, KmsKeyId=other_region_key)  # accepted at call time
    described = ec2.describe_images(ImageIds=[copy])["Images"][0]
    assert described["State"] == "failed"
    assert "Given key ID is not accessible" in described["StateReason"]["Message"]
    snapshot = ec2.describe_snapshots(SnapshotIds=[_volumes(ec2, copy)[0]["SnapshotId"]])["Snapshots"][0]
    assert snapshot["State"] == "error"
    assert snapshot["StateMessage"].startswith("Given key ID is not accessible")


def test_rule_unknown_or_disabled_key_fails_the_copy_asynchronously(sb: Sandbox, aws: Clients) -> None:
    key = sb.create_key(OWNER, REGION, alias="share")
    image = sb.seed_image(OWNER, REGION, "golden", kms_key=None)
    ec2 = aws(OWNER, "ec2")
    missing = _copy(ec2, image, Encrypted=True, KmsKeyId="alias/does-not-exist")
    assert ec2.describe_images(ImageIds=[missing])["Images"][0]["State"] == "failed"
    aws(OWNER, "kms").disable_key(KeyId=key)
    disabled = ec2.copy_image(SourceImageId=image, SourceRegion=REGION, Name="copy-2", Encrypted=True, KmsKeyId=key)[
        "ImageId"
    ]
    described = ec2.describe_images(ImageIds=[disabled])["Images"][0]
    assert described["State"] == "failed"
    assert "Disabled" in described["StateReason"]["Message"]


def test_rule_key_the_caller_cannot_use_fails_the_copy(sb: Sandbox, aws: Clients) -> None:
    locked = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OWNER}:root"}, "Action": "kms:*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "kms:CreateGrant",
                "Resource": "*",
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
        ],
    }
    key = sb.create_key(OWNER, REGION, policy=locked)
    image = sb.seed_image(OWNER, REGION, "golden", kms_key=None)
    ec2 = aws(OWNER, "ec2")
    copy = _copy(ec2, image, Encrypted=True, KmsKeyId=key)
    described = ec2.describe_images(ImageIds=[copy])["Images"][0]
    assert described["State"] == "failed"
    assert "kms:CreateGrant" in described["StateReason"]["Message"]


def test_rule_encrypted_source_stays_encrypted_with_the_default_key(sb: Sandbox, aws: Clients) -> None:
    key = sb.create_key(OWNER, REGION, alias="app")
    image = sb.seed_image(OWNER, REGION, "golden", kms_key=key)
    ec2, kms = aws(OWNER, "ec2"), aws(OWNER, "kms")
    copy = _copy(ec2, image)  # no Encrypted, no KmsKeyId
    ebs_key = kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["Arn"]
    assert [(v["Encrypted"], v["KmsKeyId"]) for v in _volumes(ec2, copy)] == [(True, ebs_key)]


def test_rule_unencrypted_copy_follows_account_default_encryption(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "plain", kms_key=None)
    ec2 = aws(OWNER, "ec2")
    assert _volumes(ec2, _copy(ec2, image))[0]["Encrypted"] is False
    default = sb.create_key(OWNER, REGION, alias="default")
    assert ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is False
    ec2.enable_ebs_encryption_by_default()
    assert ec2.get_ebs_default_kms_key_id()["KmsKeyId"] == "alias/aws/ebs"
    assert ec2.modify_ebs_default_kms_key_id(KmsKeyId="alias/default")["KmsKeyId"] == default
    assert ec2.get_ebs_default_kms_key_id()["KmsKeyId"] == default
    copy = ec2.copy_image(SourceImageId=image, SourceRegion=REGION, Name="copy-2")["ImageId"]
    assert [(v["Encrypted"], v["KmsKeyId"]) for v in _volumes(ec2, copy)] == [(True, default)]
    ebs_arn = ec2.reset_ebs_default_kms_key_id()["KmsKeyId"]
    assert ebs_arn == aws(OWNER, "kms").describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["Arn"]


def test_rule_copy_snapshot_honours_encryption_and_reports_the_key(sb: Sandbox, aws: Clients) -> None:
    key = sb.create_key(OWNER, REGION2, alias="dr")
    image = sb.seed_image(OWNER, REGION, "plain", kms_key=None)
    snapshot = _volumes(aws(OWNER, "ec2"), image)[0]["SnapshotId"]
    ec2 = aws(OWNER, "ec2", REGION2)
    copy = ec2.copy_snapshot(
        SourceSnapshotId=snapshot,
        SourceRegion=REGION,
        Encrypted=True,
        KmsKeyId="alias/dr",
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "k", "Value": "v"}]}],
    )
    described = ec2.describe_snapshots(SnapshotIds=[copy["SnapshotId"]])["Snapshots"][0]
    assert (described["Encrypted"], described["KmsKeyId"], described["State"]) == (True, key, "completed")
    assert described["Tags"] == [{"Key": "k", "Value": "v"}]
    wrong = ec2.copy_snapshot(SourceSnapshotId=snapshot, SourceRegion=REGION, Encrypted=True, KmsKeyId="alias/missing")[
        "SnapshotId"
    ]
    failed = ec2.describe_snapshots(SnapshotIds=[wrong])["Snapshots"][0]
    assert failed["State"] == "error"
    assert failed["StateMessage"].startswith("Given key ID is not accessible")


def test_rule_copies_are_owned_by_the_caller_in_the_destination_region(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "plain", kms_key=None)
    ec2 = aws(OWNER, "ec2", REGION2)
    copy = ec2.copy_image(SourceImageId=image, SourceRegion=REGION, Name="dr-copy")["ImageId"]
    described = ec2.describe_images(ImageIds=[copy])["Images"][0]
    assert described["OwnerId"] == OWNER
    assert error_of(aws(OWNER, "ec2").describe_images, ImageIds=[copy])["Code"] == "InvalidAMIID.NotFound"
    assert error_of(aws(TARGET, "ec2", REGION2).describe_images, ImageIds=[copy])["Code"] == "InvalidAMIID.NotFound"
