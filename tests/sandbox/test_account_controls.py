"""Rules: image block public access, deprecation, deregistration protection,
DeregisterImage(DeleteAssociatedSnapshots), snapshots in use, and launch permission checks
(docs/aws-facts.md sections 3 and 5)."""

from __future__ import annotations

import datetime as dt

from amishare.sandbox import Sandbox
from tests.support.world import OTHER, OWNER, REGION, TARGET, Clients, error_of


def test_rule_image_block_public_access_refuses_public_sharing(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "golden", kms_key=None)
    ec2 = aws(OWNER, "ec2")
    assert ec2.get_image_block_public_access_state()["ImageBlockPublicAccessState"] == "unblocked"
    assert (
        ec2.enable_image_block_public_access(ImageBlockPublicAccessState="block-new-sharing")[
            "ImageBlockPublicAccessState"
        ]
        == "block-new-sharing"
    )
    assert ec2.get_image_block_public_access_state()["ImageBlockPublicAccessState"] == "block-new-sharing"
    assert (
        aws(OWNER, "ec2", "eu-west-1").get_image_block_public_access_state()["ImageBlockPublicAccessState"]
        == "unblocked"
    )  # per region
    error = error_of(ec2.modify_image_attribute, ImageId=image, LaunchPermission={"Add": [{"Group": "all"}]})
    assert error["Code"] == "OperationNotPermitted"
    ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": TARGET}]})  # private still works
    ec2.disable_image_block_public_access()
    ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"Group": "all"}]})
    assert ec2.describe_images(ImageIds=[image])["Images"][0]["Public"] is True


def test_rule_block_public_access_default_is_configurable(aws: Clients) -> None:
    with Sandbox(block_public_access_default="block-new-sharing") as sandbox:
        ec2 = sandbox.session(OWNER).client("ec2")
        assert ec2.get_image_block_public_access_state()["ImageBlockPublicAccessState"] == "block-new-sharing"


def test_rule_encrypted_images_cannot_be_public(sb: Sandbox, aws: Clients) -> None:
    key = sb.create_key(OWNER, REGION)
    image = sb.seed_image(OWNER, REGION, "golden", kms_key=key)
    error = error_of(
        aws(OWNER, "ec2").modify_image_attribute, ImageId=image, LaunchPermission={"Add": [{"Group": "all"}]}
    )
    assert error["Code"] == "InvalidParameter"


def test_rule_launch_permission_values_are_checked(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "golden", kms_key=None)
    ec2 = aws(OWNER, "ec2")
    for entry, code in [
        ({"UserId": "2222"}, "InvalidAMIAttributeItemValue"),
        ({"Group": "everyone"}, "InvalidAMIAttributeItemValue"),
        ({"OrganizationArn": "arn:aws:organizations::1:organization/x"}, "InvalidParameterValue"),
        ({"OrganizationalUnitArn": "ou-abcd-12345678"}, "InvalidParameterValue"),
    ]:
        assert error_of(ec2.modify_image_attribute, ImageId=image, LaunchPermission={"Add": [entry]})["Code"] == code
    assert (
        error_of(
            aws(TARGET, "ec2").modify_image_attribute, ImageId=image, LaunchPermission={"Add": [{"UserId": OTHER}]}
        )["Code"]
        == "InvalidAMIID.NotFound"
    )


def test_rule_batched_launch_permissions_and_reset(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "golden", kms_key=None)
    ec2 = aws(OWNER, "ec2")
    accounts = [f"{n:012d}" for n in range(500_000_000_000, 500_000_000_300)]
    ec2.modify_image_attribute(ImageId=image, Attribute="launchPermission", OperationType="add", UserIds=accounts)
    perms = ec2.describe_image_attribute(ImageId=image, Attribute="launchPermission")["LaunchPermissions"]
    assert len(perms) == 300
    ec2.reset_image_attribute(ImageId=image, Attribute="launchPermission")
    assert ec2.describe_image_attribute(ImageId=image, Attribute="launchPermission")["LaunchPermissions"] == []


def test_rule_deprecated_images_hidden_from_other_accounts_unless_asked(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "golden", kms_key=None)
    ec2 = aws(OWNER, "ec2")
    ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": TARGET}]})
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    assert ec2.enable_image_deprecation(ImageId=image, DeprecateAt=past)["Return"] is True
    assert ec2.describe_images(ImageIds=[image])["Images"][0]["DeprecationTime"].startswith(str(past.year))
    target = aws(TARGET, "ec2")
    assert target.describe_images(ExecutableUsers=["self"])["Images"] == []
    assert len(target.describe_images(ExecutableUsers=["self"], IncludeDeprecated=True)["Images"]) == 1
    assert len(target.describe_images(ImageIds=[image])["Images"]) == 1  # by id it stays visible
    assert len(ec2.describe_images(Owners=["self"])["Images"]) == 1  # the owner always sees it
    ec2.disable_image_deprecation(ImageId=image)
    assert "DeprecationTime" not in ec2.describe_images(ImageIds=[image])["Images"][0]


