"""Rule: DescribeImageReferences names the caller's instances (by state), launch templates (in their most recent
versions) and SSM parameters (current value) that refer to an image, in its own account and region
(EC2 User Guide, "Identify your resources referencing specified AMIs")."""

from __future__ import annotations

from amishare.sandbox import Sandbox
from tests.support.world import OWNER, REGION, TARGET, Clients, error_of, share_by_hand


def _kinds(aws: Clients, account: str, image: str, **kwargs: object) -> list[str]:
    found = aws(account, "ec2").describe_image_references(ImageIds=[image], **kwargs)["ImageReferences"]
    return sorted(r["ResourceType"] for r in found)


def test_rule_instances_templates_and_parameters_refer_to_an_image(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "golden", kms_key=None)
    other = sb.seed_image(OWNER, REGION, "other", kms_key=None)
    ec2 = aws(OWNER, "ec2")
    assert _kinds(aws, OWNER, image, IncludeAllResourceTypes=True) == []
    (instance,) = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"]
    ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={"ImageId": image})
    aws(OWNER, "ssm").put_parameter(Name="/golden", Value=image, Type="String", DataType="aws:ec2:image")
    assert _kinds(aws, OWNER, image, IncludeAllResourceTypes=True) == [
        "ec2:Instance",
        "ec2:LaunchTemplate",
        "ssm:Parameter",
    ]
    assert _kinds(aws, OWNER, other, IncludeAllResourceTypes=True) == []
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    live = [
        {
            "ResourceType": "ec2:Instance",
            "ResourceTypeOptions": [{"OptionName": "state-name", "OptionValues": ["pending", "running"]}],
        }
    ]
    assert _kinds(aws, OWNER, image, ResourceTypes=live) == []
    assert _kinds(aws, OWNER, image, ResourceTypes=[{"ResourceType": "ec2:Instance"}]) == ["ec2:Instance"]


def test_rule_templates_are_checked_to_a_version_depth(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "golden", kms_key=None)
    newer = sb.seed_image(OWNER, REGION, "newer", kms_key=None)
    ec2 = aws(OWNER, "ec2")
    ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={"ImageId": image})
    ec2.create_launch_template_version(LaunchTemplateName="web", LaunchTemplateData={"ImageId": newer})
    depth = [
        {
            "ResourceType": "ec2:LaunchTemplate",
            "ResourceTypeOptions": [{"OptionName": "version-depth", "OptionValues": ["1"]}],
        }
    ]
    assert _kinds(aws, OWNER, image, ResourceTypes=depth) == []
    assert _kinds(aws, OWNER, image, ResourceTypes=[{"ResourceType": "ec2:LaunchTemplate"}]) == ["ec2:LaunchTemplate"]


def test_rule_only_the_callers_own_resources_and_the_limits(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "golden", kms_key=None)
    share_by_hand(aws(OWNER, "ec2"), image, TARGET)
    aws(TARGET, "ec2").run_instances(ImageId=image, MinCount=1, MaxCount=1)
    assert _kinds(aws, OWNER, image, IncludeAllResourceTypes=True) == []  # the target's use is its own to see
    assert _kinds(aws, TARGET, image, IncludeAllResourceTypes=True) == ["ec2:Instance"]
    refs = aws(OWNER, "ec2").describe_image_references
    assert error_of(refs, ImageIds=[image])["Code"] == "MissingParameter"
    assert error_of(refs, ImageIds=[image] * 11, IncludeAllResourceTypes=True)["Code"] == "InvalidParameterValue"
