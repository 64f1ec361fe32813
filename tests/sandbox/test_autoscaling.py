"""Rule: Auto Scaling launches as the account's service-linked role (AWSServiceRoleForAutoScaling), which a
key policy statement naming the account does not cover: an encrypted image shared from another account
launches through a group only once the target grants its service-linked role the key; without the grant the
instance is terminated and the scaling activity fails with Client error on launch (docs/aws-facts.md section 2;
EC2 Auto Scaling User Guide, "Required AWS KMS key policy for use with encrypted volumes")."""

from __future__ import annotations

from typing import Any

from amishare.policy import key_policy
from amishare.policy.access import AUTOSCALING_GRANT_OPERATIONS, AUTOSCALING_ROLE
from amishare.sandbox import Sandbox
from tests.support.key_policies import policy_document
from tests.support.world import OWNER, REGION, TARGET, Clients, error_of, share_by_hand


def _group(aws: Clients, image: str, name: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    asg = aws(TARGET, "autoscaling")
    asg.create_launch_configuration(LaunchConfigurationName=name, ImageId=image, InstanceType="t3.micro")
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchConfigurationName=name,
        MinSize=1,
        MaxSize=1,
        DesiredCapacity=1,
        AvailabilityZones=[f"{REGION}a"],
    )
    (group,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    return group["Instances"], asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]


def _shared(sb: Sandbox, aws: Clients) -> tuple[str, str]:
    access = key_policy.KeyAccess(accounts=frozenset({TARGET}), autoscaling=frozenset({TARGET}))
    key = sb.create_key(OWNER, REGION, policy=policy_document(*key_policy.statements_for(REGION, access)))
    image = sb.seed_image(OWNER, REGION, "golden", kms_key=key)
    share_by_hand(aws(OWNER, "ec2"), image, TARGET)
    return key, image


def test_rule_without_the_service_role_grant_the_group_cannot_launch_though_a_launch_by_hand_can(
    sb: Sandbox, aws: Clients
) -> None:
    _, image = _shared(sb, aws)
    (started,) = aws(TARGET, "ec2").run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"]
    (reservation,) = aws(TARGET, "ec2").describe_instances(InstanceIds=[started["InstanceId"]])["Reservations"]
    assert reservation["Instances"][0]["State"]["Name"] == "running"
    instances, (activity,) = _group(aws, image, "web")
    assert instances == []
    assert activity["StatusCode"] == "Failed"
    assert activity["StatusMessage"].endswith("Client.InternalError: Client error on launch")


def test_rule_with_the_grant_the_group_launches(sb: Sandbox, aws: Clients) -> None:
    key, image = _shared(sb, aws)
    aws(TARGET, "kms").create_grant(  # the target grants its own service-linked role (the policy lets it)
        KeyId=key,
        GranteePrincipal=AUTOSCALING_ROLE.format(account=TARGET),
        Operations=list(AUTOSCALING_GRANT_OPERATIONS),
    )
    (instance,), (activity,) = _group(aws, image, "web")
    assert instance["LifecycleState"] == "InService" and activity["StatusCode"] == "Successful"


def test_rule_an_unencrypted_shared_image_needs_no_grant(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "plain", kms_key=None)
    share_by_hand(aws(OWNER, "ec2"), image, TARGET, snapshots=False)
    (instance,), _ = _group(aws, image, "plain")
    assert instance["LifecycleState"] == "InService"


def test_rule_the_image_is_checked_when_the_launch_configuration_is_made(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "private", kms_key=None)
    create = aws(TARGET, "autoscaling").create_launch_configuration
    assert error_of(create, LaunchConfigurationName="x", ImageId=image, InstanceType="t3.micro")["Code"] == (
        "ValidationError"
    )
    refused = error_of(aws(TARGET, "autoscaling").put_scaling_policy, AutoScalingGroupName="x", PolicyName="p")
    assert refused["Code"] == "UnsupportedOperation"  # what is not emulated is refused, never passed to moto


