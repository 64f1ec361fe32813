"""Recycle Bin for AMIs: retention rules, and deregistered images kept in the bin.

Rules (Recycle Bin User Guide, "Recycle Bin for AMIs"; Recycle Bin API Reference; EC2 API Reference,
"ListImagesInRecycleBin", "RestoreImageFromRecycleBin"; docs/aws-facts.md section 3):

* a rule (``CreateRule``) of resource type ``EC2_IMAGE`` retains, for its retention period, the images
  deregistered in its account and region: all of them (a Region-level rule, minus ``ExcludeResourceTags``),
  or those with one of its ``ResourceTags`` (a tag-level rule);
* a retained image is listed by ``ListImagesInRecycleBin`` (with its enter and exit times), is no longer
  described by ``DescribeImages`` (beyond its short ``deregistered`` tail), and can be restored
  (``RestoreImageFromRecycleBin``) until its exit time; it still counts toward the AMI quota.

Not emulated: snapshot rules (``EBS_SNAPSHOT`` rules are stored, and snapshots are deleted as without them),
rule locks, expiry of the bin (an image stays until restored).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from amishare.policy.evaluate import Caller
from amishare.sandbox.ec2.common import check_dry_run, check_image_id
from amishare.sandbox.state import Image, World, random_text, utcnow
from amishare.sandbox.wire.protocol import AwsFault

RESOURCE_TYPES = ("EC2_IMAGE", "EBS_SNAPSHOT")
_ID = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@dataclass
class Rule:
    identifier: str
    account: str
    region: str
    resource_type: str
    days: int
    tags: list[dict[str, str]] = field(default_factory=list)
    exclude: list[dict[str, str]] = field(default_factory=list)
    description: str = ""

    def retains(self, image: Image) -> bool:
        if self.resource_type != "EC2_IMAGE" or (image.account, image.region) != (self.account, self.region):
            return False
        if self.tags:
            return any(image.tags.get(t["ResourceTagKey"]) == t.get("ResourceTagValue", "") for t in self.tags)
        return not any(image.tags.get(t["ResourceTagKey"]) == t.get("ResourceTagValue", "") for t in self.exclude)

    def row(self) -> dict[str, Any]:
        return {
            "Identifier": self.identifier,
            "Description": self.description,
            "ResourceType": self.resource_type,
            "RetentionPeriod": {"RetentionPeriodValue": self.days, "RetentionPeriodUnit": "DAYS"},
            "ResourceTags": self.tags,
            "ExcludeResourceTags": self.exclude,
            "Status": "available",
            "LockState": "unlocked",
            "RuleArn": f"arn:aws:rbin:{self.region}:{self.account}:rule/{self.identifier}",
        }


@dataclass
class Binned:
    image: Image
    entered: dt.datetime
    exits: dt.datetime


def keep_if_retained(world: World, image: Image) -> bool:
    """Put a just-deregistered ``image`` in the bin when a rule retains it; whether one did."""
    rules = [r for r in world.rbin_rules.values() if r.retains(image)]
    if not rules:
        return False
    now = utcnow()
    world.recycle_bin[image.image_id] = Binned(image, now, now + dt.timedelta(days=max(r.days for r in rules)))
    return True


def route(method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The Recycle Bin action of a REST request, and its path parameters."""
    parts = [p for p in path.split("/") if p]
    if method == "POST" and parts == ["rules"]:
        return "CreateRule", {}
    if method == "POST" and parts == ["list-rules"]:
        return "ListRules", {}
    if len(parts) == 2 and parts[0] == "rules":
        return {"GET": "GetRule", "DELETE": "DeleteRule"}.get(method, "Unknown"), {"Identifier": parts[1]}
    return "Unknown", {}


class RbinHandlers:
    def __init__(self, world: World) -> None:
        self.world = world

    def CreateRule(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        kind = p.get("ResourceType")
        if kind not in RESOURCE_TYPES:
            raise AwsFault("ValidationException", f"ResourceType must be one of {', '.join(RESOURCE_TYPES)}")
        period = p.get("RetentionPeriod") or {}
        days = int(period.get("RetentionPeriodValue", 0))
        if not 1 <= days <= 365 or period.get("RetentionPeriodUnit") != "DAYS":
            raise AwsFault("ValidationException", "RetentionPeriod must be 1 to 365 DAYS")
        rule = Rule(
            random_text(_ID, 11),
            caller.account,
            region,
            str(kind),
            days,
            list(p.get("ResourceTags") or []),
            list(p.get("ExcludeResourceTags") or []),
            str(p.get("Description", "")),
        )
        with self.world.lock:
            self.world.rbin_rules[rule.identifier] = rule
        return rule.row()

    def _rule(self, caller: Caller, region: str, identifier: str) -> Rule:
        rule: Rule | None = self.world.rbin_rules.get(identifier)
        if rule is None or (rule.account, rule.region) != (caller.account, region):
            raise AwsFault("ResourceNotFoundException", f"Rule {identifier} not found", 404)
        return rule

    def GetRule(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            return self._rule(caller, region, str(p.get("Identifier", ""))).row()

    def DeleteRule(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            rule = self._rule(caller, region, str(p.get("Identifier", "")))
            del self.world.rbin_rules[rule.identifier]
        return {}

    def ListRules(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            rules = [
                r
                for r in self.world.rbin_rules.values()
                if (r.account, r.region) == (caller.account, region) and r.resource_type == p.get("ResourceType")
            ]
            rows = [
                {
                    k: v
                    for k, v in r.row().items()
                    if k in ("Identifier", "Description", "RetentionPeriod", "LockState", "RuleArn")
                }
                for r in rules
            ]
        return {"Rules": rows}


class RecycleBinImageHandlers:
    """The EC2 side: ListImagesInRecycleBin, RestoreImageFromRecycleBin."""

    def __init__(self, world: World) -> None:
        self.world = world

    def ListImagesInRecycleBin(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        wanted = set(p.get("ImageIds") or [])
        check_dry_run(p)
        with self.world.lock:
            rows = [
                {
                    "ImageId": b.image.image_id,
                    "Name": b.image.name,
                    "Description": b.image.description,
                    "RecycleBinEnterTime": b.entered,
                    "RecycleBinExitTime": b.exits,
                }
                for b in self.world.recycle_bin.values()
                if (b.image.account, b.image.region) == (caller.account, region)
                and (not wanted or b.image.image_id in wanted)
            ]
        return {"Images": rows}

    def RestoreImageFromRecycleBin(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        image_id = str(p.get("ImageId", ""))
        check_image_id(image_id)
        with self.world.lock:
            binned: Binned | None = self.world.recycle_bin.get(image_id)
            if binned is None or (binned.image.account, binned.image.region) != (caller.account, region):
                raise AwsFault("InvalidAMIID.NotFound", f"The image id '[{image_id}]' is not in the Recycle Bin")
            check_dry_run(p)
            del self.world.recycle_bin[image_id]
            self.world.deregistered.pop(image_id, None)
            binned.image.deregistered = False
            self.world.images[image_id] = binned.image
        return {"Return": True}
