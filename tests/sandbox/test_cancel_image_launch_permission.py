"""Rule: CancelImageLaunchPermission (docs/aws-facts.md section 1; CancelImageLaunchPermission API reference; EC2
User Guide "Cancel having an AMI shared with your AWS account").

A consumer removes its own account from the launch permission of an image shared with it by account id; it then
no longer sees the image. A share through its organization, an OU or `all` cannot be dropped this way (the code
AWS answers is not documented: InvalidParameter is the sandbox's choice), nor can the owner use it on its own
image. The owner can share again. Snapshot permissions are untouched."""

from __future__ import annotations

from amishare.sandbox import Sandbox
from tests.support.world import OTHER, OWNER, REGION, TARGET, Clients, error_of, share_by_hand


def _seen(aws: Clients, account: str, image: str) -> bool:
    return image in {i["ImageId"] for i in aws(account, "ec2").describe_images(ExecutableUsers=["self"])["Images"]}


def test_rule_a_consumer_drops_an_image_shared_with_its_account(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "plain", volumes_gib=[8], kms_key=None)
    share_by_hand(aws(OWNER, "ec2"), image, TARGET)
    share_by_hand(aws(OWNER, "ec2"), image, OTHER)
    consumer = aws(TARGET, "ec2")
    assert error_of(consumer.cancel_image_launch_permission, ImageId=image, DryRun=True)["Code"] == "DryRunOperation"
    assert _seen(aws, TARGET, image)  # a dry run changes nothing
    assert consumer.cancel_image_launch_permission(ImageId=image)["Return"] is True
    assert not _seen(aws, TARGET, image)
    assert error_of(consumer.describe_images, ImageIds=[image])["Code"] == "InvalidAMIID.NotFound"
    owner = aws(OWNER, "ec2")
    launch = owner.describe_image_attribute(ImageId=image, Attribute="launchPermission")["LaunchPermissions"]
    assert launch == [{"UserId": OTHER}]  # the other consumer keeps its share
    snapshot = owner.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    volume = owner.describe_snapshot_attribute(SnapshotId=snapshot, Attribute="createVolumePermission")
    assert {p["UserId"] for p in volume["CreateVolumePermissions"]} == {TARGET, OTHER}  # untouched
    # gone from its view: cancelling again is NotFound; the owner can share again
    assert error_of(consumer.cancel_image_launch_permission, ImageId=image)["Code"] == "InvalidAMIID.NotFound"
    owner.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": TARGET}]})
    assert _seen(aws, TARGET, image)


def test_rule_a_share_through_the_organization_or_public_cannot_be_dropped(sb: Sandbox, aws: Clients) -> None:
    organization, _ = sb.create_organization(OWNER, {"dev": [TARGET]})
    by_org = sb.seed_image(OWNER, REGION, "org", volumes_gib=[8], kms_key=None)
    public = sb.seed_image(OWNER, REGION, "public", volumes_gib=[8], kms_key=None)
    owner = aws(OWNER, "ec2")
    owner.modify_image_attribute(ImageId=by_org, LaunchPermission={"Add": [{"OrganizationArn": organization}]})
    owner.modify_image_attribute(ImageId=public, LaunchPermission={"Add": [{"Group": "all"}]})
    consumer = aws(TARGET, "ec2")
    for image in (by_org, public):
        refused = error_of(consumer.cancel_image_launch_permission, ImageId=image)
        assert refused["Code"] == "InvalidParameter" and "only its owner" in refused["Message"]
        assert [i["ImageId"] for i in consumer.describe_images(ImageIds=[image])["Images"]] == [image]  # still seen
    own = error_of(owner.cancel_image_launch_permission, ImageId=public)
    assert own["Code"] == "InvalidParameter" and "your own image" in own["Message"]
