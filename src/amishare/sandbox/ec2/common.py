"""What EC2 handlers share: id and name checks, who may see what, copy states, pages, tags.

Visibility (docs/aws-facts.md section 1; EC2 User Guide "Shared AMIs", "Share a snapshot"):
an image is visible to and launchable by its owner, everyone when public, accounts in its
launch permission, and members of an organization or OU (or a child OU) named in it. A
snapshot is visible to its owner, everyone when public, and accounts in its
``createVolumePermission``. Tags belong to the account that set them: other accounts never
see the owner's tags.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from amishare.policy.evaluate import Caller
from amishare.sandbox.state import Image, Snapshot, World, utcnow
from amishare.sandbox.wire.protocol import AwsFault

IMAGE_ID = re.compile(r"^ami-[0-9a-f]{8}([0-9a-f]{9})?$")
SNAPSHOT_ID = re.compile(r"^snap-[0-9a-f]{8}([0-9a-f]{9})?$")
ACCOUNT_ID = re.compile(r"^\d{12}$")
ORG_ARN = re.compile(r"^arn:aws:organizations::\d{12}:organization/o-[a-z0-9]{10,32}$")
OU_ARN = re.compile(r"^arn:aws:organizations::\d{12}:ou/o-[a-z0-9]{10,32}/ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
AMI_NAME = re.compile(r"^[a-zA-Z0-9()\[\] ./\-'@_]{3,128}$")
DRY_RUN_OK = AwsFault("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412)


def check_dry_run(params: Mapping[str, Any]) -> None:
    if params.get("DryRun"):
        raise DRY_RUN_OK


def check_image_id(image_id: str) -> None:
    if not IMAGE_ID.match(image_id or ""):
        raise AwsFault("InvalidAMIID.Malformed", f'Invalid id: "{image_id}" (expecting "ami-...")')


def check_snapshot_id(snapshot_id: str) -> None:
    if not SNAPSHOT_ID.match(snapshot_id or ""):
        raise AwsFault("InvalidSnapshotID.Malformed", f'Invalid id: "{snapshot_id}" (expecting "snap-...")')


def check_region(region: str) -> None:
    if not REGION.match(region or ""):
        raise AwsFault("InvalidParameterValue", f"Invalid region: {region!r}")


def check_unique_name(world: World, account: str, region: str, name: str) -> None:
    """Image names are unique per account and region (docs/aws-facts.md section 3)."""
    for image in world.images.values():
        if image.account == account and image.region == region and image.name == name:
            raise AwsFault("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {image.image_id}")


def image_not_found(image_ids: Iterable[str]) -> AwsFault:
    listed = ", ".join(image_ids)
    return AwsFault("InvalidAMIID.NotFound", f"The image id '[{listed}]' does not exist")


def snapshot_not_found(snapshot_id: str) -> AwsFault:
    return AwsFault("InvalidSnapshot.NotFound", f"The snapshot '{snapshot_id}' does not exist.")


# --------------------------------------------------------------------------- visibility
def can_launch(world: World, image: Image, account: str) -> bool:
    return image.account == account or image.public or shared_explicitly(world, image, account)


def shared_explicitly(world: World, image: Image, account: str) -> bool:
    """Launch permission names the account, its organization, or one of its OUs."""
    if account in image.launch_users:
        return True
    org = world.organization_of(account)
    if org is None:
        return False
    if org.arn in image.launch_orgs:
        return True
    path = set(org.path_ids(account))
    return any(arn.rsplit("/", 1)[-1] in path for arn in image.launch_ous)


def can_restore(snapshot: Snapshot, account: str) -> bool:
    return snapshot.account == account or snapshot.public or account in snapshot.shared_with


def visible_image(world: World, caller: Caller, region: str, image_id: str) -> Image:
    """The image as ``caller`` may see it in ``region``, or ``InvalidAMIID.NotFound``."""
    check_image_id(image_id)
    image = world.images.get(image_id)
    if image is None or image.region != region or not can_launch(world, image, caller.account):
        raise image_not_found([image_id])
    return image


def deregistered_phase(world: World, caller: Caller, region: str, image_id: str) -> str | None:
    """Where the caller's own image of ``region`` is in its fade-out after DeregisterImage (docs/aws-facts.md section
    3), on the sandbox's clock: ``described`` (by id, state ``deregistered``) for ``deregistered_visible_seconds``,
    then ``empty`` (DescribeImages by id answers no image and no error) for ``deregistered_empty_seconds``; None after
    (``InvalidAMIID.NotFound``), and for an image that is not the caller's or was never deregistered."""
    image, at = world.deregistered.get(image_id, (None, 0.0))
    if image is None or image.account != caller.account or image.region != region:
        return None
    age, settings = world.clock() - at, world.settings
    if age < settings.deregistered_visible_seconds:
        return "described"
    if age < settings.deregistered_visible_seconds + settings.deregistered_empty_seconds:
        return "empty"
    return None


