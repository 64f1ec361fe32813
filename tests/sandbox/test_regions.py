"""Rule: DescribeRegions lists the Regions enabled for the account, the opt-in ones only when asked for (EC2 API
Reference, DescribeRegions; AWS Account Management Reference Guide, "Specify which AWS Regions your account can
use")."""

from __future__ import annotations

from amishare.sandbox import Sandbox
from tests.support.world import OWNER, Clients, error_of


def _names(answer: dict[str, list[dict[str, str]]]) -> set[str]:
    return {r["RegionName"] for r in answer["Regions"]}


def test_rule_describe_regions_lists_the_enabled_regions_and_the_opt_in_ones_only_when_asked(
    sb: Sandbox, aws: Clients
) -> None:
    ec2 = aws(OWNER, "ec2")
    enabled = ec2.describe_regions()["Regions"]
    assert {r["OptInStatus"] for r in enabled} == {"opt-in-not-required"}
    assert {"us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1"} <= _names({"Regions": enabled})
    assert {"af-south-1", "ap-east-1", "me-south-1"}.isdisjoint(_names({"Regions": enabled}))  # opt-in: disabled
    assert len(enabled) == 17
    every = ec2.describe_regions(AllRegions=True)["Regions"]
    assert _names({"Regions": every}) > _names({"Regions": enabled})
    assert not any(r["RegionName"].startswith(("us-gov-", "cn-")) for r in every)  # another partition's, never
    (opt_in,) = ec2.describe_regions(RegionNames=["ap-southeast-4"])["Regions"]  # by name, enabled or not
    assert opt_in == {
        "RegionName": "ap-southeast-4",
        "Endpoint": "ec2.ap-southeast-4.amazonaws.com",
        "OptInStatus": "not-opted-in",
    }
    disabled = ec2.describe_regions(AllRegions=True, Filters=[{"Name": "opt-in-status", "Values": ["not-opted-in"]}])
    assert _names(disabled) == _names({"Regions": every}) - _names({"Regions": enabled})
    eu = ec2.describe_regions(Filters=[{"Name": "region-name", "Values": ["eu-*"]}])
    assert _names(eu) == {"eu-central-1", "eu-north-1", "eu-west-1", "eu-west-2", "eu-west-3"}
    assert error_of(ec2.describe_regions, RegionNames=["xx-nowhere-1"])["Code"] == "UnsupportedOperation"
