"""Rule: Allowed AMIs, a consumer account's criteria for the AMIs it may discover (docs/aws-facts.md section 5).

Off by default; ``enabled`` hides the images its criteria do not allow, ``audit-mode`` only reports them;
either way DescribeImages says ``ImageAllowed``; an account's own images are never restricted."""

from __future__ import annotations

from typing import Any

from amishare.sandbox import Sandbox
from tests.support.world import OTHER, OWNER, REGION, REGION2, TARGET, Clients, error_of


def _shared(sb: Sandbox, aws: Clients, name: str = "golden") -> str:
    image = sb.seed_image(OWNER, REGION, name, volumes_gib=[8], kms_key=None)
    aws(OWNER, "ec2").modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": TARGET}]})
    return image


def _seen(aws: Clients, image: str) -> dict[str, Any] | None:
    found = aws(TARGET, "ec2").describe_images(ExecutableUsers=["self"])["Images"]
    return next((i for i in found if i["ImageId"] == image), None)


def test_rule_off_by_default_and_silent(sb: Sandbox, aws: Clients) -> None:
    image = _shared(sb, aws)
    settings = aws(TARGET, "ec2").get_allowed_images_settings()
    assert (settings["State"], settings["ManagedBy"], settings.get("ImageCriteria")) == ("disabled", "account", None)
    seen = _seen(aws, image)
    assert seen is not None and "ImageAllowed" not in seen


def test_rule_enabled_hides_what_the_criteria_do_not_allow_but_never_own_images(sb: Sandbox, aws: Clients) -> None:
    image = _shared(sb, aws)
    own = sb.seed_image(TARGET, REGION, "mine", volumes_gib=[8], kms_key=None)
    ec2 = aws(TARGET, "ec2")
    ec2.replace_image_criteria_in_allowed_images_settings(ImageCriteria=[{"ImageProviders": [OTHER]}])
    assert ec2.enable_allowed_images_settings(AllowedImagesSettingsState="enabled")["AllowedImagesSettingsState"] == (
        "enabled"
    )
    assert _seen(aws, image) is None
    assert error_of(ec2.describe_images, ImageIds=[image])["Code"] == "InvalidAMIID.NotFound"
    (mine,) = ec2.describe_images(ImageIds=[own])["Images"]
    assert mine["ImageAllowed"] is True  # own images are never restricted
    assert aws(TARGET, "ec2", REGION2).describe_images(ExecutableUsers=["self"])["Images"] == []  # per region
    # the owner's view is its own account's setting (off): unchanged
    assert "ImageAllowed" not in aws(OWNER, "ec2").describe_images(ImageIds=[image])["Images"][0]

    ec2.replace_image_criteria_in_allowed_images_settings(
        ImageCriteria=[{"ImageProviders": [OTHER]}, {"ImageProviders": [OWNER], "ImageNames": ["gold*"]}]
    )
    seen = _seen(aws, image)
    assert seen is not None and seen["ImageAllowed"] is True  # any criterion; all of its parameters
    ec2.replace_image_criteria_in_allowed_images_settings(
        ImageCriteria=[{"ImageProviders": [OWNER], "ImageNames": ["silver*"]}]
    )
    assert _seen(aws, image) is None
    ec2.replace_image_criteria_in_allowed_images_settings(
        ImageCriteria=[{"ImageProviders": [OWNER], "CreationDateCondition": {"MaximumDaysSinceCreated": 30}}]
    )
    assert _seen(aws, image) is not None
    got = ec2.get_allowed_images_settings()
    assert got["State"] == "enabled" and got["ImageCriteria"][0]["ImageProviders"] == [OWNER]


def test_rule_audit_mode_reports_without_hiding(sb: Sandbox, aws: Clients) -> None:
    image = _shared(sb, aws)
    ec2 = aws(TARGET, "ec2")
    ec2.replace_image_criteria_in_allowed_images_settings(ImageCriteria=[{"ImageProviders": [OTHER]}])
    ec2.enable_allowed_images_settings(AllowedImagesSettingsState="audit-mode")
    seen = _seen(aws, image)
    assert seen is not None and seen["ImageAllowed"] is False
    assert ec2.disable_allowed_images_settings()["AllowedImagesSettingsState"] == "disabled"
    seen = _seen(aws, image)
    assert seen is not None and "ImageAllowed" not in seen


def test_rule_at_most_ten_criteria(sb: Sandbox, aws: Clients) -> None:
    criteria = [{"ImageProviders": [f"{n:012d}"]} for n in range(11)]
    error = error_of(aws(TARGET, "ec2").replace_image_criteria_in_allowed_images_settings, ImageCriteria=criteria)
    assert error["Code"] == "InvalidParameterValue"
