"""The ``Observer``: reads an image, its snapshots and its keys in one region, as one account (read-only).

Every call here is a Describe/Get/List: observing never changes anything, which is what makes
``--dry-run`` free of mutating calls. Every read of amishare's reads modules goes through an ``Observer``
or a client of ``Sessions``; botocore's errors arrive as amishare's (``aws.client``).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from amishare.aws.reads.convert import image_info, key_info, launch_permissions, snapshot_ids, snapshot_info, tags_of
from amishare.aws.session import Sessions
from amishare.errors import AccessDenied, AwsError, NotFound
from amishare.model import TAG_SOURCE_IMAGE, TAG_STAGING, GrantInfo, ImageInfo, KeyInfo, LaunchPermissions


def owned_copies(ec2: Any, source_ids: list[str]) -> list[dict[str, Any]]:
    """The available images ``ec2``'s account owns that amishare copied from any of ``source_ids`` (its lineage
    tag), a transfer's staging copy left out (it is deleted once the transfer ends): one DescribeImages."""
    lineage = [{"Name": f"tag:{TAG_SOURCE_IMAGE}", "Values": source_ids}]
    return [
        image
        for image in ec2.describe_images(Owners=["self"], Filters=lineage)["Images"]
        if image.get("State") == "available" and tags_of(image).get(TAG_STAGING) != "true"
    ]


