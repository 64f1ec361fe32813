"""DescribeRegions as AWS answers it for an account of the ``aws`` partition (EC2 API Reference, DescribeRegions;
AWS Account Management Reference Guide, "Specify which AWS Regions your account can use").

The Regions enabled for the account by default (those introduced before 20 March 2019, ``opt-in-not-required``),
and without ``AllRegions`` only those: the opt-in Regions are disabled until the account enables them
(``not-opted-in``). ``RegionNames`` may name any Region, enabled or not. ``Filters``: ``endpoint``,
``opt-in-status``, ``region-name``. Other partitions' Regions (GovCloud, China) are never listed. moto lists them
all, with three opt-in Regions as enabled and the other partitions' besides: the overlay answers instead.
"""

from __future__ import annotations

from typing import Any

from amishare.policy.evaluate import Caller
from amishare.sandbox.ec2.common import check_dry_run
from amishare.sandbox.ec2.filters import apply_filters
from amishare.sandbox.state import World
from amishare.sandbox.wire.protocol import AwsFault

ENABLED_BY_DEFAULT = (
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
)
OPT_IN = (
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-west-1",
    "eu-central-2",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
)
_FIELDS = {
    "endpoint": lambda r: [r["Endpoint"]],
    "opt-in-status": lambda r: [r["OptInStatus"]],
    "region-name": lambda r: [r["RegionName"]],
}


def _region(name: str) -> dict[str, str]:
    status = "opt-in-not-required" if name in ENABLED_BY_DEFAULT else "not-opted-in"
    return {"RegionName": name, "Endpoint": f"ec2.{name}.amazonaws.com", "OptInStatus": status}


class RegionHandlers:
    def __init__(self, world: World) -> None:
        self.world = world

    def DescribeRegions(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        check_dry_run(p)
        names = [str(n) for n in p.get("RegionNames") or []]
        unknown = [n for n in names if n not in ENABLED_BY_DEFAULT and n not in OPT_IN]
        if unknown:  # what AWS answers for a name it does not know is not documented: refused, loudly
            raise AwsFault(
                "UnsupportedOperation",
                f"The amishare sandbox knows no region {unknown[0]!r} of the aws partition; see docs/sandbox.md.",
            )
        if names:
            regions = [_region(n) for n in names]
        else:
            listed = ENABLED_BY_DEFAULT + OPT_IN if p.get("AllRegions") else ENABLED_BY_DEFAULT
            regions = [_region(n) for n in sorted(listed)]
        return {"Regions": apply_filters(regions, p.get("Filters") or [], _FIELDS, lambda r: {})}
