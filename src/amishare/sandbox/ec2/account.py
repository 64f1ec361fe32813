"""EC2 account settings (default EBS encryption, image block public access) and tags."""

from __future__ import annotations

from typing import Any

from amishare.policy.evaluate import Caller
from amishare.sandbox.ec2.common import (
    IMAGE_ID,
    SNAPSHOT_ID,
    check_dry_run,
    owned_image,
    owned_snapshot,
)
from amishare.sandbox.ec2.copy import default_key_ref
from amishare.sandbox.ec2.filters import apply_filters
from amishare.sandbox.kms.keys import EBS_ALIAS, find_key, managed_ebs_key
from amishare.sandbox.state import Image, Snapshot, World
from amishare.sandbox.wire.protocol import AwsFault


class Delegate(Exception):
    """The request is not the overlay's: hand it to moto unchanged."""


def _about_images_or_snapshots(filters: list[dict[str, Any]]) -> bool:
    """Whether DescribeTags' filters may select images or snapshots (the overlay's); if not, moto answers."""
    types = {v for f in filters if f.get("Name") == "resource-type" for v in f.get("Values", [])}
    ids = {v for f in filters if f.get("Name") == "resource-id" for v in f.get("Values", [])}
    if types and not types & {"image", "snapshot"}:
        return False
    return not ids or any(i.startswith(("ami-", "snap-")) for i in ids)


def _tag_rows(resource: Image | Snapshot) -> list[dict[str, str]]:
    """One DescribeTags row per tag of an image or snapshot."""
    kind = "image" if isinstance(resource, Image) else "snapshot"
    rid = resource.image_id if isinstance(resource, Image) else resource.snapshot_id
    return [{"ResourceId": rid, "ResourceType": kind, "Key": k, "Value": v} for k, v in sorted(resource.tags.items())]


class AccountHandlers:
    def __init__(self, world: World) -> None:
        self.world = world

    # ---------------------------------------------- default EBS encryption (section 2)
    def GetEbsEncryptionByDefault(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        check_dry_run(p)
        enabled = self.world.encryption_by_default.get((caller.account, region), False)
        return {"EbsEncryptionByDefault": enabled, "SseType": "sse-ebs" if enabled else "none"}

    def EnableEbsEncryptionByDefault(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        check_dry_run(p)
        self.world.encryption_by_default[(caller.account, region)] = True
        return {"EbsEncryptionByDefault": True}

    def DisableEbsEncryptionByDefault(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        check_dry_run(p)
        self.world.encryption_by_default[(caller.account, region)] = False
        return {"EbsEncryptionByDefault": False}

    def GetEbsDefaultKmsKeyId(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        check_dry_run(p)
        with self.world.lock:
            ref = default_key_ref(self.world, caller.account, region)
            key = find_key(self.world, caller.account, region, ref)
        return {"KmsKeyId": key.arn if key and ref != EBS_ALIAS else ref}

    def ModifyEbsDefaultKmsKeyId(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        ref = p.get("KmsKeyId", "")
        if not ref:
            raise AwsFault("MissingParameter", "The request must contain the parameter KmsKeyId")
        check_dry_run(p)
        with self.world.lock:
            # An unusable key is accepted here and fails the volumes and copies that use it.
            key = find_key(self.world, caller.account, region, ref)
            self.world.default_key[(caller.account, region)] = key.arn if key else ref
        return {"KmsKeyId": key.arn if key else ref}

    def ResetEbsDefaultKmsKeyId(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        check_dry_run(p)
        with self.world.lock:
            self.world.default_key.pop((caller.account, region), None)
            key = managed_ebs_key(self.world, caller.account, region)
        return {"KmsKeyId": key.arn}

    # ------------------------------------------ image block public access (section 5)
    def _ibpa(self, caller: Caller, region: str) -> str:
        return self.world.block_public_access.get(
            (caller.account, region), self.world.settings.block_public_access_default
        )

    def GetImageBlockPublicAccessState(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        check_dry_run(p)
        return {"ImageBlockPublicAccessState": self._ibpa(caller, region), "ManagedBy": "account"}

    def EnableImageBlockPublicAccess(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("ImageBlockPublicAccessState") != "block-new-sharing":
            raise AwsFault("InvalidParameterValue", "ImageBlockPublicAccessState must be block-new-sharing")
        check_dry_run(p)
        self.world.block_public_access[(caller.account, region)] = "block-new-sharing"
        return {"ImageBlockPublicAccessState": "block-new-sharing"}

    def DisableImageBlockPublicAccess(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        check_dry_run(p)
        self.world.block_public_access[(caller.account, region)] = "unblocked"
        return {"ImageBlockPublicAccessState": "unblocked"}

    # --------------------------------------------------------------------- tags
    def _resources(self, caller: Caller, region: str, ids: list[str]) -> list[Image | Snapshot]:
        ours = [i.startswith(("ami-", "snap-")) for i in ids]
        if not any(ours):
            raise Delegate()
        if not all(ours):
            raise AwsFault(
                "UnsupportedOperation",
                "The amishare sandbox tags images and snapshots in calls of their own, apart from other resources.",
            )
        for resource_id in ids:
            if not (IMAGE_ID.match(resource_id) or SNAPSHOT_ID.match(resource_id)):
                raise AwsFault("InvalidID", f"The ID '{resource_id}' is not valid")
        return [
            owned_image(self.world, caller, region, i)
            if i.startswith("ami-")
            else owned_snapshot(self.world, caller, region, i)
            for i in ids
        ]

    def CreateTags(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            resources = self._resources(caller, region, p.get("Resources") or [])
            tags = p.get("Tags") or []
            for tag in tags:
                if tag.get("Key", "").startswith("aws:"):
                    raise AwsFault(
                        "InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use"
                    )
            check_dry_run(p)
            for resource in resources:
                resource.tags.update({t["Key"]: t.get("Value", "") for t in tags})
        return {}

    def DeleteTags(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            resources = self._resources(caller, region, p.get("Resources") or [])
            check_dry_run(p)
            for resource in resources:
                for tag in p.get("Tags") or []:
                    if "Value" not in tag or resource.tags.get(tag["Key"]) == tag["Value"]:
                        resource.tags.pop(tag["Key"], None)
        return {}

    def DescribeTags(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        filters = p.get("Filters") or []
        if not _about_images_or_snapshots(filters):
            raise Delegate()
        with self.world.lock:
            rows = []
            resources: list[Image | Snapshot] = [*self.world.images.values(), *self.world.snapshots.values()]
            for resource in resources:
                if resource.account == caller.account and resource.region == region:
                    rows += _tag_rows(resource)
            rows = apply_filters(
                rows,
                filters,
                {
                    "resource-id": lambda r: [r["ResourceId"]],
                    "resource-type": lambda r: [r["ResourceType"]],
                    "key": lambda r: [r["Key"]],
                    "value": lambda r: [r["Value"]],
                },
                lambda r: {},
            )
        return {"Tags": rows}