class Observer:
    """Reads what the planners need in one region, as ``account`` (None: the caller's own credentials)."""

    def __init__(self, sessions: Sessions, region: str, account: str | None = None) -> None:
        self.sessions = sessions
        self.region = region
        self.ec2 = sessions.client("ec2", region, account)
        self.kms = sessions.client("kms", region, account)
        self._keys: dict[str, KeyInfo] = {}

    # ------------------------------------------------------------------ images
    def image(self, image_id: str, caller: str) -> ImageInfo:
        """``caller``'s own image, with its permissions and snapshots (``AccessDenied`` when another owns it)."""
        raw = self.image_raw(image_id, caller)
        if raw["OwnerId"] != caller:
            raise AccessDenied(
                f"image {image_id} is owned by account {raw['OwnerId']}, not by {caller}: run amishare with that "
                "account's credentials (--profile) to share or revoke it",
                operation="DescribeImageAttribute",
                account=caller,
                region=self.region,
            )
        return self.image_of(raw)

    def image_raw(self, image_id: str, caller: str) -> dict[str, Any]:
        """DescribeImages of one image (``NotFound`` names the region: AMIs are regional)."""
        try:
            images = self.ec2.describe_images(ImageIds=[image_id])["Images"]
        except AwsError as exc:
            if not exc.code.startswith("InvalidAMIID"):
                raise
            raise NotFound(
                f"image {image_id} not found in {self.region} for account {caller}: check the id "
                "and --region (AMIs are regional)",
                operation="DescribeImages",
                code=exc.code,
                account=caller,
                region=self.region,
            ) from exc
        if not images or images[0].get("State") == "deregistered":  # docs/aws-facts.md section 3: a short tail
            gone = " (it was deregistered)" if images else " (an empty answer: AWS's for an image deregistered lately)"
            raise NotFound(
                f"image {image_id} not found in {self.region}{gone}",
                operation="DescribeImages",
                account=caller,
                region=self.region,
            )
        return dict(images[0])

    def image_of(self, raw: dict[str, Any], *, with_permissions: bool = True) -> ImageInfo:
        """A DescribeImages entry with its permissions and snapshots, read with concurrent calls (they are
        independent)."""
        image_id = raw["ImageId"]
        snapshots = snapshot_ids(raw)
        with ThreadPoolExecutor(max_workers=2 + len(snapshots)) as pool:
            launch_call = (
                pool.submit(self.ec2.describe_image_attribute, ImageId=image_id, Attribute="launchPermission")
                if with_permissions
                else None
            )
            described_call = pool.submit(self.ec2.describe_snapshots, SnapshotIds=snapshots) if snapshots else None
            attribute_calls = {
                sid: pool.submit(
                    self.ec2.describe_snapshot_attribute, SnapshotId=sid, Attribute="createVolumePermission"
                )
                for sid in (snapshots if with_permissions else [])
            }
        launch = launch_permissions(launch_call.result()["LaunchPermissions"]) if launch_call else LaunchPermissions()
        described = {s["SnapshotId"]: s for s in described_call.result()["Snapshots"]} if described_call else {}
        infos = {
            sid: snapshot_info(
                described[sid], attribute_calls[sid].result()["CreateVolumePermissions"] if with_permissions else []
            )
            for sid in snapshots
        }
        return image_info(raw, self.region, launch, infos)

    def reencrypted_copy(self, source_id: str, share_key: KeyInfo | None) -> ImageInfo | None:
        """The caller's re-encrypted copy of ``source_id`` (tagged by amishare), when one exists."""
        found = self.ec2.describe_images(
            Owners=["self"], Filters=[{"Name": f"tag:{TAG_SOURCE_IMAGE}", "Values": [source_id]}]
        )["Images"]
        usable = [  # a transfer's staging copy is no re-encrypted copy: it is deleted once the transfer ends
            i for i in found if i.get("State") in ("available", "pending") and tags_of(i).get(TAG_STAGING) != "true"
        ]
        usable.sort(key=lambda i: (i.get("State") != "available", i.get("CreationDate", "")))
        for raw in usable:
            info = self.image_of(raw)
            if share_key is None or set(info.key_arns) == {share_key.arn}:
                return info
        return None

    def siblings(self, image_id: str, key_arns: tuple[str, ...]) -> tuple[ImageInfo, ...]:
        """The caller's other images in the region encrypted with any of ``key_arns``."""
        if not key_arns:
            return ()
        out = []
        for raw in self.ec2.describe_images(Owners=["self"])["Images"]:
            if raw["ImageId"] == image_id:
                continue
            keys = {m["Ebs"].get("KmsKeyId") for m in raw.get("BlockDeviceMappings", []) if "Ebs" in m}
            if keys & set(key_arns):
                out.append(self.image_of(raw))
        return tuple(out)

    def block_public_access(self) -> str:
        """The account's image block public access state in the region."""
        return str(self.ec2.get_image_block_public_access_state()["ImageBlockPublicAccessState"])

    def visible_snapshots(self, snapshot_ids: tuple[str, ...]) -> frozenset[str]:
        """The snapshots the account can see (and so restore): one DescribeSnapshots for them all, then one each
        only when some is hidden (the call fails as a whole on a snapshot it cannot see)."""

        def seen(ids: tuple[str, ...]) -> bool:
            try:
                self.ec2.describe_snapshots(SnapshotIds=list(ids))
            except AwsError as exc:
                if exc.code.startswith("InvalidSnapshot"):
                    return False
                raise
            return True

        if not snapshot_ids or seen(snapshot_ids):
            return frozenset(snapshot_ids)
        return frozenset(s for s in snapshot_ids if len(snapshot_ids) > 1 and seen((s,)))

    # -------------------------------------------------------------------- keys
    def describe_key(self, ref: str, caller: str) -> dict[str, Any]:
        """DescribeKey's metadata of a key by id, ARN, alias or alias ARN (``NotFound`` names the region)."""
        try:
            return dict(self.kms.describe_key(KeyId=ref)["KeyMetadata"])
        except AwsError as exc:
            if exc.code != "NotFoundException":
                raise
            raise NotFound(
                f"KMS key {ref} not found in {self.region} (keys are regional; another account's "
                "key must be given by ARN)",
                operation="DescribeKey",
                code="NotFoundException",
                account=caller,
                region=self.region,
            ) from exc

    def described_key(self, ref: str, caller: str) -> KeyInfo:
        """A key as DescribeKey shows it (no aliases, policy or grants: one call)."""
        return key_info(self.describe_key(ref, caller))

    def key(self, ref: str, caller: str) -> KeyInfo:
        """A key by id, ARN, alias or alias ARN, with its policy and grants when the caller may read them."""
        meta = self.describe_key(ref, caller)
        arn = meta["Arn"]
        if arn in self._keys:
            return self._keys[arn]
        if meta.get("KeyManager") == "AWS":
            # The only AWS managed key EBS uses is aws/ebs. It can never be shared: its policy and grants
            # decide nothing (and would cost three calls).
            info = key_info(
                meta, aliases=("alias/aws/ebs",), policy_error="an AWS managed key: its policy cannot be changed"
            )
        elif meta["AWSAccountId"] == caller:
            info = self._own_key(meta, caller)
        else:
            info = key_info(
                meta,
                policy_error=(
                    f"the key belongs to account {meta['AWSAccountId']}: only its owner can read or edit its policy"
                ),
            )
        self._keys[arn] = info
        return info

    def _own_key(self, meta: dict[str, Any], caller: str) -> KeyInfo:
        """The caller's own key with its aliases, policy (or why it cannot be read) and grants."""
        arn = meta["Arn"]
        with ThreadPoolExecutor(max_workers=3) as pool:  # three independent reads
            alias_call = pool.submit(self.kms.list_aliases, KeyId=meta["KeyId"])
            policy_call = pool.submit(self.kms.get_key_policy, KeyId=arn, PolicyName="default")
            grants_call = pool.submit(self.kms.list_grants, KeyId=arn)
        aliases = tuple(sorted(a["AliasName"] for a in alias_call.result()["Aliases"]))
        policy: dict[str, Any] | None = None
        policy_error = None
        try:
            policy = json.loads(policy_call.result()["Policy"])
        except AccessDenied as exc:  # readable or not, the planner decides what that means
            policy_error = f"{exc.code}: {exc.aws_message}"
        try:
            grants = tuple(
                GrantInfo(
                    grant_id=g["GrantId"],
                    grantee=g.get("GranteePrincipal", ""),
                    operations=tuple(g.get("Operations", [])),
                    name=g.get("Name") or None,
                )
                for g in grants_call.result()["Grants"]
            )
        except AccessDenied as exc:  # a grant amishare cannot list, it cannot revoke: never guess there is none
            raise AccessDenied(
                f"cannot list the grants of key {arn} ({exc.code}): amishare needs kms:ListGrants on it to know "
                "who the key admits (amishare iam prints the policy)",
                operation="ListGrants",
                code=exc.code,
                account=caller,
                region=self.region,
            ) from exc
        return key_info(meta, aliases=aliases, policy=policy, policy_error=policy_error, grants=grants)