def test_rule_deregistration_protection(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "golden", kms_key=None)
    ec2 = aws(OWNER, "ec2")
    ec2.enable_image_deregistration_protection(ImageId=image)
    assert ec2.describe_images(ImageIds=[image])["Images"][0]["DeregistrationProtection"] == "enabled"
    assert error_of(ec2.deregister_image, ImageId=image)["Code"] == "OperationNotPermitted"
    ec2.disable_image_deregistration_protection(ImageId=image)
    ec2.deregister_image(ImageId=image)
    assert ec2.describe_images(ImageIds=[image])["Images"][0]["State"] == "deregistered"
    cooled = sb.seed_image(OWNER, REGION, "cooled", kms_key=None)
    ec2.enable_image_deregistration_protection(ImageId=cooled, WithCooldown=True)
    assert ec2.disable_image_deregistration_protection(ImageId=cooled)["Return"].startswith("disabled-until-")
    assert error_of(ec2.deregister_image, ImageId=cooled)["Code"] == "OperationNotPermitted"


def test_rule_deregister_keeps_snapshots_unless_asked(sb: Sandbox, aws: Clients) -> None:
    ec2 = aws(OWNER, "ec2")
    kept = sb.seed_image(OWNER, REGION, "kept", volumes_gib=[8], kms_key=None)
    kept_snapshot = ec2.describe_images(ImageIds=[kept])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    assert error_of(ec2.delete_snapshot, SnapshotId=kept_snapshot)["Code"] == "InvalidSnapshot.InUse"
    ec2.deregister_image(ImageId=kept)
    assert ec2.describe_snapshots(SnapshotIds=[kept_snapshot])["Snapshots"]
    ec2.delete_snapshot(SnapshotId=kept_snapshot)
    assert error_of(ec2.describe_snapshots, SnapshotIds=[kept_snapshot])["Code"] == "InvalidSnapshot.NotFound"
    gone = sb.seed_image(OWNER, REGION, "gone", volumes_gib=[8, 16], kms_key=None)
    snapshots = [
        m["Ebs"]["SnapshotId"] for m in ec2.describe_images(ImageIds=[gone])["Images"][0]["BlockDeviceMappings"]
    ]
    result = ec2.deregister_image(ImageId=gone, DeleteAssociatedSnapshots=True)
    assert sorted((r["SnapshotId"], r["ReturnCode"]) for r in result["DeleteSnapshotResults"]) == sorted(
        (s, "success") for s in snapshots
    )
    assert ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []


def test_rule_only_the_owner_deregisters(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "golden", kms_key=None)
    aws(OWNER, "ec2").modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": TARGET}]})
    assert error_of(aws(TARGET, "ec2").deregister_image, ImageId=image)["Code"] == "AuthFailure"


def test_rule_tags_on_images_and_snapshots(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "golden", kms_key=None)
    ec2 = aws(OWNER, "ec2")
    snapshot = ec2.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    ec2.create_tags(Resources=[image, snapshot], Tags=[{"Key": "amishare:run", "Value": "r1"}])
    assert ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:amishare:run", "Values": ["r1"]}])["Images"]
    rows = ec2.describe_tags(Filters=[{"Name": "key", "Values": ["amishare:run"]}])["Tags"]
    assert sorted(r["ResourceId"] for r in rows) == sorted([image, snapshot])
    ec2.delete_tags(Resources=[image], Tags=[{"Key": "amishare:run"}])
    assert "Tags" not in ec2.describe_images(ImageIds=[image])["Images"][0]
    assert error_of(ec2.create_tags, Resources=[image], Tags=[{"Key": "aws:x", "Value": "y"}])["Code"] == (
        "InvalidParameterValue"
    )