def recently_deregistered(world: World, caller: Caller, region: str, image_id: str) -> Image | None:
    """The caller's own image of ``region`` that AWS still describes by id as ``deregistered`` (the ``described``
    phase of ``deregistered_phase``); None otherwise."""
    if deregistered_phase(world, caller, region, image_id) != "described":
        return None
    return world.deregistered[image_id][0]


def check_not_deregistered(world: World, caller: Caller, region: str, image_id: str) -> None:
    """While its owner is still shown the image as ``deregistered``, a call on it is ``InvalidAMIID.Unavailable``
    ("has been deregistered and is no longer available", EC2 API Reference, error codes; docs/aws-facts.md
    section 3), not NotFound; after that window NotFound (the sandbox's choice)."""
    gone = recently_deregistered(world, caller, region, image_id)
    if gone is not None:
        raise AwsFault(
            "InvalidAMIID.Unavailable",
            f"The image id '[{gone.image_id}]' has been deregistered and is no longer available.",
        )


def owned_image(world: World, caller: Caller, region: str, image_id: str) -> Image:
    """The caller's own image; another account's visible image is ``AuthFailure``; the caller's own just
    deregistered is ``InvalidAMIID.Unavailable`` (``check_not_deregistered``)."""
    check_not_deregistered(world, caller, region, image_id)
    image = visible_image(world, caller, region, image_id)
    if image.account != caller.account:
        raise AwsFault("AuthFailure", f"Not authorized for image:{image_id}")
    return image


def visible_snapshot(world: World, caller: Caller, region: str, snapshot_id: str) -> Snapshot:
    check_snapshot_id(snapshot_id)
    snapshot = world.snapshots.get(snapshot_id)
    if snapshot is None or snapshot.region != region or not can_restore(snapshot, caller.account):
        raise snapshot_not_found(snapshot_id)
    return snapshot


def owned_snapshot(world: World, caller: Caller, region: str, snapshot_id: str) -> Snapshot:
    snapshot = visible_snapshot(world, caller, region, snapshot_id)
    if snapshot.account != caller.account:
        raise AwsFault("AuthFailure", f"Not authorized for snapshot:{snapshot_id}")
    return snapshot


# ------------------------------------------------------------------------------ states
def image_state(world: World, image: Image) -> tuple[str, dict[str, str] | None]:
    if image.deregistered:
        return "deregistered", None
    if image.disabled:
        return "disabled", None
    transition = image.transition
    if transition is None:
        return "available", None
    if not transition.done(world.clock()):
        return "pending", None
    if transition.failure:
        return "failed", {"Code": "Client.InternalError", "Message": transition.failure}
    return "available", None


def deregistration_protection(image: Image) -> str:
    """``DeregistrationProtection`` as EC2 reports it: ``disabled-until-<time>`` during the 24-hour cooldown."""
    until = image.protection_until
    if image.deregistration_protection == "disabled" and until and until > utcnow():
        return f"disabled-until-{timestamp(until)}"
    return image.deregistration_protection


def snapshot_state(world: World, snapshot: Snapshot) -> tuple[str, str, str | None]:
    """(State, Progress, StateMessage)."""
    transition = snapshot.transition
    if transition is None:
        return "completed", "100%", None
    now = world.clock()
    if not transition.done(now):
        return "pending", f"{transition.progress(now)}%", None
    if transition.failure:
        return "error", f"{transition.progress(now)}%", transition.failure
    return "completed", "100%", None


def pending_copies(world: World, account: str, region: str, images: bool) -> int:
    now = world.clock()
    if images:
        return sum(
            1
            for i in world.images.values()
            if i.account == account and i.region == region and i.transition and not i.transition.done(now)
        )
    return sum(
        1
        for s in world.snapshots.values()
        if s.account == account
        and s.region == region
        and s.via_copy_snapshot
        and s.transition
        and not s.transition.done(now)
    )


# ------------------------------------------------------------------------ pages and tags
def timestamp(when: dt.datetime) -> str:
    """A time as EC2 writes it, to the millisecond (``2024-05-01T12:00:00.000Z``)."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def paginate(
    items: list[Any], params: Mapping[str, Any], low: int = 5, high: int = 1000
) -> tuple[list[Any], str | None]:
    start = int(params["NextToken"]) if str(params.get("NextToken", "")).isdigit() else 0
    size = params.get("MaxResults")
    if size is None:
        return items[start:], None
    if not low <= size <= high:
        raise AwsFault("InvalidParameterValue", f"MaxResults must be between {low} and {high}")
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def tags_from_specs(specs: list[dict[str, Any]], resource_type: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for spec in specs:
        if spec.get("ResourceType") == resource_type:
            out.update({t["Key"]: t.get("Value", "") for t in spec.get("Tags", [])})
    return out
