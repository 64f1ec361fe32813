"""Rule: every account and region has an AWS managed key ``alias/aws/ebs`` (KeyManager AWS);
images and snapshots encrypted with it cannot be shared (docs/aws-facts.md section 2)."""

from __future__ import annotations

from amishare.sandbox import Sandbox
from tests.support.world import OWNER, REGION, REGION2, TARGET, Clients, error_of


def test_rule_aws_ebs_is_an_aws_managed_key_per_account_and_region(sb: Sandbox, aws: Clients) -> None:
    arns = set()
    for account in (OWNER, TARGET):
        for region in (REGION, REGION2):
            meta = aws(account, "kms", region).describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]
            assert meta["KeyManager"] == "AWS"
            assert meta["AWSAccountId"] == account
            assert meta["Arn"].startswith(f"arn:aws:kms:{region}:{account}:key/")
            arns.add(meta["Arn"])
    assert len(arns) == 4
    aliases = aws(OWNER, "kms").list_aliases()["Aliases"]
    assert "alias/aws/ebs" in {a["AliasName"] for a in aliases}


def test_rule_aws_managed_key_policy_cannot_be_changed(sb: Sandbox, aws: Clients) -> None:
    kms = aws(OWNER, "kms")
    arn = kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["Arn"]
    policy = kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"]
    assert "kms:ViaService" in policy
    assert error_of(kms.put_key_policy, KeyId=arn, PolicyName="default", Policy=policy)["Code"] == (
        "AccessDeniedException"
    )


def test_rule_sharing_an_aws_ebs_image_is_refused_with_aws_error(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8, 16], kms_key="aws/ebs")
    ec2 = aws(OWNER, "ec2")
    error = error_of(ec2.modify_image_attribute, ImageId=image, LaunchPermission={"Add": [{"UserId": TARGET}]})
    assert error == {
        "Code": "InvalidParameter",
        "Message": "Snapshots encrypted with the AWS Managed CMK can't be shared. Specify another snapshot.",
    }
    assert ec2.describe_image_attribute(ImageId=image, Attribute="launchPermission")["LaunchPermissions"] == []


def test_rule_sharing_an_aws_ebs_snapshot_is_refused_with_aws_error(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key="aws/ebs")
    ec2 = aws(OWNER, "ec2")
    snapshot = ec2.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    for form in (
        {"Attribute": "createVolumePermission", "OperationType": "add", "UserIds": [TARGET]},
        {"CreateVolumePermission": {"Add": [{"UserId": TARGET}]}},
    ):
        error = error_of(ec2.modify_snapshot_attribute, SnapshotId=snapshot, **form)
        assert error == {
            "Code": "OperationNotPermitted",
            "Message": "Encrypted snapshots with EBS default key cannot be shared",
        }
