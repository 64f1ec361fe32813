"""Rule: launch templates are versioned ($Default, $Latest, SourceVersion), and an image id may be an SSM
parameter (resolve:ssm:NAME) resolved at launch and by DescribeLaunchTemplateVersions with ResolveAlias
(EC2 User Guide, "Launch templates", "Use a Systems Manager parameter instead of an AMI ID")."""

from __future__ import annotations

from typing import Any

from amishare.sandbox import Sandbox
from tests.support.world import OWNER, REGION, TARGET, Clients, error_of

PARAM = "/golden/web"


def _launch(ec2: Any, **template: str) -> str:
    (started,) = ec2.run_instances(LaunchTemplate=template, MinCount=1, MaxCount=1)["Instances"]
    return str(started["ImageId"])


def test_rule_versions_default_and_latest(sb: Sandbox, aws: Clients) -> None:
    one = sb.seed_image(OWNER, REGION, "one", kms_key=None)
    two = sb.seed_image(OWNER, REGION, "two", kms_key=None)
    ec2 = aws(OWNER, "ec2")
    made = ec2.create_launch_template(
        LaunchTemplateName="web", LaunchTemplateData={"ImageId": one, "InstanceType": "t3.micro"}
    )["LaunchTemplate"]
    assert (made["DefaultVersionNumber"], made["LatestVersionNumber"]) == (1, 1)
    version = ec2.create_launch_template_version(
        LaunchTemplateName="web", SourceVersion="1", LaunchTemplateData={"ImageId": two}
    )["LaunchTemplateVersion"]
    assert version["VersionNumber"] == 2 and version["LaunchTemplateData"]["InstanceType"] == "t3.micro"
    assert _launch(ec2, LaunchTemplateName="web") == one  # the default is still 1
    assert _launch(ec2, LaunchTemplateName="web", Version="$Latest") == two
    ec2.modify_launch_template(LaunchTemplateId=made["LaunchTemplateId"], DefaultVersion="2")
    assert _launch(ec2, LaunchTemplateId=made["LaunchTemplateId"]) == two
    assert error_of(ec2.create_launch_template, LaunchTemplateName="web", LaunchTemplateData={})["Code"] == (
        "InvalidLaunchTemplateName.AlreadyExistsException"
    )
    assert error_of(aws(TARGET, "ec2").describe_launch_template_versions, LaunchTemplateName="web")["Code"] == (
        "InvalidLaunchTemplateName.NotFoundException"
    )


def test_rule_an_ssm_parameter_is_resolved_at_launch(sb: Sandbox, aws: Clients) -> None:
    one = sb.seed_image(OWNER, REGION, "one", kms_key=None)
    two = sb.seed_image(OWNER, REGION, "two", kms_key=None)
    ssm, ec2 = aws(OWNER, "ssm"), aws(OWNER, "ec2")
    ssm.put_parameter(Name=PARAM, Value=one, Type="String", DataType="aws:ec2:image")
    ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={"ImageId": f"resolve:ssm:{PARAM}"})
    shown = ec2.describe_launch_template_versions(LaunchTemplateName="web")["LaunchTemplateVersions"][0]
    assert shown["LaunchTemplateData"]["ImageId"] == f"resolve:ssm:{PARAM}"
    resolved = ec2.describe_launch_template_versions(LaunchTemplateName="web", ResolveAlias=True)
    assert resolved["LaunchTemplateVersions"][0]["LaunchTemplateData"]["ImageId"] == one
    assert _launch(ec2, LaunchTemplateName="web") == one
    ssm.put_parameter(Name=PARAM, Value=two, Type="String", DataType="aws:ec2:image", Overwrite=True)
    assert _launch(ec2, LaunchTemplateName="web") == two  # the next launch follows the parameter


def test_rule_only_the_fields_the_sandbox_keeps(sb: Sandbox, aws: Clients) -> None:
    refused = error_of(
        aws(OWNER, "ec2").create_launch_template,
        LaunchTemplateName="net",
        LaunchTemplateData={"SecurityGroupIds": ["sg-12345678"]},
    )
    assert refused["Code"] == "UnsupportedOperation" and "SecurityGroupIds" in refused["Message"]
