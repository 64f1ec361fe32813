"""Launching instances from images: who may launch what, with which keys (RunInstances and friends).

Rules (docs/aws-facts.md sections 1, 2, 5 and 7; sources in docs/sandbox.md):

* ``ImageId`` may be ``resolve:ssm:NAME[:VERSION]``: the caller's SSM parameter, resolved at the call (SSM User
  Guide, "Native parameter support for Amazon Machine Image IDs"; the caller needs ``ssm:GetParameters``:
  sandbox/authz.py); a missing one is ``InvalidParameterValue`` (the sandbox's choice);
* the image must be visible to the caller in the region: its own, public, or shared with its account,
  organization or one of its OUs (EC2 User Guide, "Share an AMI"); otherwise ``InvalidAMIID.NotFound``;
* a disabled, pending, failed or deregistered image cannot be launched (``InvalidAMIID.Unavailable``,
  EC2 API error codes; EC2 User Guide, "Disable an AMI");
* when the caller's Allowed AMIs setting is ``enabled``, only images matching its criteria (and its own)
  can be used (EC2 API Reference, "EnableAllowedImagesSettings"); the error code is UNVERIFIED;
* the request is accepted even when a volume's KMS key is unusable by the launching principal through
  EC2 in that region: the instance goes from ``pending`` to ``terminated`` with the state reason
  ``Client.InternalError: Client error on launch`` (AWS Knowledge Center, "Why does my instance with
  encrypted volumes stop immediately"); the volumes are deleted;
* each EBS mapping of the image becomes a volume of that size, from that snapshot, under that key;
* a launch sets the image's ``LastLaunchedTime`` (AWS updates it within about 24 hours: the sandbox at once,
  which tests need);
* ``StopInstances`` stops a running instance, its volumes kept (``stopped`` at once; AWS passes through
  ``stopping``); ``StartInstances`` starts a stopped one, with its volumes' keys checked for the starting principal
  as a launch checks them: a key it cannot use sends the instance back to ``stopped`` with the state reason
  ``Client.InternalError: Client error on launch`` (AWS Knowledge Center, as above). Either call on a terminated
  instance is ``IncorrectInstanceState`` (EC2 API error codes); hibernation is not emulated.

Volumes and instances belong to the overlay; moto's own instances are not consulted.
"""

from __future__ import annotations

import functools
from typing import Any

from amishare.policy.evaluate import Caller
from amishare.sandbox.ec2 import templates
from amishare.sandbox.ec2.allowed_images import allowed, setting
from amishare.sandbox.ec2.common import (
    check_dry_run,
    check_not_deregistered,
    image_state,
    tag_list,
    tags_from_specs,
    visible_image,
)
from amishare.sandbox.ec2.copy import find_by_arn
from amishare.sandbox.ec2.filters import apply_filters
from amishare.sandbox.kms.access import usable_via_ec2
from amishare.sandbox.state import Image, Instance, Volume, World, new_id, utcnow
from amishare.sandbox.wire.protocol import AwsFault

# What EC2 does with a volume's key for the launching principal (EBS User Guide, "Permissions for IAM users":
# CreateGrant, Decrypt, DescribeKey, GenerateDataKeyWithoutPlaintext).
LAUNCH_KEY_ACTIONS = ["DescribeKey", "CreateGrant", "Decrypt", "GenerateDataKeyWithoutPlaintext"]
LAUNCH_FAILURE = {"Code": "Client.InternalError", "Message": "Client.InternalError: Client error on launch"}
_STATE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}
_TIME = "%Y-%m-%dT%H:%M:%S.000Z"


def launch_failure(world: World, image: Image, caller: Caller, region: str) -> str | None:
    """Why the launch of ``image`` by ``caller`` fails after it was accepted (a key it cannot use), or None."""
    for snapshot_id in image.snapshot_ids():
        snapshot = world.snapshots.get(snapshot_id)
        if snapshot is None or snapshot.kms_key_arn is None:
            continue
        key = find_by_arn(world, snapshot.kms_key_arn)
        if key is None:
            return f"key {snapshot.kms_key_arn} does not exist"
        why = usable_via_ec2(world, key, caller, region, LAUNCH_KEY_ACTIONS)
        if why:
            return why
    return None


def launchable(world: World, caller: Caller, region: str, image_id: str) -> Image:
    """The image ``caller`` may launch in ``region``, or the fault AWS answers."""
    check_not_deregistered(world, caller, region, image_id)
    image = visible_image(world, caller, region, image_id)
    state, _ = image_state(world, image)
    if state != "available":
        raise AwsFault("InvalidAMIID.Unavailable", f"The image id '[{image_id}]' is not available ({state}).")
    enforced = setting(world, caller.account, region).state == "enabled"
    if enforced and allowed(world, image, caller.account, region) is False:
        raise AwsFault(
            "InvalidAMIID.NotFound",
            f"The image id '[{image_id}]' does not exist or is not allowed by this account's Allowed AMIs settings",
        )
    return image


