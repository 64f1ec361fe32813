"""An image's life: RegisterImage, Disable/EnableImage, deprecation, deregistration protection, DeregisterImage."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from amishare.policy.evaluate import Caller
from amishare.sandbox import events, rbin
from amishare.sandbox.ec2.common import (
    AMI_NAME,
    check_dry_run,
    check_unique_name,
    deregistration_protection,
    image_state,
    owned_image,
    owned_snapshot,
    snapshot_state,
    tags_from_specs,
)
from amishare.sandbox.state import Image, World, new_id, utcnow
from amishare.sandbox.wire.protocol import AwsFault


def _registered_mapping(world: World, caller: Caller, region: str, mapping: dict[str, Any]) -> dict[str, Any]:
    """One mapping as RegisterImage keeps it (docs/aws-facts.md section 8): an EBS one must name a completed
    snapshot of the caller's, no larger than its volume; its size, deletion and type get their defaults."""
    row: dict[str, Any] = json.loads(json.dumps(mapping, default=str))
    ebs = row.get("Ebs")
    if ebs is None:
        return row
    snapshot = owned_snapshot(world, caller, region, ebs.get("SnapshotId", ""))
    if snapshot_state(world, snapshot)[0] != "completed":
        raise AwsFault("IncorrectState", f"Snapshot {snapshot.snapshot_id} is not completed")
    size = ebs.get("VolumeSize", snapshot.size_gib)
    if size < snapshot.size_gib:
        raise AwsFault(
            "InvalidParameterValue",
            f"Volume of {size} GiB is smaller than snapshot {snapshot.snapshot_id} ({snapshot.size_gib} GiB)",
        )
    ebs.update(
        VolumeSize=size,
        DeleteOnTermination=ebs.get("DeleteOnTermination", True),
        VolumeType=ebs.get("VolumeType", "gp3"),
    )
    ebs.pop("Encrypted", None)
    ebs.pop("KmsKeyId", None)
    return row


def _delete_snapshots(world: World, image: Image) -> list[dict[str, str]]:
    """``DeleteAssociatedSnapshots`` (docs/aws-facts.md section 3): a snapshot another image uses is skipped."""
    in_use = {s for other in world.images.values() for s in other.snapshot_ids()}
    results = []
    for snapshot_id in image.snapshot_ids():
        if snapshot_id in in_use:
            results.append({"SnapshotId": snapshot_id, "ReturnCode": "skipped"})
        else:
            world.snapshots.pop(snapshot_id, None)
            results.append({"SnapshotId": snapshot_id, "ReturnCode": "success"})
    return results


