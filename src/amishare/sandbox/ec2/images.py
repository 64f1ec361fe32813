"""EC2 images: describe, register, copy, share, deprecate, protect, deregister.

Each rule cites docs/aws-facts.md; the details follow the EC2 API Reference of each action.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

from amishare.policy.evaluate import Caller
from amishare.sandbox import kms, rbin
from amishare.sandbox.ec2.allowed_images import allowed, setting
from amishare.sandbox.ec2.common import (
    ACCOUNT_ID,
    ORG_ARN,
    OU_ARN,
    apply_filters,
    can_launch,
    can_restore,
    check_dry_run,
    check_image_id,
    check_region,
    image_not_found,
    image_state,
    owned_image,
    owned_snapshot,
    paginate,
    pending_copies,
    shared_explicitly,
    snapshot_state,
    tag_list,
    tags_from_specs,
    visible_image,
)
from amishare.sandbox.ec2.copy import copy_duration, copy_encryption, start_snapshot_copy
from amishare.sandbox.state import Image, Transition, World, new_id, utcnow
from amishare.sandbox.wire.protocol import AwsFault

MAX_SHARES_PER_IMAGE = 1000  # docs/aws-facts.md section 4: accounts + orgs + OUs (adjustable)
MAX_USER_IDS_PER_CALL = 10_000  # docs/aws-facts.md section 4
AMI_NAME = re.compile(r"^[a-zA-Z0-9()\[\] ./\-'@_]{3,128}$")
EBS_SHARE_REFUSED = AwsFault(  # docs/aws-facts.md section 2
    "InvalidParameter", "Snapshots encrypted with the AWS Managed CMK can't be shared. Specify another snapshot."
)


def _hidden(world: World, image: Image, caller: Caller, region: str) -> bool:
    """Allowed AMIs ``enabled`` hides what its criteria do not allow (``audit-mode`` only reports it)."""
    return (
        allowed(world, image, caller.account, region) is False
        and setting(world, caller.account, region).state == "enabled"
    )


def _check_copy_request(name: str, token: str | None, minutes: Any) -> None:
    if not AMI_NAME.match(name):
        raise AwsFault("InvalidAMIName.Malformed", f"AMI name {name!r} is invalid")
    if token is not None and not (0 < len(token) <= 64 and token.isascii()):
        raise AwsFault("InvalidParameterValue", "ClientToken must be 1-64 ASCII characters")
    if minutes is not None and not (15 <= int(minutes) <= 2880 and int(minutes) % 15 == 0):
        raise AwsFault(  # docs/aws-facts.md section 3: time-based copies, 15 minutes to 48 hours in 15-minute steps
            "InvalidParameterValue",
            f"SnapshotCopyCompletionDurationMinutes {minutes} must be 15 to 2880 in increments of 15",
        )


class ImageHandlers:
    def __init__(self, world: World) -> None:
        self.world = world

    # ------------------------------------------------------------------ describe
    def describe(self, caller: Caller, image: Image) -> dict[str, Any]:
        state, reason = image_state(self.world, image)
        mappings = []
        for mapping in image.mappings:
            row = json.loads(json.dumps(mapping))
            ebs = row.get("Ebs")
            if ebs and ebs.get("SnapshotId") in self.world.snapshots:
                snapshot = self.world.snapshots[ebs["SnapshotId"]]
                ebs["Encrypted"] = snapshot.encrypted
                if snapshot.encrypted:
                    ebs["KmsKeyId"] = snapshot.kms_key_arn
            mappings.append(row)
        out: dict[str, Any] = {
            "ImageId": image.image_id,
            "ImageLocation": f"{image.account}/{image.name}",
            "State": state,
            "OwnerId": image.account,
            "CreationDate": image.created.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "Public": image.public,
            "Architecture": image.architecture,
            "ImageType": "machine",
            "Name": image.name,
            "RootDeviceType": "ebs",
            "RootDeviceName": image.root_device_name,
            "BlockDeviceMappings": mappings,
            "VirtualizationType": image.virtualization_type,
            "Hypervisor": "xen",
            "EnaSupport": image.ena_support,
            "PlatformDetails": "Linux/UNIX",
            "UsageOperation": "RunInstances",
            "DeregistrationProtection": self._protection(image),
        }
        if image.description:
            out["Description"] = image.description
        if reason:
            out["StateReason"] = reason
        if image.boot_mode:
            out["BootMode"] = image.boot_mode
        if image.deprecation_time:
            out["DeprecationTime"] = image.deprecation_time.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        if image.last_launched and caller.account == image.account:
            out["LastLaunchedTime"] = image.last_launched.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        if image.source_image_id:
            out["SourceImageId"], out["SourceImageRegion"] = image.source_image_id, image.source_region
        if image.tags and caller.account == image.account:  # tags are the owner's alone
            out["Tags"] = tag_list(image.tags)
        verdict = allowed(self.world, image, caller.account, image.region)
        if verdict is not None:  # Allowed AMIs is enabled or in audit mode for the caller
            out["ImageAllowed"] = verdict
        return out

    @staticmethod
    def _protection(image: Image) -> str:
        until = image.protection_until
        if image.deregistration_protection == "disabled" and until and until > utcnow():
            return f"disabled-until-{until.strftime('%Y-%m-%dT%H:%M:%S.000Z')}"
        return image.deregistration_protection

    def DescribeImages(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        check_dry_run(p)
        world = self.world
        with world.lock:
            ids = p.get("ImageIds") or []
            for image_id in ids:
                check_image_id(image_id)
            candidates = (
                [world.images[i] for i in dict.fromkeys(ids) if i in world.images] if ids else world.images.values()
            )  # by id when ids are given: a fleet's poll must not scan every image of every account
            images = [
                i
                for i in candidates
                if i.region == region and can_launch(world, i, caller.account) and not _hidden(world, i, caller, region)
            ]
            if ids:
                found = {i.image_id for i in images}
                gone = self._recently_deregistered(caller, region, [i for i in ids if i not in found])
                missing = [i for i in ids if i not in found and i not in gone]
                if missing:
                    raise image_not_found(missing)
                images = [i for i in images if i.image_id in ids] + list(gone.values())
            else:
                now = utcnow()
                images = [
                    i
                    for i in images
                    if (p.get("IncludeDisabled") or not i.disabled)
                    and (
                        p.get("IncludeDeprecated")
                        or i.account == caller.account
                        or not (i.deprecation_time and i.deprecation_time <= now)
                    )
                ]
            owners = p.get("Owners") or []
            if owners:
                wanted = {caller.account if o == "self" else o for o in owners}
                images = [i for i in images if i.account in wanted]
            users = p.get("ExecutableUsers") or []
            if users:
                images = [i for i in images if any(self._executable_by(i, u, caller) for u in users)]
            images = apply_filters(
                images,
                p.get("Filters") or [],
                {
                    "image-id": lambda i: [i.image_id],
                    "name": lambda i: [i.name],
                    "description": lambda i: [i.description],
                    "state": lambda i: [image_state(world, i)[0]],
                    "owner-id": lambda i: [i.account],
                    "is-public": lambda i: ["true" if i.public else "false"],
                    "creation-date": lambda i: [i.created.strftime("%Y-%m-%dT%H:%M:%S.000Z")],
                    "architecture": lambda i: [i.architecture],
                    "source-image-id": lambda i: [i.source_image_id or ""],
                    "block-device-mapping.snapshot-id": lambda i: i.snapshot_ids(),
                    "block-device-mapping.encrypted": lambda i: [
                        "true" if world.snapshots[s].encrypted else "false"
                        for s in i.snapshot_ids()
                        if s in world.snapshots
                    ],
                },
                lambda i: i.tags if i.account == caller.account else {},
            )
            images.sort(key=lambda i: (i.created, i.image_id))
            page, token = paginate(images, p)
            out: dict[str, Any] = {"Images": [self.describe(caller, i) for i in page]}
        if token:
            out["NextToken"] = token
        return out

    def _recently_deregistered(self, caller: Caller, region: str, ids: list[str]) -> dict[str, Image]:
        """docs/aws-facts.md section 3: by id, a deregistered image is still described (state ``deregistered``) to its
        owner for a short while (``deregistered_visible_seconds``), then not at all."""
        now = self.world.clock()
        window = self.world.settings.deregistered_visible_seconds
        found = {}
        for image_id in ids:
            image, at = self.world.deregistered.get(image_id, (None, 0.0))
            if image is not None and image.account == caller.account and image.region == region and now - at < window:
                found[image_id] = image
        return found

    def _executable_by(self, image: Image, user: str, caller: Caller) -> bool:
        if user == "all":
            return image.public
        if user in ("self", caller.account):
            return shared_explicitly(self.world, image, caller.account)
        return user in image.launch_users

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
            kept = []
            for mapping in mappings:  # RegisterImage keeps the mappings it is given (docs/aws-facts.md section 8)
                row = json.loads(json.dumps(mapping, default=str))
                ebs = row.get("Ebs")
                if ebs is not None:
                    snapshot = owned_snapshot(world, caller, region, ebs.get("SnapshotId", ""))
                    if snapshot_state(world, snapshot)[0] != "completed":
                        raise AwsFault("IncorrectState", f"Snapshot {snapshot.snapshot_id} is not completed")
                    size = ebs.get("VolumeSize", snapshot.size_gib)
                    if size < snapshot.size_gib:
                        raise AwsFault(
                            "InvalidParameterValue",
                            f"Volume of {size} GiB is smaller than snapshot {snapshot.snapshot_id} "
                            f"({snapshot.size_gib} GiB)",
                        )
                    ebs.update(
                        VolumeSize=size,
                        DeleteOnTermination=ebs.get("DeleteOnTermination", True),
                        VolumeType=ebs.get("VolumeType", "gp3"),
                    )
                    ebs.pop("Encrypted", None)
                    ebs.pop("KmsKeyId", None)
                kept.append(row)
            root = p.get("RootDeviceName", kept[0].get("DeviceName", "/dev/xvda"))
            if root not in {m.get("DeviceName") for m in kept}:
                raise AwsFault("InvalidBlockDeviceMapping", f"The root device {root} has no block device mapping")
            self._unique_name(caller.account, region, name)
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
        return {"ImageId": image.image_id}

    def _unique_name(self, account: str, region: str, name: str) -> None:
        for image in self.world.images.values():
            if image.account == account and image.region == region and image.name == name:
                raise AwsFault("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {image.image_id}")

    # ---------------------------------------------------------------------- copy
    def CopyImage(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        world = self.world
        source_region = p.get("SourceRegion", "")
        check_region(source_region)
        name = p.get("Name", "")
        token = p.get("ClientToken")
        _check_copy_request(name, token, p.get("SnapshotCopyCompletionDurationMinutes"))
        with world.lock:
            source = visible_image(world, caller, source_region, p.get("SourceImageId", ""))
            fingerprint = hashlib.sha256(
                json.dumps(
                    {k: v for k, v in p.items() if k not in ("ClientToken", "DryRun")},
                    sort_keys=True,
                    default=str,
                ).encode()
            ).hexdigest()
            if token is not None:  # CopyImage ClientToken idempotency (docs/aws-facts.md section 3)
                seen = world.client_tokens.get((caller.account, region, token))
                if seen is not None:
                    if seen[0] != fingerprint:
                        raise AwsFault(
                            "IdempotentParameterMismatch",
                            f"Client token {token} was already used with other parameters",
                        )
                    return {"ImageId": seen[1]}
            if image_state(world, source)[0] != "available":
                raise AwsFault("IncorrectState", f"Image {source.image_id} is not available")
            self._unique_name(caller.account, region, name)  # after the token: a repeat is not a duplicate
            sources = [world.snapshots[s] for s in source.snapshot_ids()]
            if caller.account != source.account and not all(can_restore(s, caller.account) for s in sources):
                # docs/aws-facts.md section 1: copying a shared AMI needs createVolumePermission on every snapshot
                raise AwsFault("InvalidRequest", "You do not have permission to access the storage of this ami")
            encryption = copy_encryption(world, caller, region, p, sources)
            check_dry_run(p)
            if pending_copies(world, caller.account, region, images=True) >= world.settings.ami_copy_limit:
                raise AwsFault(
                    "ResourceLimitExceeded",  # docs/aws-facts.md section 4
                    f"You have reached the limit of {world.settings.ami_copy_limit} concurrent AMI copies in {region}",
                )
            image_tags = dict(source.tags) if p.get("CopyImageTags") and caller.account == source.account else {}
            image_tags.update(tags_from_specs(p.get("TagSpecifications") or [], "image"))
            snapshot_tags = tags_from_specs(p.get("TagSpecifications") or [], "snapshot")
            copies = {}
            durations = [0.0]
            for snapshot in sources:
                duration = copy_duration(world, snapshot.size_gib)
                durations.append(duration)
                copies[snapshot.snapshot_id] = start_snapshot_copy(
                    world,
                    caller,
                    region,
                    snapshot,
                    encryption,
                    f"Copied for DestinationAmi from SourceAmi {source.image_id} from SourceSnapshot "
                    f"{snapshot.snapshot_id}",
                    snapshot_tags,
                    duration,
                    via_copy_snapshot=False,
                )
            mappings = json.loads(json.dumps(source.mappings))
            for mapping in mappings:
                if "Ebs" in mapping and mapping["Ebs"].get("SnapshotId") in copies:
                    mapping["Ebs"]["SnapshotId"] = copies[mapping["Ebs"]["SnapshotId"]].snapshot_id
            image = Image(
                image_id=new_id("ami"),
                account=caller.account,
                region=region,
                name=name,
                mappings=mappings,
                description=p.get("Description", source.description),
                architecture=source.architecture,
                root_device_name=source.root_device_name,
                virtualization_type=source.virtualization_type,
                ena_support=source.ena_support,
                boot_mode=source.boot_mode,
                tags=image_tags,
                transition=Transition(world.clock(), max(durations), encryption.failure),
                source_image_id=source.image_id,
                source_region=source_region,
            )
            world.images[image.image_id] = image
            if token is not None:
                world.client_tokens[(caller.account, region, token)] = (fingerprint, image.image_id)
        return {"ImageId": image.image_id}

    # --------------------------------------------------------------- attributes
    def DescribeImageAttribute(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            image = owned_image(self.world, caller, region, p.get("ImageId", ""))
            check_dry_run(p)
            attribute = p.get("Attribute", "")
            out: dict[str, Any] = {"ImageId": image.image_id}
            if attribute == "launchPermission":
                out["LaunchPermissions"] = self._permissions(image)
            elif attribute == "description":
                out["Description"] = {"Value": image.description}
            elif attribute == "blockDeviceMapping":
                out["BlockDeviceMappings"] = self.describe(caller, image)["BlockDeviceMappings"]
            elif attribute == "deregistrationProtection":
                out["DeregistrationProtection"] = {"Value": self._protection(image)}
            elif attribute == "lastLaunchedTime":
                if image.last_launched:
                    out["LastLaunchedTime"] = {"Value": image.last_launched.strftime("%Y-%m-%dT%H:%M:%S.000Z")}
            elif attribute in (
                "kernel",
                "ramdisk",
                "productCodes",
                "sriovNetSupport",
                "bootMode",
                "tpmSupport",
                "uefiData",
                "imdsSupport",
            ):
                pass
            else:
                raise AwsFault("InvalidParameterValue", f"Value ({attribute}) for parameter attribute is invalid.")
        return out

    @staticmethod
    def _permissions(image: Image) -> list[dict[str, str]]:
        rows: list[dict[str, str]] = [{"Group": "all"}] if image.public else []
        rows += [{"UserId": u} for u in sorted(image.launch_users)]
        rows += [{"OrganizationArn": a} for a in sorted(image.launch_orgs)]
        rows += [{"OrganizationalUnitArn": a} for a in sorted(image.launch_ous)]
        return rows

    def ModifyImageAttribute(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        world = self.world
        with world.lock:
            image = owned_image(world, caller, region, p.get("ImageId", ""))
            if "Description" in p or p.get("Attribute") == "description":
                value = (p.get("Description") or {}).get("Value", p.get("Value", ""))
                check_dry_run(p)
                image.description = value
                return {}
            add, remove = self._launch_changes(p)
            for entry in add + remove:
                self._check_permission(entry)
            if add:
                self._check_can_share(image, add, caller, region)
            if len(self._shares_after(image, add, remove)) > MAX_SHARES_PER_IMAGE:
                raise AwsFault(
                    "ResourceLimitExceeded",
                    f"An AMI can be shared with at most {MAX_SHARES_PER_IMAGE} accounts, organizations and OUs",
                )
            check_dry_run(p)
            for entry, present in [(e, True) for e in add] + [(e, False) for e in remove]:
                self._set(image, entry, present)
        return {}

    def _launch_changes(self, p: dict[str, Any]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """Both request forms: ``LaunchPermission={Add,Remove}`` or ``OperationType`` + lists."""
        if "LaunchPermission" in p:
            lp = p["LaunchPermission"]
            return list(lp.get("Add") or []), list(lp.get("Remove") or [])
        if p.get("Attribute") not in (None, "launchPermission"):
            raise AwsFault("InvalidParameterValue", f"Value ({p.get('Attribute')}) for parameter attribute is invalid.")
        entries = (
            [{"UserId": u} for u in p.get("UserIds") or []]
            + [{"Group": g} for g in p.get("UserGroups") or []]
            + [{"OrganizationArn": a} for a in p.get("OrganizationArns") or []]
            + [{"OrganizationalUnitArn": a} for a in p.get("OrganizationalUnitArns") or []]
        )
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

    @staticmethod
    def _check_permission(entry: dict[str, str]) -> None:
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
            raise AwsFault(
                "InvalidParameterValue", f"Invalid organizational unit ARN: {entry['OrganizationalUnitArn']}"
            )

    def _check_can_share(self, image: Image, add: list[dict[str, str]], caller: Caller, region: str) -> None:
        world = self.world
        snapshots = [world.snapshots[s] for s in image.snapshot_ids() if s in world.snapshots]
        for snapshot in snapshots:
            key = kms.find_key(world, snapshot.account, snapshot.region, snapshot.kms_key_arn or "")
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

    @staticmethod
    def _shares_after(image: Image, add: list[dict[str, str]], remove: list[dict[str, str]]) -> set[str]:
        shares = image.launch_users | image.launch_orgs | image.launch_ous
        for entry in add:
            shares |= {v for k, v in entry.items() if k != "Group"}
        for entry in remove:
            shares -= set(entry.values())
        return shares

    @staticmethod
    def _set(image: Image, entry: dict[str, str], present: bool) -> None:
        for field, bucket in (
            ("UserId", image.launch_users),
            ("OrganizationArn", image.launch_orgs),
            ("OrganizationalUnitArn", image.launch_ous),
        ):
            if field in entry:
                (bucket.add if present else bucket.discard)(entry[field])
        if entry.get("Group") == "all":
            image.public = present

    def ResetImageAttribute(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            image = owned_image(self.world, caller, region, p.get("ImageId", ""))
            if p.get("Attribute") != "launchPermission":
                raise AwsFault("InvalidParameterValue", "Only launchPermission can be reset")
            check_dry_run(p)
            image.make_private()
        return {}

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
            image.disabled = True
            image.make_private()
        return {"Return": True}

    def EnableImage(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        """Available again, and private: the launch permissions DisableImage removed are not restored."""
        with self.world.lock:
            image = owned_image(self.world, caller, region, p.get("ImageId", ""))
            check_dry_run(p)
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
        return {"Return": self._protection(image)}

    # --------------------------------------------------------------- deregister
    def DeregisterImage(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        world = self.world
        with world.lock:
            image = owned_image(world, caller, region, p.get("ImageId", ""))
            if self._protection(image) != "disabled":
                raise AwsFault(
                    "OperationNotPermitted",
                    f"Image {image.image_id} has deregistration protection enabled; disable it first.",
                )
            check_dry_run(p)
            del world.images[image.image_id]
            image.deregistered = True
            world.deregistered[image.image_id] = (image, world.clock())
            rbin.keep_if_retained(world, image)
            results = []
            if p.get("DeleteAssociatedSnapshots"):  # docs/aws-facts.md section 3
                in_use = {s for other in world.images.values() for s in other.snapshot_ids()}
                for snapshot_id in image.snapshot_ids():
                    if snapshot_id in in_use:
                        results.append({"SnapshotId": snapshot_id, "ReturnCode": "skipped"})
                    else:
                        world.snapshots.pop(snapshot_id, None)
                        results.append({"SnapshotId": snapshot_id, "ReturnCode": "success"})
        out: dict[str, Any] = {"Return": True}
        if p.get("DeleteAssociatedSnapshots"):
            out["DeleteSnapshotResults"] = results
        return out
