"""Image attributes and launch permissions: Describe/Modify/ResetImageAttribute, and the consumer's
CancelImageLaunchPermission.

Sharing an image is adding to its launch permission: accounts, organizations, OUs, or the group ``all``
(public). What is refused: values that are not accounts or ARNs (docs/aws-facts.md section 4 for the limits),
images over ``aws/ebs`` (section 2), encrypted images made public, and public sharing under image block
public access (section 5).
"""

from __future__ import annotations

from typing import Any

from amishare.policy.evaluate import Caller
from amishare.sandbox.ec2.common import (
    ACCOUNT_ID,
    ORG_ARN,
    OU_ARN,
    check_dry_run,
    deregistration_protection,
    image_state,
    owned_image,
    timestamp,
    visible_image,
)
from amishare.sandbox.ec2.images.describe import block_device_mappings
from amishare.sandbox.kms.keys import find_key
from amishare.sandbox.state import Image, World
from amishare.sandbox.wire.protocol import AwsFault

MAX_SHARES_PER_IMAGE = 1000  # docs/aws-facts.md section 4: accounts + orgs + OUs (adjustable)
MAX_USER_IDS_PER_CALL = 10_000  # docs/aws-facts.md section 4
EBS_SHARE_REFUSED = AwsFault(  # docs/aws-facts.md section 2
    "InvalidParameter", "Snapshots encrypted with the AWS Managed CMK can't be shared. Specify another snapshot."
)
# Attributes DescribeImageAttribute accepts that no sandbox image has: answered with the image id alone.
EMPTY_ATTRIBUTES = frozenset(
    ("kernel", "ramdisk", "productCodes", "sriovNetSupport", "bootMode", "tpmSupport", "uefiData", "imdsSupport")
)

Entry = dict[str, str]


def launch_permissions(image: Image) -> list[Entry]:
    """The launch permission as DescribeImageAttribute lists it."""
    rows: list[Entry] = [{"Group": "all"}] if image.public else []
    rows += [{"UserId": u} for u in sorted(image.launch_users)]
    rows += [{"OrganizationArn": a} for a in sorted(image.launch_orgs)]
    rows += [{"OrganizationalUnitArn": a} for a in sorted(image.launch_ous)]
    return rows


def _attribute(world: World, image: Image, attribute: str) -> dict[str, Any]:
    """One attribute's part of the DescribeImageAttribute answer."""
    if attribute == "launchPermission":
        return {"LaunchPermissions": launch_permissions(image)}
    if attribute == "description":
        return {"Description": {"Value": image.description}}
    if attribute == "blockDeviceMapping":
        return {"BlockDeviceMappings": block_device_mappings(world, image)}
    if attribute == "deregistrationProtection":
        return {"DeregistrationProtection": {"Value": deregistration_protection(image)}}
    if attribute == "lastLaunchedTime":
        return {"LastLaunchedTime": {"Value": timestamp(image.last_launched)}} if image.last_launched else {}
    if attribute in EMPTY_ATTRIBUTES:
        return {}
    raise AwsFault("InvalidParameterValue", f"Value ({attribute}) for parameter attribute is invalid.")


def _requested_entries(p: dict[str, Any]) -> list[Entry]:
    """The entries of the flat request form (``UserIds``, ``UserGroups``, ``OrganizationArns``, ...)."""
    return (
        [{"UserId": u} for u in p.get("UserIds") or []]
        + [{"Group": g} for g in p.get("UserGroups") or []]
        + [{"OrganizationArn": a} for a in p.get("OrganizationArns") or []]
        + [{"OrganizationalUnitArn": a} for a in p.get("OrganizationalUnitArns") or []]
    )


def _launch_changes(p: dict[str, Any]) -> tuple[list[Entry], list[Entry]]:
    """(added, removed), from both request forms: ``LaunchPermission={Add,Remove}`` or ``OperationType`` + lists."""
    if "LaunchPermission" in p:
        lp = p["LaunchPermission"]
        return list(lp.get("Add") or []), list(lp.get("Remove") or [])
    if p.get("Attribute") not in (None, "launchPermission"):
        raise AwsFault("InvalidParameterValue", f"Value ({p.get('Attribute')}) for parameter attribute is invalid.")
    entries = _requested_entries(p)
    if not entries:
        raise AwsFault("MissingParameter", "No launch permission change was given")
    if len(p.get("UserIds") or []) > MAX_USER_IDS_PER_CALL:
        raise AwsFault("InvalidParameterValue", f"At most {MAX_USER_IDS_PER_CALL} account ids per call")
    operation = p.get("OperationType")
    if operation == "add":
        return entries, []
    if operation == "remove":
        return [], entries
    raise AwsFault("InvalidParameterValue", f"OperationType must be add or remove, not {operation!r}")


def _check_permission(entry: Entry) -> None:
    if "UserId" in entry and not ACCOUNT_ID.match(entry["UserId"]):
        raise AwsFault(
            "InvalidAMIAttributeItemValue",
            f'Invalid attribute item value "{entry["UserId"]}" for userId item type.',
        )
    if "Group" in entry and entry["Group"] != "all":
        raise AwsFault(
            "InvalidAMIAttributeItemValue", f'Invalid attribute item value "{entry["Group"]}" for group item type.'
        )
    if "OrganizationArn" in entry and not ORG_ARN.match(entry["OrganizationArn"]):
        raise AwsFault("InvalidParameterValue", f"Invalid organization ARN: {entry['OrganizationArn']}")
    if "OrganizationalUnitArn" in entry and not OU_ARN.match(entry["OrganizationalUnitArn"]):
        raise AwsFault("InvalidParameterValue", f"Invalid organizational unit ARN: {entry['OrganizationalUnitArn']}")


