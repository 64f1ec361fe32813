"""Rule: SSM parameters with the aws:ec2:image data type (AWS Systems Manager User Guide, "Native parameter
support for Amazon Machine Image IDs"): the value's form is checked at once; whether the account can use the
image is checked afterwards, and a parameter naming an image it cannot use is never created, though the call
answered with a version. Parameters are versioned; anything else in SSM is refused."""

from __future__ import annotations

from amishare.sandbox import Sandbox
from tests.support.world import OWNER, REGION, REGION2, TARGET, Clients, error_of, share_by_hand

PARAM = "/golden/al2023"


def test_rule_an_image_parameter_is_created_and_versioned(sb: Sandbox, aws: Clients) -> None:
    ssm = aws(OWNER, "ssm")
    first = sb.seed_image(OWNER, REGION, "one", kms_key=None)
    second = sb.seed_image(OWNER, REGION, "two", kms_key=None)
    assert ssm.put_parameter(Name=PARAM, Value=first, Type="String", DataType="aws:ec2:image")["Version"] == 1
    got = ssm.get_parameter(Name=PARAM)["Parameter"]
    assert (got["Value"], got["DataType"], got["Version"]) == (first, "aws:ec2:image", 1)
    assert error_of(ssm.put_parameter, Name=PARAM, Value=second, Type="String")["Code"] == "ParameterAlreadyExists"
    ssm.put_parameter(Name=PARAM, Value=second, Type="String", DataType="aws:ec2:image", Overwrite=True)
    assert ssm.get_parameter(Name=PARAM)["Parameter"]["Value"] == second
    assert ssm.get_parameter(Name=f"{PARAM}:1")["Parameter"]["Value"] == first
    assert [p["Version"] for p in ssm.get_parameter_history(Name=PARAM)["Parameters"]] == [1, 2]


def test_rule_the_form_is_checked_at_once(sb: Sandbox, aws: Clients) -> None:
    put = aws(OWNER, "ssm").put_parameter
    assert error_of(put, Name=PARAM, Value="golden", Type="String", DataType="aws:ec2:image")["Code"] == (
        "ValidationException"
    )
    image = sb.seed_image(OWNER, REGION, "one", kms_key=None)
    assert error_of(put, Name=PARAM, Value=image, Type="StringList", DataType="aws:ec2:image")["Code"] == (
        "ValidationException"
    )


def test_rule_an_image_the_account_cannot_use_is_answered_but_never_created(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "theirs", kms_key=None)
    ssm = aws(TARGET, "ssm")
    assert ssm.put_parameter(Name=PARAM, Value=image, Type="String", DataType="aws:ec2:image")["Version"] == 1
    assert error_of(ssm.get_parameter, Name=PARAM)["Code"] == "ParameterNotFound"  # not shared with it
    share_by_hand(aws(OWNER, "ec2"), image, TARGET)
    ssm.put_parameter(Name=PARAM, Value=image, Type="String", DataType="aws:ec2:image")
    assert ssm.get_parameter(Name=PARAM)["Parameter"]["Value"] == image
    elsewhere = sb.seed_image(TARGET, REGION2, "elsewhere", kms_key=None)  # its own, in another region
    ssm.put_parameter(Name=PARAM, Value=elsewhere, Type="String", DataType="aws:ec2:image", Overwrite=True)
    assert ssm.get_parameter(Name=PARAM)["Parameter"]["Value"] == image  # the version was never made


def test_rule_parameters_belong_to_an_account_and_region(sb: Sandbox, aws: Clients) -> None:
    aws(OWNER, "ssm").put_parameter(Name="/plain", Value="x", Type="String")
    assert error_of(aws(TARGET, "ssm").get_parameter, Name="/plain")["Code"] == "ParameterNotFound"
    assert error_of(aws(OWNER, "ssm", REGION2).get_parameter, Name="/plain")["Code"] == "ParameterNotFound"
    found = aws(OWNER, "ssm").get_parameters(Names=["/plain", "/missing"])
    assert [p["Name"] for p in found["Parameters"]] == ["/plain"] and found["InvalidParameters"] == ["/missing"]
    aws(OWNER, "ssm").delete_parameter(Name="/plain")
    assert error_of(aws(OWNER, "ssm").delete_parameter, Name="/plain")["Code"] == "ParameterNotFound"
    assert error_of(aws(OWNER, "ssm").describe_parameters)["Code"] == "UnsupportedOperation"
