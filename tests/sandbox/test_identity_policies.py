"""Rule: with enforce_iam, a role session's request needs its identity policies to allow the action on every
resource AWS authorizes it against, and an explicit deny wins; a key policy naming the account delegates to IAM,
also for what EC2 does with the key; root and GetCallerIdentity are never limited (IAM User Guide, "Policy
evaluation logic"; EC2 User Guide, "Permissions for copying an AMI"; KMS Developer Guide, "Allowing access
through IAM policies")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from amishare.sandbox import Sandbox
from tests.support.world import OWNER, REGION, TARGET, error_of, share_by_hand

ROLE = "Worker"


@pytest.fixture
def enforced() -> Iterator[Sandbox]:
    with Sandbox(enforce_iam=True) as sb:
        sb.reset()
        sb.create_role(TARGET, ROLE, trusted_account=TARGET)
        yield sb


def _allow(sb: Sandbox, *statements: dict[str, Any]) -> None:
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **s} for s in statements]}
    sb.session(TARGET).client("iam").put_role_policy(RoleName=ROLE, PolicyName="p", PolicyDocument=json.dumps(document))


def _as_role(sb: Sandbox, service: str, region: str = REGION) -> Any:
    credentials = (
        sb.session(TARGET)
        .client("sts")
        .assume_role(RoleArn=f"arn:aws:iam::{TARGET}:role/{ROLE}", RoleSessionName="worker")["Credentials"]
    )
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=sb.endpoint_url,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_rule_nothing_is_allowed_without_a_policy_but_the_callers_identity(enforced: Sandbox) -> None:
    ec2 = _as_role(enforced, "ec2")
    refused = error_of(ec2.describe_images, Owners=["self"])
    assert refused["Code"] == "UnauthorizedOperation" and "no identity-based policy allows" in refused["Message"]
    assert _as_role(enforced, "sts").get_caller_identity()["Account"] == TARGET
    assert enforced.session(TARGET, REGION).client("ec2").describe_images(Owners=["self"])  # root: never limited


def test_rule_resources_are_matched_and_a_deny_wins(enforced: Sandbox) -> None:
    mine = enforced.seed_image(TARGET, REGION, "mine", kms_key=None)
    other = enforced.seed_image(TARGET, REGION, "other", kms_key=None)
    _allow(enforced, {"Action": "ec2:DescribeImageAttribute", "Resource": f"arn:aws:ec2:{REGION}::image/{mine}"})
    ec2 = _as_role(enforced, "ec2")
    assert ec2.describe_image_attribute(ImageId=mine, Attribute="launchPermission")
    assert error_of(ec2.describe_image_attribute, ImageId=other, Attribute="launchPermission")["Code"] == (
        "UnauthorizedOperation"
    )
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "ec2:DescribeImageAttribute", "Resource": "*"},
        ],
    }
    enforced.session(TARGET).client("iam").put_role_policy(
        RoleName=ROLE, PolicyName="p", PolicyDocument=json.dumps(document)
    )
    assert error_of(ec2.describe_image_attribute, ImageId=mine, Attribute="launchPermission")["Code"] == (
        "UnauthorizedOperation"
    )


def test_rule_a_consumer_leaving_a_share_is_authorized_on_the_shared_image(enforced: Sandbox) -> None:
    """CancelImageLaunchPermission is authorized against the image (another account's) it names (Service
    Authorization Reference, Amazon EC2: resource type image)."""
    shared = enforced.seed_image(OWNER, REGION, "shared", kms_key=None)
    other = enforced.seed_image(OWNER, REGION, "other", kms_key=None)
    for image in (shared, other):
        share_by_hand(enforced.session(OWNER, REGION).client("ec2"), image, TARGET)
    _allow(enforced, {"Action": "ec2:CancelImageLaunchPermission", "Resource": f"arn:aws:ec2:{REGION}::image/{shared}"})
    ec2 = _as_role(enforced, "ec2")
    assert error_of(ec2.cancel_image_launch_permission, ImageId=other)["Code"] == "UnauthorizedOperation"
    assert ec2.cancel_image_launch_permission(ImageId=shared)["Return"] is True


def test_rule_copy_image_is_authorized_on_the_source_image_and_its_snapshots(enforced: Sandbox) -> None:
    source = enforced.seed_image(OWNER, REGION, "shared", kms_key=None)
    share_by_hand(enforced.session(OWNER, REGION).client("ec2"), source, TARGET)
    new_only = {"Action": "ec2:CopyImage", "Resource": f"arn:aws:ec2:{REGION}::image/ami-*"}
    _allow(enforced, new_only)
    ec2 = _as_role(enforced, "ec2")
    copy = {"SourceImageId": source, "SourceRegion": REGION, "Name": "copy"}
    assert error_of(ec2.copy_image, **copy)["Code"] == "UnauthorizedOperation"  # the snapshots are not allowed
    _allow(
        enforced,
        {
            "Action": "ec2:CopyImage",
            "Resource": [f"arn:aws:ec2:{REGION}::image/*", f"arn:aws:ec2:{REGION}::snapshot/*"],
        },
    )
    assert ec2.copy_image(**copy)["ImageId"].startswith("ami-")


def test_rule_a_key_policy_naming_the_account_delegates_to_iam_even_through_ec2(enforced: Sandbox) -> None:
    key = enforced.create_key(
        OWNER,
        REGION,
        policy={
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{OWNER}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{TARGET}:root"},
                    "Action": [
                        "kms:DescribeKey",
                        "kms:CreateGrant",
                        "kms:Decrypt",
                        "kms:GenerateDataKeyWithoutPlaintext",
                    ],
                    "Resource": "*",
                },
            ],
        },
    )
    image = enforced.seed_image(OWNER, REGION, "golden", kms_key=key)
    share_by_hand(enforced.session(OWNER, REGION).client("ec2"), image, TARGET)
    launch = {"Action": "ec2:RunInstances", "Resource": "*"}
    describe = {"Action": "ec2:DescribeInstances", "Resource": "*"}
    _allow(enforced, launch, describe)
    ec2 = _as_role(enforced, "ec2")

    def state() -> str:
        (started,) = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"]
        (reservation,) = ec2.describe_instances(InstanceIds=[started["InstanceId"]])["Reservations"]
        return str(reservation["Instances"][0]["State"]["Name"])

    assert state() == "terminated"  # the key policy delegates to IAM, and the role's policy says nothing of KMS
    _allow(
        enforced,
        launch,
        describe,
        {
            "Action": ["kms:DescribeKey", "kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext"],
            "Resource": key,
            "Condition": {"StringEquals": {"kms:ViaService": f"ec2.{REGION}.amazonaws.com"}},
        },
    )
    assert state() == "running"


def test_rule_resolve_ssm_needs_ssm_get_parameters_on_the_parameter(enforced: Sandbox) -> None:
    # SSM User Guide, "Native parameter support for Amazon Machine Image IDs": whoever runs run-instances with
    # resolve:ssm: needs ssm:GetParameters. The refusal's code is the sandbox's choice (EC2's UnauthorizedOperation).
    image = enforced.seed_image(TARGET, REGION, "golden", volumes_gib=[8], kms_key=None)
    enforced.session(TARGET).client("ssm").put_parameter(
        Name="/golden/ami", Value=image, Type="String", DataType="aws:ec2:image"
    )
    _allow(enforced, {"Action": "ec2:RunInstances", "Resource": "*"})
    ec2 = _as_role(enforced, "ec2")
    refused = error_of(ec2.run_instances, ImageId="resolve:ssm:/golden/ami", MinCount=1, MaxCount=1)
    assert refused["Code"] == "UnauthorizedOperation" and "ssm:GetParameters" in refused["Message"]
    assert f"arn:aws:ssm:{REGION}:{TARGET}:parameter/golden/ami" in refused["Message"]
    assert ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"]  # by id: no SSM permission needed
    _allow(
        enforced,
        {"Action": "ec2:RunInstances", "Resource": "*"},
        {"Action": "ssm:GetParameters", "Resource": f"arn:aws:ssm:{REGION}:{TARGET}:parameter/golden/*"},
    )
    (started,) = ec2.run_instances(ImageId="resolve:ssm:/golden/ami", MinCount=1, MaxCount=1)["Instances"]
    assert started["ImageId"] == image


def test_rule_an_image_parameter_needs_ec2_describe_images_or_it_is_silently_dropped(enforced: Sandbox) -> None:
    # SSM User Guide, "Native parameter support for Amazon Machine Image IDs": "To create an aws:ec2:image data type
    # parameter, the user must have both ssm:PutParameter and ec2:DescribeImages permissions"; the check runs after
    # the call answers, which then never creates the parameter.
    image = enforced.seed_image(TARGET, REGION, "golden", volumes_gib=[8], kms_key=None)
    parameters = f"arn:aws:ssm:{REGION}:{TARGET}:parameter/golden/*"
    _allow(enforced, {"Action": ["ssm:PutParameter", "ssm:GetParameter"], "Resource": parameters})
    ssm = _as_role(enforced, "ssm")
    answered = ssm.put_parameter(Name="/golden/ami", Value=image, Type="String", DataType="aws:ec2:image")
    assert answered["Version"] == 1
    assert error_of(ssm.get_parameter, Name="/golden/ami")["Code"] == "ParameterNotFound"
    _allow(
        enforced,
        {"Action": ["ssm:PutParameter", "ssm:GetParameter"], "Resource": parameters},
        {"Action": "ec2:DescribeImages", "Resource": "*"},
    )
    ssm.put_parameter(Name="/golden/ami", Value=image, Type="String", DataType="aws:ec2:image")
    assert ssm.get_parameter(Name="/golden/ami")["Parameter"]["Value"] == image
