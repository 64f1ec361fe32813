"""EC2 snapshots: describe, share (createVolumePermission), copy, delete."""

from __future__ import annotations

from typing import Any

from amishare.policy.evaluate import Caller
from amishare.sandbox.ec2.common import (
    ACCOUNT_ID,
    can_restore,
    check_dry_run,
    check_region,
    check_snapshot_id,
    owned_snapshot,
    paginate,
    pending_copies,
    snapshot_not_found,
    snapshot_state,
    tag_list,
    tags_from_specs,
    visible_snapshot,
)
from amishare.sandbox.ec2.copy import check_completion_minutes, copy_encryption, start_snapshot_copy
from amishare.sandbox.ec2.filters import SNAPSHOT_FILTERS, SNAPSHOT_PARAMETERS, filter_resources, select
from amishare.sandbox.kms.keys import find_key
from amishare.sandbox.state import Snapshot, World
from amishare.sandbox.wire.protocol import AwsFault

MAX_CHANGES_PER_CALL = 500  # docs/aws-facts.md section 4


def _check_entry(entry: dict[str, str]) -> None:
    """A createVolumePermission entry names a 12-digit account or the group ``all``."""
    if "UserId" in entry and not ACCOUNT_ID.match(entry["UserId"]):
        raise AwsFault("InvalidUserID.Malformed", f'Invalid user id: "{entry["UserId"]}"')
    if "Group" in entry and entry["Group"] != "all":
        raise AwsFault("InvalidParameterValue", f'Invalid group: "{entry["Group"]}"')


