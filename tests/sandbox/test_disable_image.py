"""Rule: DisableImage and EnableImage (docs/aws-facts.md section 5).

A disabled image cannot be launched or copied, is listed only with IncludeDisabled, and loses ALL
its launch permissions; EnableImage makes it available again but does not restore them."""

from __future__ import annotations

from amishare.sandbox import Sandbox
from tests.support.world import OWNER, REGION, REGION2, TARGET, Clients, error_of


def _listed(aws: Clients, account: str, image_id: str, **kwargs: object) -> bool:
    images = aws(account, "ec2").describe_images(**kwargs)["Images"]
    return image_id in {i["ImageId"] for i in images}


def test_rule_a_disabled_image_loses_every_launch_permission_and_enable_does_not_restore_them(
    sb: Sandbox, aws: Clients
) -> None:
    image = sb.seed_image(OWNER, REGION, "plain", volumes_gib=[8], kms_key=None)
    ec2 = aws(OWNER, "ec2")
    ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": TARGET}, {"Group": "all"}]})
    assert _listed(aws, TARGET, image, ExecutableUsers=["self"])

    assert ec2.disable_image(ImageId=image)["Return"] is True
    assert not _listed(aws, OWNER, image, Owners=["self"])  # hidden from listings ...
    (described,) = ec2.describe_images(Owners=["self"], IncludeDisabled=True)["Images"]  # ... unless asked
    assert described["State"] == "disabled"
    assert ec2.describe_image_attribute(ImageId=image, Attribute="launchPermission")["LaunchPermissions"] == []
    assert error_of(aws(TARGET, "ec2").describe_images, ImageIds=[image])["Code"] == "InvalidAMIID.NotFound"
    copy = error_of(aws(OWNER, "ec2", REGION2).copy_image, SourceImageId=image, SourceRegion=REGION, Name="copy")
    assert copy["Code"] == "IncorrectState"

    assert ec2.enable_image(ImageId=image)["Return"] is True
    assert ec2.describe_images(ImageIds=[image])["Images"][0]["State"] == "available"
    assert ec2.describe_image_attribute(ImageId=image, Attribute="launchPermission")["LaunchPermissions"] == []
    assert not _listed(aws, TARGET, image, ExecutableUsers=["self"])  # enable, then share again
    ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": TARGET}]})
    assert _listed(aws, TARGET, image, ExecutableUsers=["self"])


def test_rule_only_the_owner_disables_and_only_an_available_image(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "plain", volumes_gib=[8], kms_key=None)
    aws(OWNER, "ec2").modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": TARGET}]})
    assert (
        error_of(aws(TARGET, "ec2").disable_image, ImageId=image)["Code"] == "AuthFailure"
    )  # as other owner-only calls
    sb.settings.copy_seconds_per_gib = 10.0
    pending = aws(OWNER, "ec2").copy_image(SourceImageId=image, SourceRegion=REGION, Name="pending")["ImageId"]
    assert error_of(aws(OWNER, "ec2").disable_image, ImageId=pending)["Code"] == "IncorrectState"


def test_rule_a_disabled_image_cannot_be_shared(sb: Sandbox, aws: Clients) -> None:
    # EC2 API Reference, DisableImage: a disabled AMI cannot be shared (docs/aws-facts.md section 9). AWS does not
    # document the error code: InvalidAMIID.Unavailable is the sandbox's choice. Removing is not refused.
    image = sb.seed_image(OWNER, REGION, "plain", volumes_gib=[8], kms_key=None)
    ec2 = aws(OWNER, "ec2")
    ec2.disable_image(ImageId=image)
    for entries in ([{"UserId": TARGET}], [{"Group": "all"}]):
        error = error_of(ec2.modify_image_attribute, ImageId=image, LaunchPermission={"Add": entries})
        assert error["Code"] == "InvalidAMIID.Unavailable" and "disabled" in error["Message"], entries
    error = error_of(
        ec2.modify_image_attribute, ImageId=image, Attribute="launchPermission", OperationType="add", UserIds=[TARGET]
    )
    assert error["Code"] == "InvalidAMIID.Unavailable"
    ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Remove": [{"UserId": TARGET}]})
    assert ec2.describe_image_attribute(ImageId=image, Attribute="launchPermission")["LaunchPermissions"] == []
    ec2.enable_image(ImageId=image)
    ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": TARGET}]})