def start_instance(
    world: World,
    caller: Caller,
    region: str,
    image: Image,
    instance_type: str,
    reservation: str,
    failure: str | None,
    tags: dict[str, str],
) -> Instance:
    """An instance of ``image`` started by ``caller`` (terminated at once with ``failure``), with a volume per
    EBS mapping; the image's LastLaunchedTime is set."""
    instance_id = new_id("i")
    volumes = []
    for mapping in image.mappings:
        ebs = mapping.get("Ebs") or {}
        snapshot = world.snapshots.get(ebs.get("SnapshotId", ""))
        if snapshot is None:
            continue
        volumes.append(
            Volume(
                volume_id=new_id("vol"),
                account=caller.account,
                region=region,
                size_gib=int(ebs.get("VolumeSize") or snapshot.size_gib),
                snapshot_id=snapshot.snapshot_id,
                kms_key_arn=snapshot.kms_key_arn,
                device=str(mapping.get("DeviceName", "")),
                instance_id=instance_id,
            )
        )
    instance = Instance(
        instance_id=instance_id,
        account=caller.account,
        region=region,
        image_id=image.image_id,
        instance_type=instance_type,
        launched_by=caller.role_arn or caller.arn,
        reservation_id=reservation,
        volumes=volumes,
        failure=failure,
        tags=tags,
    )
    world.instances[instance_id] = instance
    if failure is None:  # a failed launch deletes its volumes
        world.volumes.update({v.volume_id: v for v in volumes})
    image.last_launched = utcnow()
    return instance


def _start_failure(world: World, instance: Instance, caller: Caller, region: str) -> str | None:
    """Why starting ``instance`` fails after the call was accepted (a volume key the starting principal cannot use
    through EC2, as at launch), or None."""
    for volume in instance.volumes:
        if volume.kms_key_arn is None:
            continue
        key = find_by_arn(world, volume.kms_key_arn)
        if key is None:
            return f"key {volume.kms_key_arn} does not exist"
        why = usable_via_ec2(world, key, caller, region, LAUNCH_KEY_ACTIONS)
        if why:
            return why
    return None


def _check_not_terminated(instances: list[Instance], verb: str) -> None:
    for instance in instances:
        if instance.state == "terminated":
            raise AwsFault(
                "IncorrectInstanceState",
                f"The instance '{instance.instance_id}' is not in a state from which it can be {verb}.",
            )


def _change(instance: Instance, before: str, after: str) -> dict[str, Any]:
    """One row of a Terminate/Stop/StartInstances answer."""
    return {
        "InstanceId": instance.instance_id,
        "PreviousState": {"Code": _STATE_CODES[before], "Name": before},
        "CurrentState": {"Code": _STATE_CODES[after], "Name": after},
    }