def test_rule_a_group_made_with_a_launch_template_launches_its_version_s_image(sb: Sandbox, aws: Clients) -> None:
    # EC2 Auto Scaling API Reference, CreateAutoScalingGroup and LaunchTemplateSpecification (an id or a name, and a
    # version: a number, $Default when none, $Latest); accounts created since 2024-10-01 cannot create launch
    # configurations (EC2 Auto Scaling User Guide, "Launch configurations"). The service-linked role still launches.
    key, image = _shared(sb, aws)
    plain = sb.seed_image(OWNER, REGION, "plain", kms_key=None)
    share_by_hand(aws(OWNER, "ec2"), plain, TARGET, snapshots=False)
    ec2, asg = aws(TARGET, "ec2"), aws(TARGET, "autoscaling")
    template = ec2.create_launch_template(
        LaunchTemplateName="web", LaunchTemplateData={"ImageId": plain, "InstanceType": "t3.micro"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    ec2.create_launch_template_version(LaunchTemplateId=template, LaunchTemplateData={"ImageId": image})
    by_version = {
        "default": {"LaunchTemplateId": template},
        "latest": {"LaunchTemplateName": "web", "Version": "$Latest"},
    }
    for name, spec in by_version.items():
        asg.create_auto_scaling_group(
            AutoScalingGroupName=name, LaunchTemplate=spec, MinSize=1, MaxSize=1, DesiredCapacity=1
        )
    groups = {g["AutoScalingGroupName"]: g for g in asg.describe_auto_scaling_groups()["AutoScalingGroups"]}
    assert groups["default"]["LaunchTemplate"] == {
        "LaunchTemplateId": template,
        "LaunchTemplateName": "web",
        "Version": "$Default",
    }
    assert "LaunchConfigurationName" not in groups["default"]
    (instance,) = groups["default"]["Instances"]  # version 1: the unencrypted image, no grant needed
    launched = ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert launched["ImageId"] == plain and instance["LaunchTemplate"]["Version"] == "$Default"
    assert groups["latest"]["Instances"] == []  # version 2: the encrypted image, and no grant to the service role
    (activity,) = asg.describe_scaling_activities(AutoScalingGroupName="latest")["Activities"]
    assert activity["StatusMessage"].endswith("Client.InternalError: Client error on launch")
    aws(TARGET, "kms").create_grant(
        KeyId=key,
        GranteePrincipal=AUTOSCALING_ROLE.format(account=TARGET),
        Operations=list(AUTOSCALING_GRANT_OPERATIONS),
    )
    asg.create_auto_scaling_group(
        AutoScalingGroupName="granted",
        LaunchTemplate={"LaunchTemplateName": "web", "Version": "2"},
        MinSize=1,
        MaxSize=1,
        DesiredCapacity=1,
    )
    (granted,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["granted"])["AutoScalingGroups"]
    assert [i["LifecycleState"] for i in granted["Instances"]] == ["InService"]


def test_rule_a_launch_template_group_is_refused_what_it_cannot_launch(sb: Sandbox, aws: Clients) -> None:
    # CreateAutoScalingGroup: ValidationError, "You must use a valid fully-formed launch template. <why>" (observed:
    # ryanmurakami/hbfl#58; that an image the account cannot launch is refused then is the sandbox's choice); a
    # launch configuration and a template together are refused (CreateAutoScalingGroup API reference).
    private = sb.seed_image(OWNER, REGION, "private", kms_key=None)  # not shared with TARGET
    ec2, asg = aws(TARGET, "ec2"), aws(TARGET, "autoscaling")
    ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={"ImageId": private})
    cases = {
        "an image it cannot launch": {"LaunchTemplate": {"LaunchTemplateName": "web"}},
        "an unknown template": {"LaunchTemplate": {"LaunchTemplateName": "nope"}},
        "an unknown version": {"LaunchTemplate": {"LaunchTemplateName": "web", "Version": "7"}},
    }
    for why, spec in cases.items():
        error = error_of(asg.create_auto_scaling_group, AutoScalingGroupName="g", MinSize=1, MaxSize=1, **spec)
        assert error["Code"] == "ValidationError" and "valid fully-formed launch template" in error["Message"], why
    both = {"LaunchTemplate": {"LaunchTemplateName": "web"}, "LaunchConfigurationName": "web"}
    assert error_of(asg.create_auto_scaling_group, AutoScalingGroupName="g", MinSize=1, MaxSize=1, **both)["Code"] == (
        "ValidationError"
    )
    assert asg.describe_auto_scaling_groups()["AutoScalingGroups"] == []
