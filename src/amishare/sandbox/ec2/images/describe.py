"""DescribeImages: which images a caller sees, and how each is described."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from amishare.policy.evaluate import Caller
from amishare.sandbox.ec2.allowed_images import allowed, setting
from amishare.sandbox.ec2.common import (
    can_launch,
    check_dry_run,
    check_image_id,
    deregistered_phase,
    deregistration_protection,
    image_not_found,
    image_state,
    paginate,
    tag_list,
    timestamp,
)
from amishare.sandbox.ec2.filters import IMAGE_FILTERS, IMAGE_PARAMETERS, filter_resources, select
from amishare.sandbox.state import Image, World, utcnow


def block_device_mappings(world: World, image: Image) -> list[dict[str, Any]]:
    """The image's mappings, each EBS one with the ``Encrypted`` and ``KmsKeyId`` of its snapshot."""
    mappings = []
    for mapping in image.mappings:
        row = json.loads(json.dumps(mapping))
        ebs = row.get("Ebs")
        if ebs and ebs.get("SnapshotId") in world.snapshots:
            snapshot = world.snapshots[ebs["SnapshotId"]]
            ebs["Encrypted"] = snapshot.encrypted
            if snapshot.encrypted:
                ebs["KmsKeyId"] = snapshot.kms_key_arn
        mappings.append(row)
    return mappings


def image_row(world: World, caller: Caller, image: Image) -> dict[str, Any]:
    """The image as DescribeImages describes it to ``caller``."""
    state, reason = image_state(world, image)
    out: dict[str, Any] = {
        "ImageId": image.image_id,
        "ImageLocation": f"{image.account}/{image.name}",
        "State": state,
        "OwnerId": image.account,
        "CreationDate": timestamp(image.created),
        "Public": image.public,
        "Architecture": image.architecture,
        "ImageType": "machine",
        "Name": image.name,
        "RootDeviceType": "ebs",
        "RootDeviceName": image.root_device_name,
        "BlockDeviceMappings": block_device_mappings(world, image),
        "VirtualizationType": image.virtualization_type,
        "Hypervisor": "xen",
        "EnaSupport": image.ena_support,
        "PlatformDetails": "Linux/UNIX",
        "UsageOperation": "RunInstances",
        "DeregistrationProtection": deregistration_protection(image),
    }
    if image.description:
        out["Description"] = image.description
    if reason:
        out["StateReason"] = reason
    if image.boot_mode:
        out["BootMode"] = image.boot_mode
    if image.deprecation_time:
        out["DeprecationTime"] = timestamp(image.deprecation_time)
    out.update(_owner_fields(caller, image))
    if image.source_image_id:
        out["SourceImageId"], out["SourceImageRegion"] = image.source_image_id, image.source_region
    if image.tags and caller.account == image.account:  # tags are the owner's alone
        out["Tags"] = tag_list(image.tags)
    verdict = allowed(world, image, caller.account, image.region)
    if verdict is not None:  # Allowed AMIs is enabled or in audit mode for the caller
        out["ImageAllowed"] = verdict
    return out


def _owner_fields(caller: Caller, image: Image) -> dict[str, Any]:
    """What only the owner is told: when the image was last launched."""
    if image.last_launched and caller.account == image.account:
        return {"LastLaunchedTime": timestamp(image.last_launched)}
    return {}


def _hidden(world: World, image: Image, caller: Caller, region: str) -> bool:
    """Allowed AMIs ``enabled`` hides what its criteria do not allow (``audit-mode`` only reports it)."""
    return (
        allowed(world, image, caller.account, region) is False
        and setting(world, caller.account, region).state == "enabled"
    )


def _visible_here(world: World, image: Image, caller: Caller, region: str) -> bool:
    return (
        image.region == region
        and can_launch(world, image, caller.account)
        and not _hidden(world, image, caller, region)
    )


def _listed_by_default(image: Image, caller: Caller, params: dict[str, Any], now: dt.datetime) -> bool:
    """A listing leaves out disabled images (unless ``IncludeDisabled``) and other accounts' deprecated ones
    (unless ``IncludeDeprecated``)."""
    if image.disabled and not params.get("IncludeDisabled"):
        return False
    deprecated = bool(image.deprecation_time and image.deprecation_time <= now)
    return bool(params.get("IncludeDeprecated")) or image.account == caller.account or not deprecated


class DescribeImageHandlers:
    """DescribeImages."""

    def __init__(self, world: World) -> None:
        self.world = world

    def DescribeImages(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        check_dry_run(p)
        world = self.world
        with world.lock:
            ids = p.get("ImageIds") or []
            images = self._by_id(caller, region, ids) if ids else self._listed(caller, region, p)
            images = select(world, caller, images, p, IMAGE_PARAMETERS)
            images = filter_resources(world, caller, images, p.get("Filters") or [], IMAGE_FILTERS)
            images.sort(key=lambda i: (i.created, i.image_id))
            page, token = paginate(images, p)
            out: dict[str, Any] = {"Images": [image_row(world, caller, i) for i in page]}
        if token:
            out["NextToken"] = token
        return out

    def _by_id(self, caller: Caller, region: str, ids: list[str]) -> list[Image]:
        """The images asked for by id (a fleet's poll must not scan every image of every account); an id the caller
        cannot see is ``InvalidAMIID.NotFound``, unless it is the caller's own deregistered lately: described as
        ``deregistered`` at first, then left out of the answer without an error (docs/aws-facts.md section 3)."""
        for image_id in ids:
            check_image_id(image_id)
        world = self.world
        candidates = [world.images[i] for i in dict.fromkeys(ids) if i in world.images]
        images = [i for i in candidates if _visible_here(world, i, caller, region)]
        found = {i.image_id for i in images}
        unfound = [i for i in ids if i not in found]
        phases = {i: deregistered_phase(world, caller, region, i) for i in unfound}
        missing = [i for i in unfound if phases[i] is None]
        if missing:
            raise image_not_found(missing)
        return images + [world.deregistered[i][0] for i in dict.fromkeys(unfound) if phases[i] == "described"]

    def _listed(self, caller: Caller, region: str, p: dict[str, Any]) -> list[Image]:
        """Every image the caller sees in ``region`` that a listing shows."""
        world = self.world
        visible = [i for i in world.images.values() if _visible_here(world, i, caller, region)]
        now = utcnow()
        return [i for i in visible if _listed_by_default(i, caller, p, now)]