class InstanceHandlers:
    """RunInstances, DescribeInstances, Stop/Start/TerminateInstances, DescribeVolumes."""

    def __init__(self, world: World) -> None:
        self.world = world

    def RunInstances(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        count = int(p.get("MinCount", 1))
        if count < 1 or int(p.get("MaxCount", count)) < count:
            raise AwsFault("InvalidParameterValue", "MinCount must be at least 1 and at most MaxCount")
        with self.world.lock:
            image = launchable(self.world, caller, region, self._image_id(caller, region, p))
            check_dry_run(p)
            failure = launch_failure(self.world, image, caller, region)
            tags = tags_from_specs(p.get("TagSpecifications") or [], "instance")
            reservation = new_id("r")
            kind = str(p.get("InstanceType") or "m1.small")
            start = functools.partial(start_instance, self.world, caller, region, image, kind, reservation)
            instances = [start(failure, tags) for _ in range(count)]
            out = [self.describe(i, pending=True) for i in instances]
        return {"ReservationId": reservation, "OwnerId": caller.account, "Instances": out, "Groups": []}

    def _image_id(self, caller: Caller, region: str, p: dict[str, Any]) -> str:
        """``ImageId`` (``resolve:ssm:NAME[:VERSION]``: the caller's parameter resolved), else the launch template
        version's image (an SSM parameter resolved)."""
        if p.get("ImageId") or not p.get("LaunchTemplate"):
            return templates.resolve_image(self.world, caller.account, region, str(p.get("ImageId", "")))
        spec = p["LaunchTemplate"]
        template = templates.find(self.world, caller, region, spec)
        image = templates.image_of(self.world, template, template.version(spec.get("Version")))
        if not image:
            raise AwsFault("MissingParameter", "The request must contain the parameter ImageId")
        return image

    def describe(self, instance: Instance, pending: bool = False) -> dict[str, Any]:
        state = "pending" if pending else instance.state
        out: dict[str, Any] = {
            "InstanceId": instance.instance_id,
            "ImageId": instance.image_id,
            "InstanceType": instance.instance_type,
            "LaunchTime": instance.launched.strftime(_TIME),
            "State": {"Code": _STATE_CODES[state], "Name": state},
            "Placement": {"AvailabilityZone": f"{instance.region}a"},
            "RootDeviceType": "ebs",
            "RootDeviceName": instance.volumes[0].device if instance.volumes else "/dev/xvda",
            "BlockDeviceMappings": [
                {
                    "DeviceName": v.device,
                    "Ebs": {"VolumeId": v.volume_id, "Status": "attached", "DeleteOnTermination": True},
                }
                for v in instance.volumes
                if not (instance.failure and not pending)
            ],
        }
        if (instance.failure or instance.start_failure) and not pending:
            out["StateReason"] = dict(LAUNCH_FAILURE)
            out["StateTransitionReason"] = "Server.InternalError"  # what AWS shows next to the reason
        elif instance.terminated or instance.stopped:
            out["StateReason"] = {"Code": "Client.UserInitiatedShutdown", "Message": "User initiated shutdown"}
        if instance.tags:
            out["Tags"] = tag_list(instance.tags)
        return out

    def DescribeInstances(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        wanted = set(p.get("InstanceIds") or [])
        with self.world.lock:
            mine = [
                i
                for i in self.world.instances.values()
                if i.account == caller.account and i.region == region and (not wanted or i.instance_id in wanted)
            ]
            missing = wanted - {i.instance_id for i in mine}
            if missing:
                raise AwsFault("InvalidInstanceID.NotFound", f"The instance ID '{sorted(missing)[0]}' does not exist")
            mine = apply_filters(
                mine,
                p.get("Filters") or [],
                {"image-id": lambda i: [i.image_id], "instance-state-name": lambda i: [i.state]},
                lambda i: i.tags,
            )
            reservations: dict[str, list[Instance]] = {}
            for instance in mine:
                reservations.setdefault(instance.reservation_id, []).append(instance)
            rows = [
                {"ReservationId": rid, "OwnerId": caller.account, "Instances": [self.describe(i) for i in group]}
                for rid, group in reservations.items()
            ]
        return {"Reservations": rows}

    def _own(self, caller: Caller, region: str, p: dict[str, Any]) -> list[Instance]:
        """The caller's instances of ``region`` that ``InstanceIds`` names (``InvalidInstanceID.NotFound`` else)."""
        found = []
        for instance_id in p.get("InstanceIds") or []:
            instance = self.world.instances.get(instance_id)
            if instance is None or instance.account != caller.account or instance.region != region:
                raise AwsFault("InvalidInstanceID.NotFound", f"The instance ID '{instance_id}' does not exist")
            found.append(instance)
        return found

    def TerminateInstances(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        out = []
        with self.world.lock:
            instances = self._own(caller, region, p)
            check_dry_run(p)
            for instance in instances:
                before = instance.state
                instance.terminated = True
                for volume in instance.volumes:
                    self.world.volumes.pop(volume.volume_id, None)
                out.append(_change(instance, before, "terminated"))
        return {"TerminatingInstances": out}

    def StopInstances(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("Hibernate"):
            raise AwsFault("UnsupportedOperation", "The amishare sandbox does not emulate hibernation.")
        out = []
        with self.world.lock:
            instances = self._own(caller, region, p)
            _check_not_terminated(instances, "stopped")
            check_dry_run(p)
            for instance in instances:
                before = instance.state
                instance.stopped, instance.start_failure = True, None
                out.append(_change(instance, before, "stopped" if before == "stopped" else "stopping"))
        return {"StoppingInstances": out}

    def StartInstances(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        out = []
        with self.world.lock:
            instances = self._own(caller, region, p)
            _check_not_terminated(instances, "started")
            check_dry_run(p)
            for instance in instances:
                before = instance.state
                if before == "stopped":
                    instance.start_failure = _start_failure(self.world, instance, caller, region)
                    instance.stopped = instance.start_failure is not None
                out.append(_change(instance, before, "running" if before == "running" else "pending"))
        return {"StartingInstances": out}

    def DescribeVolumes(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        wanted = set(p.get("VolumeIds") or [])
        with self.world.lock:
            mine = [
                v
                for v in self.world.volumes.values()
                if v.account == caller.account and v.region == region and (not wanted or v.volume_id in wanted)
            ]
            missing = wanted - {v.volume_id for v in mine}
            if missing:
                raise AwsFault("InvalidVolume.NotFound", f"The volume '{sorted(missing)[0]}' does not exist.")
            rows = [
                {
                    "VolumeId": v.volume_id,
                    "Size": v.size_gib,
                    "SnapshotId": v.snapshot_id or "",
                    "AvailabilityZone": f"{v.region}a",
                    "State": "in-use",
                    "CreateTime": v.created.strftime(_TIME),
                    "Encrypted": v.kms_key_arn is not None,
                    **({"KmsKeyId": v.kms_key_arn} if v.kms_key_arn else {}),
                    "VolumeType": "gp3",
                    "Attachments": [
                        {"VolumeId": v.volume_id, "InstanceId": v.instance_id, "Device": v.device, "State": "attached"}
                    ],
                }
                for v in mine
            ]
        return {"Volumes": rows}
