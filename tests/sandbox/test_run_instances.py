"""Rule: launching an instance from an image (docs/aws-facts.md sections 1, 2, 5 and 7).

Launch needs the image's launch permission (not the snapshots'), an available image, the Allowed AMIs
setting's consent, and the launching principal's access to every volume's key through EC2 in the region.
A key it cannot use is not refused at call time: the instance goes to ``terminated`` with the state reason
``Client.InternalError: Client error on launch``. Volumes follow the image's mappings; a launch sets the
image's ``LastLaunchedTime``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from amishare.sandbox import Sandbox
from tests.support.key_policies import SCOPED, allow, policy_document
from tests.support.world import OTHER, OWNER, REGION, REGION2, TARGET, Clients, error_of, share_by_hand


def _launch(aws: Clients, account: str, image: str, region: str = REGION) -> dict[str, Any]:
    ec2 = aws(account, "ec2", region)
    (started,) = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"]
    assert started["State"]["Name"] == "pending"  # accepted, whatever happens next
    (reservation,) = ec2.describe_instances(InstanceIds=[started["InstanceId"]])["Reservations"]
    return dict(reservation["Instances"][0])


def test_rule_a_shared_unencrypted_image_launches_without_snapshot_permission(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "plain", volumes_gib=[8, 20], kms_key=None)
    share_by_hand(aws(OWNER, "ec2"), image, TARGET, snapshots=False)
    instance = _launch(aws, TARGET, image)
    assert instance["State"]["Name"] == "running"
    volumes = aws(TARGET, "ec2").describe_volumes()["Volumes"]
    assert sorted(v["Size"] for v in volumes) == [8, 20]  # one volume per mapping, of its size
    assert {v["Attachments"][0]["InstanceId"] for v in volumes} == {instance["InstanceId"]}
    assert not any(v["Encrypted"] for v in volumes)


def test_rule_launch_needs_the_launch_permission_in_the_region(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "plain", volumes_gib=[8], kms_key=None)
    run = aws(TARGET, "ec2").run_instances
    assert error_of(run, ImageId=image, MinCount=1, MaxCount=1)["Code"] == "InvalidAMIID.NotFound"
    share_by_hand(aws(OWNER, "ec2"), image, TARGET)
    other_region = aws(TARGET, "ec2", REGION2).run_instances
    assert error_of(other_region, ImageId=image, MinCount=1, MaxCount=1)["Code"] == "InvalidAMIID.NotFound"
    assert error_of(aws(OTHER, "ec2").run_instances, ImageId=image, MinCount=1, MaxCount=1)["Code"] == (
        "InvalidAMIID.NotFound"
    )


@pytest.mark.slow
def test_rule_an_unusable_key_terminates_the_instance_with_client_error_on_launch(sb: Sandbox, aws: Clients) -> None:
    key = sb.create_key(OWNER, REGION, alias="share", policy=policy_document())  # the owner alone
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key=key)
    share_by_hand(aws(OWNER, "ec2"), image, TARGET)
    instance = _launch(aws, TARGET, image)
    assert instance["State"]["Name"] == "terminated"
    assert instance["StateReason"] == {
        "Code": "Client.InternalError",
        "Message": "Client.InternalError: Client error on launch",
    }
    assert aws(TARGET, "ec2").describe_volumes()["Volumes"] == []  # its volumes are gone with it


def test_rule_key_access_is_judged_for_ec2_in_the_launch_region(sb: Sandbox, aws: Clients) -> None:
    other_region = {"StringEquals": {"kms:ViaService": f"ec2.{REGION2}.amazonaws.com"}}
    for condition, state in ((other_region, "terminated"), (SCOPED, "running")):
        key = sb.create_key(OWNER, REGION, policy=policy_document(allow(condition=condition)))
        image = sb.seed_image(OWNER, REGION, f"golden-{state}", volumes_gib=[8], kms_key=key)
        share_by_hand(aws(OWNER, "ec2"), image, TARGET, snapshots=False)
        assert _launch(aws, TARGET, image)["State"]["Name"] == state
    (volume,) = aws(TARGET, "ec2").describe_volumes()["Volumes"]
    assert volume["Encrypted"] is True and volume["KmsKeyId"] == key


def test_rule_a_grant_to_the_target_opens_the_key(sb: Sandbox, aws: Clients) -> None:
    key = sb.create_key(OWNER, REGION, policy=policy_document())
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key=key)
    share_by_hand(aws(OWNER, "ec2"), image, TARGET)
    aws(OWNER, "kms").create_grant(
        KeyId=key,
        GranteePrincipal=f"arn:aws:iam::{TARGET}:root",
        Operations=["DescribeKey", "CreateGrant", "Decrypt", "GenerateDataKeyWithoutPlaintext"],
    )
    assert _launch(aws, TARGET, image)["State"]["Name"] == "running"


def test_rule_aws_ebs_images_launch_in_the_owner_account_only(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "default", volumes_gib=[8], kms_key="aws/ebs")
    assert _launch(aws, OWNER, image)["State"]["Name"] == "running"


def test_rule_disabled_or_pending_images_cannot_be_launched(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "plain", volumes_gib=[8], kms_key=None)
    ec2 = aws(OWNER, "ec2")
    ec2.disable_image(ImageId=image)
    assert error_of(ec2.run_instances, ImageId=image, MinCount=1, MaxCount=1)["Code"] == "InvalidAMIID.Unavailable"
    ec2.enable_image(ImageId=image)
    sb.settings.copy_seconds_per_gib = 10.0
    pending = ec2.copy_image(SourceImageId=image, SourceRegion=REGION, Name="pending")["ImageId"]
    assert error_of(ec2.run_instances, ImageId=pending, MinCount=1, MaxCount=1)["Code"] == "InvalidAMIID.Unavailable"


def test_rule_allowed_amis_enabled_refuses_what_its_criteria_do_not_allow(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "plain", volumes_gib=[8], kms_key=None)
    share_by_hand(aws(OWNER, "ec2"), image, TARGET)
    target = aws(TARGET, "ec2")
    target.replace_image_criteria_in_allowed_images_settings(ImageCriteria=[{"ImageProviders": ["amazon"]}])
    target.enable_allowed_images_settings(AllowedImagesSettingsState="audit-mode")
    assert _launch(aws, TARGET, image)["State"]["Name"] == "running"  # audit mode restricts nothing
    target.enable_allowed_images_settings(AllowedImagesSettingsState="enabled")
    assert error_of(target.run_instances, ImageId=image, MinCount=1, MaxCount=1)["Code"] == "InvalidAMIID.NotFound"
    own = sb.seed_image(TARGET, REGION, "mine", volumes_gib=[8], kms_key=None)
    assert _launch(aws, TARGET, own)["State"]["Name"] == "running"  # own images are never restricted


def test_rule_a_launch_sets_last_launched_time_for_the_owner(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "plain", volumes_gib=[8], kms_key=None)
    ec2 = aws(OWNER, "ec2")
    assert "LastLaunchedTime" not in ec2.describe_images(ImageIds=[image])["Images"][0]
    assert "LastLaunchedTime" not in ec2.describe_image_attribute(ImageId=image, Attribute="lastLaunchedTime")
    share_by_hand(ec2, image, TARGET)
    _launch(aws, TARGET, image)
    described = ec2.describe_images(ImageIds=[image])["Images"][0]
    assert described["LastLaunchedTime"].startswith("20")
    attribute = ec2.describe_image_attribute(ImageId=image, Attribute="lastLaunchedTime")
    assert attribute["LastLaunchedTime"]["Value"] == described["LastLaunchedTime"]
    assert "LastLaunchedTime" not in aws(TARGET, "ec2").describe_images(ImageIds=[image])["Images"][0]


@pytest.mark.slow
def test_rule_terminate_and_filters(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "plain", volumes_gib=[8], kms_key=None)
    instance = _launch(aws, OWNER, image)
    ec2 = aws(OWNER, "ec2")
    running = ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["running"]}])
    assert [i["InstanceId"] for r in running["Reservations"] for i in r["Instances"]] == [instance["InstanceId"]]
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    assert (
        ec2.describe_instances(Filters=[{"Name": "image-id", "Values": [image]}])["Reservations"][0]["Instances"][0][
            "State"
        ]["Name"]
        == "terminated"
    )
    assert error_of(ec2.terminate_instances, InstanceIds=["i-0123456789abcdef0"])["Code"] == (
        "InvalidInstanceID.NotFound"
    )
    assert json.dumps(aws(TARGET, "ec2").describe_instances()["Reservations"]) == "[]"  # another account's


def _state(ec2: Any, instance_id: str) -> dict[str, Any]:
    (reservation,) = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return dict(reservation["Instances"][0])


def test_rule_stop_and_start_keep_the_instance_and_its_volumes(sb: Sandbox, aws: Clients) -> None:
    # StopInstances and StartInstances API references: a stopped instance keeps its EBS volumes and still refers to
    # its image (DescribeImageReferences, state-name stopped: EC2 User Guide "Identify your resources referencing
    # specified AMIs"); a terminated one cannot be stopped or started (IncorrectInstanceState, EC2 API error codes).
    # That it is stopped at once (AWS passes through stopping) is the sandbox's choice.
    image = sb.seed_image(OWNER, REGION, "plain", volumes_gib=[8], kms_key=None)
    ec2 = aws(OWNER, "ec2")
    instance = _launch(aws, OWNER, image)["InstanceId"]
    (stopping,) = ec2.stop_instances(InstanceIds=[instance])["StoppingInstances"]
    assert (stopping["PreviousState"]["Name"], stopping["CurrentState"]["Name"]) == ("running", "stopping")
    assert _state(ec2, instance)["State"] == {"Code": 80, "Name": "stopped"}
    stopped = ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["stopped"]}])
    assert [i["InstanceId"] for r in stopped["Reservations"] for i in r["Instances"]] == [instance]
    assert [v["Attachments"][0]["InstanceId"] for v in ec2.describe_volumes()["Volumes"]] == [instance]
    references = ec2.describe_image_references(
        ImageIds=[image],
        ResourceTypes=[
            {
                "ResourceType": "ec2:Instance",
                "ResourceTypeOptions": [{"OptionName": "state-name", "OptionValues": ["stopped"]}],
            }
        ],
    )["ImageReferences"]
    assert [r["Arn"].rsplit("/", 1)[-1] for r in references] == [instance]
    (starting,) = ec2.start_instances(InstanceIds=[instance])["StartingInstances"]
    assert (starting["PreviousState"]["Name"], starting["CurrentState"]["Name"]) == ("stopped", "pending")
    assert _state(ec2, instance)["State"]["Name"] == "running"
    ec2.terminate_instances(InstanceIds=[instance])
    for call in (ec2.stop_instances, ec2.start_instances):
        assert error_of(call, InstanceIds=[instance])["Code"] == "IncorrectInstanceState"
    assert error_of(aws(TARGET, "ec2").stop_instances, InstanceIds=[instance])["Code"] == "InvalidInstanceID.NotFound"


def test_rule_a_start_with_a_key_the_account_can_no_longer_use_goes_back_to_stopped(sb: Sandbox, aws: Clients) -> None:
    # AWS Knowledge Center, "encrypted volumes stop immediately": starting checks the volumes' keys as a launch does;
    # without access the instance goes from pending back to stopped, "Client.InternalError: Client error on launch".
    key = sb.create_key(OWNER, REGION, policy=policy_document(allow(condition=SCOPED)))
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key=key)
    share_by_hand(aws(OWNER, "ec2"), image, TARGET, snapshots=False)
    target = aws(TARGET, "ec2")
    instance = _launch(aws, TARGET, image)["InstanceId"]
    target.stop_instances(InstanceIds=[instance])
    aws(OWNER, "kms").put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(policy_document()))
    (starting,) = target.start_instances(InstanceIds=[instance])["StartingInstances"]
    assert starting["CurrentState"]["Name"] == "pending"  # accepted, whatever happens next
    described = _state(target, instance)
    assert described["State"]["Name"] == "stopped"
    assert described["StateReason"]["Message"] == "Client.InternalError: Client error on launch"
    aws(OWNER, "kms").put_key_policy(
        KeyId=key, PolicyName="default", Policy=json.dumps(policy_document(allow(condition=SCOPED)))
    )
    target.start_instances(InstanceIds=[instance])
    assert _state(target, instance)["State"]["Name"] == "running"


def test_rule_run_instances_resolves_an_ssm_parameter_given_as_the_image(sb: Sandbox, aws: Clients) -> None:
    # SSM User Guide, "Native parameter support for Amazon Machine Image IDs": run-instances --image-id
    # resolve:ssm:/golden-ami. The code for a missing parameter is the sandbox's choice (InvalidParameterValue).
    old = sb.seed_image(TARGET, REGION, "old", volumes_gib=[8], kms_key=None)
    new = sb.seed_image(TARGET, REGION, "new", volumes_gib=[8], kms_key=None)
    ssm = aws(TARGET, "ssm")
    ssm.put_parameter(Name="/golden/ami", Value=old, Type="String", DataType="aws:ec2:image")
    ssm.put_parameter(Name="/golden/ami", Value=new, Type="String", DataType="aws:ec2:image", Overwrite=True)
    assert _launch(aws, TARGET, "resolve:ssm:/golden/ami")["ImageId"] == new
    assert _launch(aws, TARGET, "resolve:ssm:/golden/ami:1")["ImageId"] == old
    ec2 = aws(TARGET, "ec2")
    missing = error_of(ec2.run_instances, ImageId="resolve:ssm:/golden/none", MinCount=1, MaxCount=1)
    assert missing["Code"] == "InvalidParameterValue" and "/golden/none" in missing["Message"]
    other = error_of(aws(OTHER, "ec2").run_instances, ImageId="resolve:ssm:/golden/ami", MinCount=1, MaxCount=1)
    assert other["Code"] == "InvalidParameterValue"  # the caller's own parameter: another account has none
