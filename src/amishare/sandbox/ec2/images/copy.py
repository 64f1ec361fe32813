"""CopyImage: checks, ``ClientToken`` idempotency, and the image and snapshot copies it starts.

The copies' encryption and timing are sandbox/ec2/copy.py's (shared with CopySnapshot).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from amishare.policy.evaluate import Caller
from amishare.sandbox import events
from amishare.sandbox.ec2.common import (
    AMI_NAME,
    can_restore,
    check_dry_run,
    check_region,
    check_unique_name,
    image_state,
    pending_copies,
    tags_from_specs,
    visible_image,
)
from amishare.sandbox.ec2.copy import (
    Encryption,
    check_completion_minutes,
    copy_duration,
    copy_encryption,
    start_snapshot_copy,
)
from amishare.sandbox.state import Image, Snapshot, Transition, World, new_id
from amishare.sandbox.wire.protocol import AwsFault


def _check_copy_request(name: str, token: str | None) -> None:
    if not AMI_NAME.match(name):
        raise AwsFault("InvalidAMIName.Malformed", f"AMI name {name!r} is invalid")
    if token is not None and not (0 < len(token) <= 64 and token.isascii()):
        raise AwsFault("InvalidParameterValue", "ClientToken must be 1-64 ASCII characters")


def _fingerprint(p: dict[str, Any]) -> str:
    """What a repeated ``ClientToken`` must be sent with again: every parameter but the token and DryRun."""
    wanted = {k: v for k, v in p.items() if k not in ("ClientToken", "DryRun")}
    return hashlib.sha256(json.dumps(wanted, sort_keys=True, default=str).encode()).hexdigest()


def _repeated(world: World, caller: Caller, region: str, token: str | None, fingerprint: str) -> str | None:
    """The image a repeated ``ClientToken`` made before (docs/aws-facts.md section 3: CopyImage idempotency)."""
    if token is None:
        return None
    seen = world.client_tokens.get((caller.account, region, token))
    if seen is None:
        return None
    if seen[0] != fingerprint:
        raise AwsFault("IdempotentParameterMismatch", f"Client token {token} was already used with other parameters")
    return seen[1]


def _check_storage_access(caller: Caller, source: Image, sources: list[Snapshot]) -> None:
    if caller.account != source.account and not all(can_restore(s, caller.account) for s in sources):
        # docs/aws-facts.md section 1: copying a shared AMI needs createVolumePermission on every snapshot
        raise AwsFault("InvalidRequest", "You do not have permission to access the storage of this ami")


def _check_copy_limit(world: World, caller: Caller, region: str) -> None:
    if pending_copies(world, caller.account, region, images=True) >= world.settings.ami_copy_limit:
        raise AwsFault(
            "ResourceLimitExceeded",  # docs/aws-facts.md section 4
            f"You have reached the limit of {world.settings.ami_copy_limit} concurrent AMI copies in {region}",
        )


def _image_tags(caller: Caller, source: Image, p: dict[str, Any]) -> dict[str, str]:
    """``CopyImageTags`` copies the source's tags for its owner alone (docs/aws-facts.md section 3), then the
    ``TagSpecifications`` for the image."""
    tags = dict(source.tags) if p.get("CopyImageTags") and caller.account == source.account else {}
    tags.update(tags_from_specs(p.get("TagSpecifications") or [], "image"))
    return tags


def _copy_snapshots(
    world: World,
    caller: Caller,
    region: str,
    source: Image,
    sources: list[Snapshot],
    encryption: Encryption,
    tags: dict[str, str],
    minutes: int | None,
) -> tuple[dict[str, Snapshot], float]:
    """Start one copy per snapshot of ``source`` (time-based when ``minutes``: each within them): the copies by
    source snapshot id, and the longest duration."""
    copies = {}
    durations = [0.0]
    for snapshot in sources:
        durations.append(copy_duration(world, snapshot.size_gib, minutes))
        copies[snapshot.snapshot_id] = start_snapshot_copy(
            world,
            caller,
            region,
            snapshot,
            encryption,
            f"Copied for DestinationAmi from SourceAmi {source.image_id} from SourceSnapshot {snapshot.snapshot_id}",
            tags,
            via_copy_snapshot=False,
            completion_minutes=minutes,
        )
    return copies, max(durations)


def _remapped(mappings: list[dict[str, Any]], copies: dict[str, Snapshot]) -> list[dict[str, Any]]:
    """The source's mappings, each EBS snapshot replaced by its copy."""
    remapped: list[dict[str, Any]] = json.loads(json.dumps(mappings))
    for mapping in remapped:
        if "Ebs" in mapping and mapping["Ebs"].get("SnapshotId") in copies:
            mapping["Ebs"]["SnapshotId"] = copies[mapping["Ebs"]["SnapshotId"]].snapshot_id
    return remapped


class CopyImageHandlers:
    """CopyImage."""

    def __init__(self, world: World) -> None:
        self.world = world

    def CopyImage(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        world = self.world
        source_region = p.get("SourceRegion", "")
        check_region(source_region)
        name = p.get("Name", "")
        token = p.get("ClientToken")
        _check_copy_request(name, token)
        minutes = check_completion_minutes(
            "SnapshotCopyCompletionDurationMinutes", p.get("SnapshotCopyCompletionDurationMinutes")
        )
        with world.lock:
            source = visible_image(world, caller, source_region, p.get("SourceImageId", ""))
            fingerprint = _fingerprint(p)
            made = _repeated(world, caller, region, token, fingerprint)
            if made is not None:
                return {"ImageId": made}
            if image_state(world, source)[0] != "available":
                raise AwsFault("IncorrectState", f"Image {source.image_id} is not available")
            check_unique_name(world, caller.account, region, name)  # after the token: a repeat is not a duplicate
            sources = [world.snapshots[s] for s in source.snapshot_ids()]
            _check_storage_access(caller, source, sources)
            encryption = copy_encryption(world, caller, region, p, sources)
            check_dry_run(p)
            _check_copy_limit(world, caller, region)
            image_tags = _image_tags(caller, source, p)
            snapshot_tags = tags_from_specs(p.get("TagSpecifications") or [], "snapshot")
            copies, duration = _copy_snapshots(
                world, caller, region, source, sources, encryption, snapshot_tags, minutes
            )
            image = Image(
                image_id=new_id("ami"),
                account=caller.account,
                region=region,
                name=name,
                mappings=_remapped(source.mappings, copies),
                description=p.get("Description", source.description),
                architecture=source.architecture,
                root_device_name=source.root_device_name,
                virtualization_type=source.virtualization_type,
                ena_support=source.ena_support,
                boot_mode=source.boot_mode,
                tags=image_tags,
                transition=Transition(world.clock(), duration, encryption.failure),
                source_image_id=source.image_id,
                source_region=source_region,
            )
            world.images[image.image_id] = image
            events.watch_copy(world, image)
            if token is not None:
                world.client_tokens[(caller.account, region, token)] = (fingerprint, image.image_id)
        return {"ImageId": image.image_id}