def _check_can_share(world: World, image: Image, add: list[Entry], caller: Caller, region: str) -> None:
    snapshots = [world.snapshots[s] for s in image.snapshot_ids() if s in world.snapshots]
    for snapshot in snapshots:
        key = find_key(world, snapshot.account, snapshot.region, snapshot.kms_key_arn or "")
        if key is not None and key.manager == "AWS":
            raise EBS_SHARE_REFUSED  # docs/aws-facts.md section 2: aws/ebs images cannot be shared
    if any(e.get("Group") == "all" for e in add):
        if any(s.encrypted for s in snapshots):
            raise AwsFault("InvalidParameter", "Encrypted AMIs cannot be made public.")
        state = world.block_public_access.get((caller.account, region), world.settings.block_public_access_default)
        if state == "block-new-sharing":  # docs/aws-facts.md section 5: image block public access
            raise AwsFault(
                "OperationNotPermitted",
                "You can't publicly share this image because image block public access is enabled "
                f"for this account in {region}.",
            )


def _shares_after(image: Image, add: list[Entry], remove: list[Entry]) -> set[str]:
    shares = image.launch_users | image.launch_orgs | image.launch_ous
    for entry in add:
        shares |= {v for k, v in entry.items() if k != "Group"}
    for entry in remove:
        shares -= set(entry.values())
    return shares


def _set(image: Image, entry: Entry, present: bool) -> None:
    for field, bucket in (
        ("UserId", image.launch_users),
        ("OrganizationArn", image.launch_orgs),
        ("OrganizationalUnitArn", image.launch_ous),
    ):
        if field in entry:
            (bucket.add if present else bucket.discard)(entry[field])
    if entry.get("Group") == "all":
        image.public = present


class ImagePermissionHandlers:
    """DescribeImageAttribute, ModifyImageAttribute, ResetImageAttribute, CancelImageLaunchPermission."""

    def __init__(self, world: World) -> None:
        self.world = world

    def DescribeImageAttribute(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            image = owned_image(self.world, caller, region, p.get("ImageId", ""))
            check_dry_run(p)
            return {"ImageId": image.image_id, **_attribute(self.world, image, p.get("Attribute", ""))}

    def ModifyImageAttribute(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        world = self.world
        with world.lock:
            image = owned_image(world, caller, region, p.get("ImageId", ""))
            if "Description" in p or p.get("Attribute") == "description":
                value = (p.get("Description") or {}).get("Value", p.get("Value", ""))
                check_dry_run(p)
                image.description = value
                return {}
            add, remove = _launch_changes(p)
            for entry in add + remove:
                _check_permission(entry)
            if add:
                _check_shareable_state(world, image)
                _check_can_share(world, image, add, caller, region)
            if len(_shares_after(image, add, remove)) > MAX_SHARES_PER_IMAGE:
                raise AwsFault(
                    "ResourceLimitExceeded",
                    f"An AMI can be shared with at most {MAX_SHARES_PER_IMAGE} accounts, organizations and OUs",
                )
            check_dry_run(p)
            for entry, present in [(e, True) for e in add] + [(e, False) for e in remove]:
                _set(image, entry, present)
        return {}

    def CancelImageLaunchPermission(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        """The caller's account removed from the launch permission of an image shared with it by account id
        (docs/aws-facts.md section 1): an image it cannot see is ``InvalidAMIID.NotFound``; its own image, or one
        it sees only through its organization, an OU or publicly, is refused (AWS does not document the code:
        ``InvalidParameter`` is the sandbox's choice). Snapshot permissions are left as they are."""
        with self.world.lock:
            image = visible_image(self.world, caller, region, p.get("ImageId", ""))
            if image.account == caller.account:
                raise AwsFault(
                    "InvalidParameter", f"{image.image_id} is your own image: change its launch permission instead"
                )
            if caller.account not in image.launch_users:
                raise AwsFault(
                    "InvalidParameter",
                    f"{image.image_id} is not shared with your account by its account id (it is shared with your "
                    "organization, an organizational unit or publicly): only its owner can remove that",
                )
            check_dry_run(p)
            image.launch_users.discard(caller.account)
        return {"Return": True}

    def ResetImageAttribute(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            image = owned_image(self.world, caller, region, p.get("ImageId", ""))
            if p.get("Attribute") != "launchPermission":
                raise AwsFault("InvalidParameterValue", "Only launchPermission can be reset")
            check_dry_run(p)
            image.make_private()
        return {}


def _check_shareable_state(world: World, image: Image) -> None:
    """A pending image cannot be shared yet (``InvalidAMIID.Unavailable``, observed, docs/aws-facts.md section 9): the
    copy must finish first. A disabled image cannot be shared (EC2 API Reference, DisableImage; docs/aws-facts.md
    section 9): AWS does not document the code, ``InvalidAMIID.Unavailable`` is the sandbox's choice (EC2 error
    codes: "not in a state from which you can ... modify attributes")."""
    state, _ = image_state(world, image)
    if state == "pending":
        raise AwsFault(
            "InvalidAMIID.Unavailable",
            f"The image ID '{image.image_id}' is currently pending and may not be used for this operation",
        )
    if state == "disabled":
        raise AwsFault(
            "InvalidAMIID.Unavailable",
            f"The image ID '{image.image_id}' is disabled and cannot be shared: enable it first (EnableImage)",
        )
