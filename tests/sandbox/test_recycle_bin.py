"""Rule: a deregistered image that a Recycle Bin retention rule covers (Region-level, or by tag) is kept in the
bin: listed by ListImagesInRecycleBin, gone from DescribeImages, restorable (Recycle Bin User Guide, "Recycle
Bin for AMIs"; docs/aws-facts.md section 3)."""

from __future__ import annotations

from amishare.sandbox import Sandbox
from tests.support.world import OWNER, REGION, REGION2, TARGET, Clients, error_of

DAYS = {"RetentionPeriodValue": 7, "RetentionPeriodUnit": "DAYS"}


def _binned(aws: Clients, account: str = OWNER, region: str = REGION) -> list[str]:
    return [i["ImageId"] for i in aws(account, "ec2", region).list_images_in_recycle_bin()["Images"]]


def test_rule_without_a_rule_a_deregistered_image_is_gone(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "old", kms_key=None)
    aws(OWNER, "ec2").deregister_image(ImageId=image)
    assert _binned(aws) == []


def test_rule_a_region_level_rule_keeps_every_image_and_a_restore_brings_it_back(sb: Sandbox, aws: Clients) -> None:
    rbin = aws(OWNER, "rbin")
    rule = rbin.create_rule(ResourceType="EC2_IMAGE", RetentionPeriod=DAYS, Description="keep a week")
    assert rbin.get_rule(Identifier=rule["Identifier"])["RetentionPeriod"] == DAYS
    assert [r["Identifier"] for r in rbin.list_rules(ResourceType="EC2_IMAGE")["Rules"]] == [rule["Identifier"]]
    image = sb.seed_image(OWNER, REGION, "old", kms_key=None)
    ec2 = aws(OWNER, "ec2")
    ec2.deregister_image(ImageId=image)
    (binned,) = aws(OWNER, "ec2").list_images_in_recycle_bin()["Images"]
    assert binned["ImageId"] == image and binned["RecycleBinExitTime"] > binned["RecycleBinEnterTime"]
    assert _binned(aws, TARGET) == [] and _binned(aws, OWNER, REGION2) == []
    assert ec2.restore_image_from_recycle_bin(ImageId=image)["Return"] is True
    assert ec2.describe_images(ImageIds=[image])["Images"][0]["State"] == "available" and _binned(aws) == []
    rbin.delete_rule(Identifier=rule["Identifier"])
    assert error_of(rbin.get_rule, Identifier=rule["Identifier"])["Code"] == "ResourceNotFoundException"


def test_rule_a_tag_level_rule_keeps_only_the_images_with_its_tag(sb: Sandbox, aws: Clients) -> None:
    aws(OWNER, "rbin").create_rule(
        ResourceType="EC2_IMAGE",
        RetentionPeriod=DAYS,
        ResourceTags=[{"ResourceTagKey": "keep", "ResourceTagValue": "yes"}],
    )
    kept = sb.seed_image(OWNER, REGION, "kept", kms_key=None, tags={"keep": "yes"})
    dropped = sb.seed_image(OWNER, REGION, "dropped", kms_key=None)
    for image in (kept, dropped):
        aws(OWNER, "ec2").deregister_image(ImageId=image)
    assert _binned(aws) == [kept]
    assert (
        error_of(aws(OWNER, "ec2").restore_image_from_recycle_bin, ImageId=dropped)["Code"] == "InvalidAMIID.NotFound"
    )