class ImageLifecycleHandlers:
    """RegisterImage, DisableImage, EnableImage, Enable/DisableImageDeprecation,
    Enable/DisableImageDeregistrationProtection, DeregisterImage."""

    def __init__(self, world: World) -> None:
        self.world = world

    # ------------------------------------------------------------------ register
    def RegisterImage(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        world = self.world
        name = p.get("Name", "")
        if not AMI_NAME.match(name):
            raise AwsFault(
                "InvalidAMIName.Malformed",
                f"AMI name {name!r} is invalid: 3-128 characters of letters, numbers, ( ) [ ] space . / - ' @ _",
            )
        mappings = p.get("BlockDeviceMappings") or []
        if not mappings:
            raise AwsFault("InvalidParameterValue", "An EBS-backed image needs BlockDeviceMappings")
        with world.lock:
            kept = [_registered_mapping(world, caller, region, m) for m in mappings]
            root = p.get("RootDeviceName", kept[0].get("DeviceName", "/dev/xvda"))
            if root not in {m.get("DeviceName") for m in kept}:
                raise AwsFault("InvalidBlockDeviceMapping", f"The root device {root} has no block device mapping")
            check_unique_name(world, caller.account, region, name)
            check_dry_run(p)
            image = Image(
                image_id=new_id("ami"),
                account=caller.account,
                region=region,
                name=name,
                mappings=kept,
                description=p.get("Description", ""),
                architecture=p.get("Architecture", "x86_64"),
                root_device_name=root,
                virtualization_type=p.get("VirtualizationType", "hvm"),
                ena_support=p.get("EnaSupport", True),
                boot_mode=p.get("BootMode"),
                tags=tags_from_specs(p.get("TagSpecifications") or [], "image"),
            )
            world.images[image.image_id] = image
            events.image_state_changed(world, image, "available")
        return {"ImageId": image.image_id}

    # ------------------------------------------------------------ disable / enable
    def DisableImage(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        """docs/aws-facts.md section 5: a disabled image cannot be launched or copied, is listed only with
        IncludeDisabled, and loses ALL its launch permissions (accounts, organizations, OUs, public)."""
        with self.world.lock:
            image = owned_image(self.world, caller, region, p.get("ImageId", ""))
            state = image_state(self.world, image)[0]
            if state not in ("available", "disabled"):
                raise AwsFault(
                    "IncorrectState", f"The image {image.image_id} is {state}: only an available image can be disabled"
                )
            check_dry_run(p)
            if not image.disabled:
                events.image_state_changed(self.world, image, "disabled")
            image.disabled = True
            image.make_private()
        return {"Return": True}

    def EnableImage(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        """Available again, and private: the launch permissions DisableImage removed are not restored."""
        with self.world.lock:
            image = owned_image(self.world, caller, region, p.get("ImageId", ""))
            check_dry_run(p)
            if image.disabled:
                events.image_state_changed(self.world, image, "available")
            image.disabled = False
        return {"Return": True}

    # ------------------------------------------------- deprecation and protection
    def EnableImageDeprecation(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            image = owned_image(self.world, caller, region, p.get("ImageId", ""))
            when = p.get("DeprecateAt")
            if not isinstance(when, dt.datetime):
                raise AwsFault("MissingParameter", "DeprecateAt is required")
            check_dry_run(p)
            # AWS rounds the deprecation time up to the next minute.
            rounded = when.replace(second=0, microsecond=0)
            image.deprecation_time = rounded if rounded == when else rounded + dt.timedelta(minutes=1)
        return {"Return": True}

    def DisableImageDeprecation(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            image = owned_image(self.world, caller, region, p.get("ImageId", ""))
            check_dry_run(p)
            image.deprecation_time = None
        return {"Return": True}

    def EnableImageDeregistrationProtection(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            image = owned_image(self.world, caller, region, p.get("ImageId", ""))
            check_dry_run(p)
            image.deregistration_protection = "enabled-with-cooldown" if p.get("WithCooldown") else "enabled"
            image.protection_until = None
        return {"Return": image.deregistration_protection}

    def DisableImageDeregistrationProtection(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            image = owned_image(self.world, caller, region, p.get("ImageId", ""))
            check_dry_run(p)
            if image.deregistration_protection == "enabled-with-cooldown":
                image.protection_until = utcnow() + dt.timedelta(hours=24)
            image.deregistration_protection = "disabled"
        return {"Return": deregistration_protection(image)}

    # --------------------------------------------------------------- deregister
    def DeregisterImage(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        world = self.world
        with world.lock:
            # docs/aws-facts.md section 3: deregistered again while still described: InvalidAMIID.Unavailable
            image = owned_image(world, caller, region, p.get("ImageId", ""))
            if deregistration_protection(image) != "disabled":
                raise AwsFault(
                    "OperationNotPermitted",
                    f"Image {image.image_id} has deregistration protection enabled; disable it first.",
                )
            check_dry_run(p)
            del world.images[image.image_id]
            image.deregistered = True
            world.deregistered[image.image_id] = (image, world.clock())
            events.image_state_changed(world, image, "deregistered")
            rbin.keep_if_retained(world, image)
            results = _delete_snapshots(world, image) if p.get("DeleteAssociatedSnapshots") else []
        out: dict[str, Any] = {"Return": True}
        if p.get("DeleteAssociatedSnapshots"):
            out["DeleteSnapshotResults"] = results
        return out