def test_rule_a_deregistered_image_is_described_by_id_to_its_owner_then_left_out_then_not_found() -> None:
    # docs/aws-facts.md section 3 (observed; EC2 API Reference "Eventual consistency"; hashicorp/terraform-provider-aws
    # #47945: "DescribeImages returns an empty result" for an AMI deregistered lately). The durations are the
    # sandbox's choice (deregistered_visible_seconds, deregistered_empty_seconds), on the sandbox's clock.
    now = [1000.0]
    with Sandbox(clock=lambda: now[0]) as sb:
        image = sb.seed_image(OWNER, REGION, "old", volumes_gib=[8], kms_key=None)
        other = sb.seed_image(OWNER, REGION, "other", volumes_gib=[8], kms_key=None)
        ec2, target = sb.session(OWNER, REGION).client("ec2"), sb.session(TARGET, REGION).client("ec2")
        ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": TARGET}]})
        ec2.deregister_image(ImageId=image)
        assert ec2.describe_images(ImageIds=[image])["Images"][0]["State"] == "deregistered"
        assert [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]] == [other]  # listings: at once
        assert error_of(target.describe_images, ImageIds=[image])["Code"] == "InvalidAMIID.NotFound"
        now[0] += sb.settings.deregistered_visible_seconds  # the short while is over: an empty answer, no error
        assert ec2.describe_images(ImageIds=[image])["Images"] == []
        assert [i["ImageId"] for i in ec2.describe_images(ImageIds=[image, other])["Images"]] == [other]
        assert error_of(target.describe_images, ImageIds=[image])["Code"] == "InvalidAMIID.NotFound"
        now[0] += sb.settings.deregistered_empty_seconds - 1
        assert ec2.describe_images(ImageIds=[image])["Images"] == []
        now[0] += 1  # the longer while is over too
        assert error_of(ec2.describe_images, ImageIds=[image])["Code"] == "InvalidAMIID.NotFound"


def test_rule_deregistering_an_image_again_while_it_is_described_as_deregistered_is_unavailable(
    sb: Sandbox, aws: Clients
) -> None:
    # EC2 API Reference, error codes: InvalidAMIID.Unavailable, "The specified AMI has been deregistered and is no
    # longer available"; docs/aws-facts.md section 3. That it lasts as long as the image is described as
    # deregistered, then NotFound, is the sandbox's choice.
    image = sb.seed_image(OWNER, REGION, "old", volumes_gib=[8], kms_key=None)
    ec2 = aws(OWNER, "ec2")
    ec2.deregister_image(ImageId=image)
    assert ec2.describe_images(ImageIds=[image])["Images"][0]["State"] == "deregistered"
    assert error_of(ec2.deregister_image, ImageId=image)["Code"] == "InvalidAMIID.Unavailable"
    assert error_of(aws(TARGET, "ec2").deregister_image, ImageId=image)["Code"] == "InvalidAMIID.NotFound"
    sb.settings.deregistered_visible_seconds = 0.0  # no longer described (an empty answer, then NotFound): gone
    assert error_of(ec2.deregister_image, ImageId=image)["Code"] == "InvalidAMIID.NotFound"


def test_rule_calls_on_an_image_still_described_as_deregistered_are_unavailable(sb: Sandbox, aws: Clients) -> None:
    # EC2 API Reference, error codes: InvalidAMIID.Unavailable, "The specified AMI has been deregistered and is no
    # longer available, or is not in a state from which you can launch an instance or modify attributes";
    # docs/aws-facts.md section 3. Which calls answer it, and for how long, is the sandbox's choice: its owner's
    # attribute, lifecycle and launch calls while it is described as deregistered; NotFound after, and to others.
    image = sb.seed_image(OWNER, REGION, "old", volumes_gib=[8], kms_key=None)
    ec2 = aws(OWNER, "ec2")
    ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": TARGET}]})
    ec2.deregister_image(ImageId=image)
    calls = {
        "ModifyImageAttribute": lambda: ec2.modify_image_attribute(
            ImageId=image, LaunchPermission={"Remove": [{"UserId": TARGET}]}
        ),
        "DescribeImageAttribute": lambda: ec2.describe_image_attribute(ImageId=image, Attribute="launchPermission"),
        "EnableImageDeprecation": lambda: ec2.enable_image_deprecation(
            ImageId=image, DeprecateAt=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        ),
        "RunInstances": lambda: ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1),
    }
    assert {name: error_of(call)["Code"] for name, call in calls.items()} == dict.fromkeys(
        calls, "InvalidAMIID.Unavailable"
    )
    assert error_of(aws(TARGET, "ec2").run_instances, ImageId=image, MinCount=1, MaxCount=1)["Code"] == (
        "InvalidAMIID.NotFound"
    )
    sb.settings.deregistered_visible_seconds = 0.0  # no longer described: gone
    assert {name: error_of(call)["Code"] for name, call in calls.items()} == dict.fromkeys(
        calls, "InvalidAMIID.NotFound"
    )