class SnapshotHandlers:
    def __init__(self, world: World) -> None:
        self.world = world

    def describe(self, caller: Caller, snapshot: Snapshot) -> dict[str, Any]:
        state, progress, message = snapshot_state(self.world, snapshot)
        out: dict[str, Any] = {
            "SnapshotId": snapshot.snapshot_id,
            "VolumeId": snapshot.volume_id,
            "State": state,
            "StartTime": snapshot.start_time,
            "Progress": progress,
            "OwnerId": snapshot.account,
            "Description": snapshot.description,
            "VolumeSize": snapshot.size_gib,
            "Encrypted": snapshot.encrypted,
            "StorageTier": "standard",
        }
        if snapshot.encrypted:
            out["KmsKeyId"] = snapshot.kms_key_arn
        if snapshot.source_snapshot_id:  # a copy: standard, or time-based with its duration
            out["TransferType"] = "standard" if snapshot.completion_minutes is None else "time-based"
            if snapshot.completion_minutes is not None:
                out["CompletionDurationMinutes"] = snapshot.completion_minutes
        if message:
            out["StateMessage"] = message
        if snapshot.tags and caller.account == snapshot.account:
            out["Tags"] = tag_list(snapshot.tags)
        return out

    def DescribeSnapshots(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        check_dry_run(p)
        world = self.world
        with world.lock:
            rows = self._visible(caller, region, p.get("SnapshotIds") or [])
            rows = select(world, caller, rows, p, SNAPSHOT_PARAMETERS)
            rows = filter_resources(world, caller, rows, p.get("Filters") or [], SNAPSHOT_FILTERS)
            rows.sort(key=lambda s: (s.start_time, s.snapshot_id))
            page, token = paginate(rows, p)
            out: dict[str, Any] = {"Snapshots": [self.describe(caller, s) for s in page]}
        if token:
            out["NextToken"] = token
        return out

    def _visible(self, caller: Caller, region: str, ids: list[str]) -> list[Snapshot]:
        """The snapshots the caller may restore in ``region``; those of ``ids`` when given, each of which must be
        one of them (else ``InvalidSnapshot.NotFound``)."""
        for snapshot_id in ids:
            check_snapshot_id(snapshot_id)
        rows = [s for s in self.world.snapshots.values() if s.region == region and can_restore(s, caller.account)]
        if not ids:
            return rows
        found = {s.snapshot_id for s in rows}
        for snapshot_id in ids:
            if snapshot_id not in found:
                raise snapshot_not_found(snapshot_id)
        return [s for s in rows if s.snapshot_id in ids]

    # --------------------------------------------------------------- attributes
    def DescribeSnapshotAttribute(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            snapshot = owned_snapshot(self.world, caller, region, p.get("SnapshotId", ""))
            check_dry_run(p)
            if p.get("Attribute") == "createVolumePermission":
                rows: list[dict[str, str]] = [{"Group": "all"}] if snapshot.public else []
                rows += [{"UserId": u} for u in sorted(snapshot.shared_with)]
                return {"SnapshotId": snapshot.snapshot_id, "CreateVolumePermissions": rows}
            if p.get("Attribute") == "productCodes":
                return {"SnapshotId": snapshot.snapshot_id, "ProductCodes": []}
        raise AwsFault("InvalidParameterValue", f"Value ({p.get('Attribute')}) for parameter attribute is invalid.")

    def ModifySnapshotAttribute(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        world = self.world
        with world.lock:
            snapshot = owned_snapshot(world, caller, region, p.get("SnapshotId", ""))
            add, remove = self._changes(p)
            self._check_changes(snapshot, add, remove)
            check_dry_run(p)
            for entry in add:
                if "UserId" in entry:
                    snapshot.shared_with.add(entry["UserId"])
                else:
                    snapshot.public = True
            for entry in remove:
                if "UserId" in entry:
                    snapshot.shared_with.discard(entry["UserId"])
                else:
                    snapshot.public = False
        return {}

    def _check_changes(self, snapshot: Snapshot, add: list[dict[str, str]], remove: list[dict[str, str]]) -> None:
        """What ModifySnapshotAttribute refuses (docs/aws-facts.md sections 2 and 4)."""
        if add and remove:
            raise AwsFault(
                "InvalidParameterCombination",
                "You cannot add and remove create volume permissions in the same request.",
            )
        if len(add) + len(remove) > MAX_CHANGES_PER_CALL:
            raise AwsFault("InvalidParameterValue", f"At most {MAX_CHANGES_PER_CALL} permission changes per request")
        for entry in add + remove:
            _check_entry(entry)
        if add and snapshot.encrypted:
            self._check_encrypted_share(snapshot, add)

    def _check_encrypted_share(self, snapshot: Snapshot, add: list[dict[str, str]]) -> None:
        key = find_key(self.world, snapshot.account, snapshot.region, snapshot.kms_key_arn or "")
        if key is not None and key.manager == "AWS":  # docs/aws-facts.md section 2
            raise AwsFault("OperationNotPermitted", "Encrypted snapshots with EBS default key cannot be shared")
        if any(e.get("Group") == "all" for e in add):
            raise AwsFault("OperationNotPermitted", "Encrypted snapshots cannot be made public")

    @staticmethod
    def _changes(p: dict[str, Any]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """Both request forms (docs/aws-facts.md section 8: moto ignores the structured one)."""
        if "CreateVolumePermission" in p:
            cvp = p["CreateVolumePermission"]
            return list(cvp.get("Add") or []), list(cvp.get("Remove") or [])
        if p.get("Attribute") not in (None, "createVolumePermission"):
            raise AwsFault("InvalidParameterValue", f"Value ({p.get('Attribute')}) for parameter attribute is invalid.")
        entries = [{"UserId": u} for u in p.get("UserIds") or []] + [{"Group": g} for g in p.get("GroupNames") or []]
        if not entries:
            raise AwsFault("MissingParameter", "No create volume permission change was given")
        operation = p.get("OperationType")
        if operation == "add":
            return entries, []
        if operation == "remove":
            return [], entries
        raise AwsFault("InvalidParameterValue", f"OperationType must be add or remove, not {operation!r}")

    def ResetSnapshotAttribute(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            snapshot = owned_snapshot(self.world, caller, region, p.get("SnapshotId", ""))
            check_dry_run(p)
            snapshot.shared_with.clear()
            snapshot.public = False
        return {}

    # --------------------------------------------------------------- copy/delete
    def CopySnapshot(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        world = self.world
        check_region(p.get("SourceRegion", ""))
        minutes = check_completion_minutes("CompletionDurationMinutes", p.get("CompletionDurationMinutes"))
        with world.lock:
            source = visible_snapshot(world, caller, p["SourceRegion"], p.get("SourceSnapshotId", ""))
            if snapshot_state(world, source)[0] != "completed":
                raise AwsFault("IncorrectState", f"Snapshot {source.snapshot_id} is not completed")
            encryption = copy_encryption(world, caller, region, p, [source])
            check_dry_run(p)
            if pending_copies(world, caller.account, region, images=False) >= world.settings.snapshot_copy_limit:
                raise AwsFault(
                    "ResourceLimitExceeded",  # docs/aws-facts.md section 4: not adjustable
                    f"Too many snapshot copies in progress. The limit is "
                    f"{world.settings.snapshot_copy_limit} for this destination region.",
                )
            tags = tags_from_specs(p.get("TagSpecifications") or [], "snapshot")
            copy = start_snapshot_copy(
                world,
                caller,
                region,
                source,
                encryption,
                p.get("Description", f"Copied from {source.snapshot_id}"),
                tags,
                via_copy_snapshot=True,
                completion_minutes=minutes,
            )
        out: dict[str, Any] = {"SnapshotId": copy.snapshot_id}
        if tags:
            out["Tags"] = tag_list(tags)
        return out

    def DeleteSnapshot(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        world = self.world
        with world.lock:
            snapshot = owned_snapshot(world, caller, region, p.get("SnapshotId", ""))
            for image in world.images.values():
                if snapshot.snapshot_id in image.snapshot_ids():  # docs/aws-facts.md section 3
                    raise AwsFault(
                        "InvalidSnapshot.InUse",
                        f"The snapshot {snapshot.snapshot_id} is currently in use by {image.image_id}",
                    )
            check_dry_run(p)
            del world.snapshots[snapshot.snapshot_id]
        return {}
