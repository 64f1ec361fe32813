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
