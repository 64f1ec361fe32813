"""Rule: service control policies limit member accounts (never the management account): at every level from
the root to the account some SCP must allow the request and none may deny it; this holds for what EC2 does with
the caller's credentials too (a KMS deny makes an encrypted launch fail). AWS Organizations User Guide,
"Service control policies", "SCP evaluation"."""

from __future__ import annotations

import json
from typing import Any

from amishare.sandbox import Sandbox
from tests.support.key_policies import SCOPED, allow, policy_document
from tests.support.world import OWNER, REGION, TARGET, Clients, error_of, share_by_hand


def _scp(aws: Clients, target: str, *statements: dict[str, Any]) -> str:
    org = aws(OWNER, "organizations")
    content = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    policy = org.create_policy(Content=content, Description="test", Name="guardrail", Type="SERVICE_CONTROL_POLICY")
    policy_id = policy["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=policy_id, TargetId=target)
    return str(policy_id)


DENY_LAUNCH = {"Effect": "Deny", "Action": "ec2:RunInstances", "Resource": "*"}


def _state(aws: Clients, image: str) -> str:
    ec2 = aws(TARGET, "ec2")
    (started,) = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"]
    (reservation,) = ec2.describe_instances(InstanceIds=[started["InstanceId"]])["Reservations"]
    return str(reservation["Instances"][0]["State"]["Name"])


def test_rule_a_deny_refuses_the_member_and_its_dry_runs_but_not_the_management_account(
    sb: Sandbox, aws: Clients
) -> None:
    sb.create_organization(OWNER, {"workloads": [TARGET]})
    image = sb.seed_image(OWNER, REGION, "plain", kms_key=None)
    share_by_hand(aws(OWNER, "ec2"), image, TARGET)
    policy = _scp(aws, TARGET, DENY_LAUNCH)
    run = aws(TARGET, "ec2").run_instances
    refused = error_of(run, ImageId=image, MinCount=1, MaxCount=1)
    assert refused["Code"] == "UnauthorizedOperation" and "service control policy" in refused["Message"]
    assert error_of(run, ImageId=image, MinCount=1, MaxCount=1, DryRun=True)["Code"] == "UnauthorizedOperation"
    assert aws(TARGET, "ec2").describe_images(ImageIds=[image])["Images"]  # what it does not deny still works
    own = sb.seed_image(OWNER, REGION, "own", kms_key=None)
    aws(OWNER, "ec2").run_instances(ImageId=own, MinCount=1, MaxCount=1)  # the management account is exempt
    aws(OWNER, "organizations").detach_policy(PolicyId=policy, TargetId=TARGET)
    assert _state(aws, image) == "running"


def test_rule_every_level_must_allow(sb: Sandbox, aws: Clients) -> None:
    _, ous = sb.create_organization(OWNER, {"workloads": [TARGET]})
    image = sb.seed_image(OWNER, REGION, "plain", kms_key=None)
    share_by_hand(aws(OWNER, "ec2"), image, TARGET)
    ou = ous["workloads"].rsplit("/", 1)[-1]
    _scp(aws, ou, {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"})
    assert _state(aws, image) == "running"  # FullAWSAccess is still attached to the OU
    aws(OWNER, "organizations").detach_policy(PolicyId="p-FullAWSAccess", TargetId=ou)
    assert aws(TARGET, "ec2").describe_images(ImageIds=[image])["Images"]
    run = aws(TARGET, "ec2").run_instances
    assert error_of(run, ImageId=image, MinCount=1, MaxCount=1)["Code"] == "UnauthorizedOperation"


def test_rule_a_kms_deny_makes_an_encrypted_launch_fail_though_the_key_policy_allows(sb: Sandbox, aws: Clients) -> None:
    sb.create_organization(OWNER, {"workloads": [TARGET]})
    key = sb.create_key(OWNER, REGION, policy=policy_document(allow(condition=SCOPED)))
    image = sb.seed_image(OWNER, REGION, "golden", kms_key=key)
    share_by_hand(aws(OWNER, "ec2"), image, TARGET)
    assert _state(aws, image) == "running"
    _scp(aws, TARGET, {"Effect": "Deny", "Action": "kms:*", "Resource": "*"})
    assert _state(aws, image) == "terminated"


def test_rule_only_service_control_policies_are_emulated(sb: Sandbox, aws: Clients) -> None:
    sb.create_organization(OWNER, {"workloads": [TARGET]})
    refused = error_of(
        aws(OWNER, "organizations").create_policy, Content="{}", Description="", Name="t", Type="TAG_POLICY"
    )
    assert refused["Code"] == "UnsupportedOperation"


def test_rule_scps_do_not_bind_a_service_linked_role(sb: Sandbox, aws: Clients) -> None:
    # AWS Organizations User Guide, "Service control policies": "SCPs do not affect any service-linked role."
    # An SCP denying KMS to the member stops its own encrypted launches, not its Auto Scaling group's.
    from amishare.policy import key_policy
    from amishare.policy.access import AUTOSCALING_GRANT_OPERATIONS, AUTOSCALING_ROLE

    sb.create_organization(OWNER, {"workloads": [TARGET]})
    access = key_policy.KeyAccess(accounts=frozenset({TARGET}), autoscaling=frozenset({TARGET}))
    key = sb.create_key(OWNER, REGION, policy=policy_document(*key_policy.statements_for(REGION, access)))
    image = sb.seed_image(OWNER, REGION, "golden", kms_key=key)
    share_by_hand(aws(OWNER, "ec2"), image, TARGET)
    aws(TARGET, "kms").create_grant(
        KeyId=key,
        GranteePrincipal=AUTOSCALING_ROLE.format(account=TARGET),
        Operations=list(AUTOSCALING_GRANT_OPERATIONS),
    )
    _scp(aws, TARGET, {"Effect": "Deny", "Action": "kms:*", "Resource": "*"})
    assert _state(aws, image) == "terminated"  # the member's own launch: bound
    asg = aws(TARGET, "autoscaling")
    asg.create_launch_configuration(LaunchConfigurationName="web", ImageId=image, InstanceType="t3.micro")
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web",
        LaunchConfigurationName="web",
        MinSize=1,
        MaxSize=1,
        DesiredCapacity=1,
        AvailabilityZones=[f"{REGION}a"],
    )
    (group,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"]
    assert [i["LifecycleState"] for i in group["Instances"]] == ["InService"]  # the service-linked role: not bound


def test_rule_a_data_perimeter_scp_leaves_ec2_s_own_use_of_a_key_alone(sb: Sandbox, aws: Clients) -> None:
    # IAM User Guide, "AWS global condition context keys": aws:ViaAWSService is true when a service uses the
    # principal's credentials on its behalf, false on the principal's own requests (always present). An SCP that
    # denies KMS unless through an AWS service stops the member's own KMS calls, not EC2's use for its launch.
    sb.create_organization(OWNER, {"workloads": [TARGET]})
    key = sb.create_key(OWNER, REGION, policy=policy_document(allow()))
    image = sb.seed_image(OWNER, REGION, "golden", kms_key=key)
    share_by_hand(aws(OWNER, "ec2"), image, TARGET)
    perimeter = {"Effect": "Deny", "Action": "kms:*", "Resource": "*"}
    _scp(aws, TARGET, {**perimeter, "Condition": {"BoolIfExists": {"aws:ViaAWSService": "false"}}})
    assert error_of(aws(TARGET, "kms").describe_key, KeyId=key)["Code"] == "AccessDeniedException"
    assert _state(aws, image) == "running"
