"""Observe: read an image, its snapshots, keys, permissions and copies from AWS (read-only calls).

Every call here is a Describe/Get/List: observing never changes anything, which is what makes
``--dry-run`` free of mutating calls.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from amishare.aws.errors import aws_errors
from amishare.aws.session import RoleRef, Sessions
from amishare.checks.doctor.facts import DoctorFacts, TargetView
from amishare.checks.shared_with_me import SharedImageFacts
from amishare.engine.permissions import READ_PERMISSIONS
from amishare.errors import AccessDenied, AwsError, NotFound
from amishare.model import (
    TAG_SOURCE_IMAGE,
    GrantInfo,
    ImageInfo,
    KeyInfo,
    LaunchPermissions,
    MappingInfo,
    Observation,
    SnapshotInfo,
)
from amishare.planners.transfer_spec import Destination, DestinationCheck, Party, TransferObservation, TransferSpec

__all__ = ["READ_PERMISSIONS", "Observer", "observe", "observe_transfer"]


class Observer:
    """Reads what the planner needs, as the caller, in one region."""

    def __init__(self, sessions: Sessions, region: str, account: str | None = None) -> None:
        self.sessions = sessions
        self.region = region
        self.ec2 = sessions.client("ec2", region, account)
        self.kms = sessions.client("kms", region, account)
        self._keys: dict[str, KeyInfo] = {}

    def _call(self, client: Any, operation: str, **params: Any) -> Any:
        name = "".join(part.title() for part in operation.split("_"))
        with aws_errors(name, self.sessions.caller_account(), self.region):
            return getattr(client, operation)(**params)

    # ------------------------------------------------------------------ images
    def image(self, image_id: str, caller: str, *, require_owner: bool = True) -> ImageInfo:
        raw = self.image_raw(image_id, caller)
        if require_owner and raw["OwnerId"] != caller:
            raise AccessDenied(
                f"image {image_id} is owned by account {raw['OwnerId']}, not by {caller}: run amishare with that "
                "account's credentials (--profile) to share or revoke it",
                operation="DescribeImageAttribute",
                account=caller,
                region=self.region,
            )
        return self._image_info(raw, with_permissions=raw["OwnerId"] == caller)

    def image_raw(self, image_id: str, caller: str) -> dict[str, Any]:
        """DescribeImages of one image (``NotFound`` names the region: AMIs are regional)."""
        try:
            with aws_errors("DescribeImages", caller, self.region):
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
            gone = " (it was deregistered)" if images else ""
            raise NotFound(
                f"image {image_id} not found in {self.region}{gone}",
                operation="DescribeImages",
                account=caller,
                region=self.region,
            )
        return dict(images[0])

    def _image_info(self, raw: dict[str, Any], with_permissions: bool = True) -> ImageInfo:
        """The image's permissions and snapshots, read with concurrent calls (they are independent)."""
        image_id = raw["ImageId"]
        snapshot_ids = [
            m["Ebs"]["SnapshotId"] for m in raw.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("SnapshotId")
        ]
        with ThreadPoolExecutor(max_workers=2 + len(snapshot_ids)) as pool:
            launch_call = (
                pool.submit(
                    self._call, self.ec2, "describe_image_attribute", ImageId=image_id, Attribute="launchPermission"
                )
                if with_permissions
                else None
            )
            described_call = (
                pool.submit(self._call, self.ec2, "describe_snapshots", SnapshotIds=snapshot_ids)
                if snapshot_ids
                else None
            )
            attribute_calls = {
                sid: pool.submit(
                    self._call,
                    self.ec2,
                    "describe_snapshot_attribute",
                    SnapshotId=sid,
                    Attribute="createVolumePermission",
                )
                for sid in (snapshot_ids if with_permissions else [])
            }
        launch = launch_permissions(launch_call.result()["LaunchPermissions"]) if launch_call else LaunchPermissions()
        described = {s["SnapshotId"]: s for s in described_call.result()["Snapshots"]} if described_call else {}
        snapshots = {
            sid: snapshot_info(
                described[sid], attribute_calls[sid].result()["CreateVolumePermissions"] if with_permissions else []
            )
            for sid in snapshot_ids
        }
        return image_info(raw, self.region, launch, snapshots)

    def reencrypted_copy(self, source_id: str, share_key: KeyInfo | None) -> ImageInfo | None:
        """The caller's re-encrypted copy of ``source_id`` (tagged by amishare), when one exists."""
        found = self._call(
            self.ec2,
            "describe_images",
            Owners=["self"],
            Filters=[{"Name": f"tag:{TAG_SOURCE_IMAGE}", "Values": [source_id]}],
        )["Images"]
        usable = [i for i in found if i.get("State") in ("available", "pending")]
        usable.sort(key=lambda i: (i.get("State") != "available", i.get("CreationDate", "")))
        for raw in usable:
            info = self._image_info(raw)
            if share_key is None or set(info.key_arns) == {share_key.arn}:
                return info
        return None

    def siblings(self, image_id: str, key_arns: tuple[str, ...]) -> tuple[ImageInfo, ...]:
        """The caller's other images in the region encrypted with any of ``key_arns``."""
        if not key_arns:
            return ()
        out = []
        for raw in self._call(self.ec2, "describe_images", Owners=["self"])["Images"]:
            if raw["ImageId"] == image_id:
                continue
            keys = {m["Ebs"].get("KmsKeyId") for m in raw.get("BlockDeviceMappings", []) if "Ebs" in m}
            if keys & set(key_arns):
                out.append(self._image_info(raw))
        return tuple(out)

    def block_public_access(self) -> str:
        return str(self._call(self.ec2, "get_image_block_public_access_state")["ImageBlockPublicAccessState"])

    # -------------------------------------------------------------------- keys
    def describe_key(self, ref: str, caller: str) -> dict[str, Any]:
        """DescribeKey's metadata of a key by id, ARN, alias or alias ARN (``NotFound`` names the region)."""
        try:
            with aws_errors("DescribeKey", caller, self.region):
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
        aliases: tuple[str, ...] = ()
        policy: dict[str, Any] | None = None
        policy_error = None
        grants: tuple[GrantInfo, ...] = ()
        if meta.get("KeyManager") == "AWS":
            # The only AWS managed key EBS uses is aws/ebs. It can never be shared: its policy and grants
            # decide nothing (and would cost three calls).
            aliases = ("alias/aws/ebs",)
            policy_error = "an AWS managed key: its policy cannot be changed"
        elif meta["AWSAccountId"] == caller:
            with ThreadPoolExecutor(max_workers=3) as pool:  # three independent reads
                alias_call = pool.submit(self._call, self.kms, "list_aliases", KeyId=meta["KeyId"])
                policy_call = pool.submit(self._call, self.kms, "get_key_policy", KeyId=arn, PolicyName="default")
                grants_call = pool.submit(self._call, self.kms, "list_grants", KeyId=arn)
            aliases = tuple(sorted(a["AliasName"] for a in alias_call.result()["Aliases"]))
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
        else:
            policy_error = (
                f"the key belongs to account {meta['AWSAccountId']}: only its owner can read or edit its policy"
            )
        info = key_info(meta, aliases=aliases, policy=policy, policy_error=policy_error, grants=grants)
        self._keys[arn] = info
        return info


def launch_permissions(rows: list[dict[str, Any]]) -> LaunchPermissions:
    """DescribeImageAttribute's ``LaunchPermissions`` as data."""
    return LaunchPermissions(
        accounts=frozenset(p["UserId"] for p in rows if "UserId" in p),
        organizations=frozenset(p["OrganizationArn"] for p in rows if "OrganizationArn" in p),
        ous=frozenset(p["OrganizationalUnitArn"] for p in rows if "OrganizationalUnitArn" in p),
        public=any(p.get("Group") == "all" for p in rows),
    )


def snapshot_info(raw: dict[str, Any], permissions: list[dict[str, Any]]) -> SnapshotInfo:
    """A DescribeSnapshots entry and its ``CreateVolumePermissions`` as data."""
    return SnapshotInfo(
        snapshot_id=raw["SnapshotId"],
        size_gib=int(raw.get("VolumeSize", 0)),
        key_arn=raw.get("KmsKeyId") if raw.get("Encrypted") else None,
        shared_with=frozenset(p["UserId"] for p in permissions if "UserId" in p),
        public=any(p.get("Group") == "all" for p in permissions),
    )


def image_info(
    raw: dict[str, Any], region: str, launch: LaunchPermissions, snapshots: dict[str, SnapshotInfo]
) -> ImageInfo:
    """A DescribeImages entry as data, with its launch permission and its snapshots (from ``snapshots``, by id;
    one missing there is not the caller's to read, and left out)."""
    ids = [m["Ebs"]["SnapshotId"] for m in raw.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("SnapshotId")]
    return ImageInfo(
        image_id=raw["ImageId"],
        name=raw.get("Name", ""),
        owner=raw["OwnerId"],
        region=region,
        state=raw.get("State", ""),
        snapshots=tuple(snapshots[i] for i in ids if i in snapshots),
        launch=launch,
        tags={t["Key"]: t["Value"] for t in raw.get("Tags", [])},
        description=raw.get("Description", ""),
        mappings=tuple(_mapping(m) for m in raw.get("BlockDeviceMappings", [])),
    )


def _mapping(raw: dict[str, Any]) -> MappingInfo:
    ebs = raw.get("Ebs") or {}
    return MappingInfo(
        device=str(raw.get("DeviceName", "")),
        snapshot_id=ebs.get("SnapshotId"),
        encrypted=ebs.get("Encrypted") if ebs else None,
        key_arn=ebs.get("KmsKeyId"),
        virtual_name=raw.get("VirtualName"),
    )


def key_info(meta: dict[str, Any], **read: Any) -> KeyInfo:
    """A ``KeyInfo`` from DescribeKey's metadata (and what else was ``read``: aliases, policy, grants)."""
    arn = str(meta["Arn"])
    return KeyInfo(
        arn=arn,
        account=str(meta["AWSAccountId"]),
        region=arn.split(":")[3],
        manager=meta.get("KeyManager", "CUSTOMER"),
        state=meta.get("KeyState", "Enabled"),
        spec=meta.get("KeySpec", "SYMMETRIC_DEFAULT"),
        usage=meta.get("KeyUsage", "ENCRYPT_DECRYPT"),
        **read,
    )


def observe(
    sessions: Sessions,
    image_id: str,
    region: str,
    *,
    share_key: str | None = None,
    public: bool = False,
    siblings: bool = False,
    require_owner: bool = True,
) -> Observation:
    """Everything the planner needs to share or revoke ``image_id`` in ``region``."""
    caller = sessions.caller_account()
    observer = Observer(sessions, region)
    image = observer.image(image_id, caller, require_owner=require_owner)
    keys = {arn: observer.key(arn, caller) for arn in image.key_arns}
    share = None
    reencrypted = None
    if any(k.aws_managed for k in keys.values()):
        if share_key:
            share = observer.key(share_key, caller)
            keys[share.arn] = share
        reencrypted = observer.reencrypted_copy(image_id, share)
        if reencrypted is not None:
            for arn in reencrypted.key_arns:
                keys.setdefault(arn, observer.key(arn, caller))
    subject = reencrypted or image
    related = observer.siblings(subject.image_id, subject.key_arns) if siblings else ()
    return Observation(
        caller_account=caller,
        region=region,
        image=image,
        keys=keys,
        share_key=share,
        reencrypted=reencrypted,
        siblings=related,
        block_public_access=observer.block_public_access() if public else None,
    )


def observe_images(
    sessions: Sessions,
    region: str,
    image_ids: Sequence[str] = (),
    tag: tuple[str, str] | None = None,
    expected_key: str | None = None,
) -> tuple[list[ImageInfo], dict[str, KeyInfo], KeyInfo | None]:
    """Images by id (any the caller can see) or the caller's own images with ``tag``, with their mappings and
    snapshots (no permissions), the keys those snapshots use, and ``expected_key`` (DescribeKey only)."""
    caller = sessions.caller_account()
    observer = Observer(sessions, region)
    if image_ids:
        raw = [observer.image_raw(i, caller) for i in image_ids]
    else:
        assert tag is not None
        raw = observer._call(
            observer.ec2, "describe_images", Owners=["self"], Filters=[{"Name": f"tag:{tag[0]}", "Values": [tag[1]]}]
        )["Images"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        images = list(pool.map(lambda r: observer._image_info(r, with_permissions=False), raw))
        arns = sorted({s.key_arn for i in images for s in i.snapshots if s.key_arn})
        keys = dict(zip(arns, pool.map(lambda a: observer.described_key(a, caller), arns), strict=True))
    return images, keys, observer.described_key(expected_key, caller) if expected_key else None


def observe_shared_with_me(sessions: Sessions, region: str) -> tuple[str, list[SharedImageFacts]]:
    """The images shared explicitly with the caller's account in ``region`` (by account, organization or OU),
    what it sees of their snapshots, and its Allowed AMIs setting (state). Read-only."""
    caller = sessions.caller_account()
    observer = Observer(sessions, region)
    setting = observer._call(observer.ec2, "get_allowed_images_settings")
    raw = observer._call(observer.ec2, "describe_images", ExecutableUsers=["self"], IncludeDeprecated=True)["Images"]
    shared = [r for r in raw if r["OwnerId"] != caller]
    with ThreadPoolExecutor(max_workers=8) as pool:
        facts = list(pool.map(lambda r: _shared_facts(observer, r), shared))
    return str(setting.get("State", "disabled")), facts


def _shared_facts(observer: Observer, raw: dict[str, Any]) -> SharedImageFacts:
    volumes = [m for m in map(_mapping, raw.get("BlockDeviceMappings", [])) if m.snapshot_id]
    snapshots = tuple(str(m.snapshot_id) for m in volumes)
    return SharedImageFacts(
        image_id=raw["ImageId"],
        name=raw.get("Name", ""),
        owner=raw["OwnerId"],
        region=observer.region,
        state=raw.get("State", ""),
        public=bool(raw.get("Public")),
        deprecation_time=raw.get("DeprecationTime"),
        allowed=raw.get("ImageAllowed"),
        snapshots=snapshots,
        visible_snapshots=_visible_snapshots(observer, snapshots),
        keys=tuple(sorted({m.key_arn for m in volumes if m.encrypted and m.key_arn})),
    )


def _visible_snapshots(observer: Observer, snapshot_ids: tuple[str, ...]) -> frozenset[str]:
    """The snapshots the caller can see (and so restore): one DescribeSnapshots for them all, then one each
    only when some is hidden (the call fails as a whole on a snapshot it cannot see)."""

    def seen(ids: tuple[str, ...]) -> bool:
        try:
            observer._call(observer.ec2, "describe_snapshots", SnapshotIds=list(ids))
        except AwsError as exc:
            if exc.code.startswith("InvalidSnapshot"):
                return False
            raise
        return True

    if not snapshot_ids or seen(snapshot_ids):
        return frozenset(snapshot_ids)
    return frozenset(s for s in snapshot_ids if len(snapshot_ids) > 1 and seen((s,)))


PREFLIGHT_THREADS = 16  # AssumeRole and DescribeKey wait on the network


def observe_transfer(sessions: Sessions, image_id: str, region: str, spec: TransferSpec) -> TransferObservation:
    """What the transfer planner needs: the image and its keys (as the source), each region's share key, and
    every destination's preflight (its role assumed, its key in each region described through that role).

    Everything is read concurrently; nothing is changed."""
    with ThreadPoolExecutor(max_workers=PREFLIGHT_THREADS, thread_name_prefix="amishare-preflight") as pool:
        roles = {d.account: pool.submit(_assume, sessions, d) for d in spec.destinations}
        source = _observe_source(sessions, image_id, region, spec.source, spec.share_keys)
        role_errors = {account: role.result() for account, role in roles.items()}
        reads = {
            (d.account, r): pool.submit(_describe_as, sessions, d.account, r, ref)
            for d in spec.destinations
            if role_errors[d.account] is None
            for r in spec.regions
            if (ref := spec.dest_key_for(d, r))
        }
        templates = {
            (d.account, r): pool.submit(template_error, sessions, d.account, r, template)
            for d in spec.destinations
            if role_errors[d.account] is None and (template := spec.distribution.template_for(d))
            for r in spec.regions
        }
        checks = {d.account: DestinationCheck(d.account, role_errors[d.account]) for d in spec.destinations}
        for (account, name), read in reads.items():
            try:
                checks[account].keys[name] = read.result()
            except AwsError as exc:
                checks[account].key_errors[name] = exc.aws_message or str(exc)
        for (account, name), found in templates.items():
            if found.result():
                checks[account].template_errors[name] = str(found.result())
    return replace(source, destinations=checks)


def _assume(sessions: Sessions, destination: Destination) -> str | None:
    """None once ``destination``'s role is assumed, else why not."""
    assert destination.role_arn is not None  # destinations always act through a role (requests.py)
    try:
        sessions.assume(RoleRef(destination.account, destination.role_arn, destination.external_id))
    except AwsError as exc:
        return exc.aws_message or str(exc)
    return None


def template_error(sessions: Sessions, account: str, region: str, template: str) -> str | None:
    """Why ``account`` has no launch template ``template`` (name or id) in ``region``; None when it has."""
    which = {"LaunchTemplateIds": [template]} if template.startswith("lt-") else {"LaunchTemplateNames": [template]}
    try:
        with aws_errors("DescribeLaunchTemplates", account, region):
            sessions.client("ec2", region, account).describe_launch_templates(**which)
    except AwsError as exc:
        return exc.aws_message or str(exc)
    return None


def _describe_as(sessions: Sessions, account: str, region: str, ref: str) -> KeyInfo:
    return Observer(sessions, region, account).described_key(ref, account)


def _observe_source(
    sessions: Sessions, image_id: str, region: str, source: Party, share_keys: dict[str, str]
) -> TransferObservation:
    """The image and its keys (as the source), and each region's share key, read concurrently."""
    caller = sessions.caller_account()
    if source.role_arn:
        sessions.assume(RoleRef(source.account, source.role_arn, source.external_id))
    who = None if source.role_arn is None else source.account

    def share_key(name: str, ref: str) -> KeyInfo:
        return Observer(sessions, name, who).key(ref, source.account)

    with ThreadPoolExecutor(max_workers=1 + len(share_keys)) as pool:  # clients are built in the threads too
        found = {name: pool.submit(share_key, name, ref) for name, ref in share_keys.items()}
        observer = Observer(sessions, region, who)
        image = observer.image(image_id, source.account)
        keys = {arn: observer.key(arn, source.account) for arn in image.key_arns}
    return TransferObservation(caller, region, image, keys, {name: f.result() for name, f in found.items()})


DRY_RUN_REFUSALS = ("UnauthorizedOperation", "AccessDenied", "AccessDeniedException")


def observe_doctor(
    sessions: Sessions,
    image_id: str,
    region: str,
    account: str,
    role: RoleRef | None,
    dest_key: str | None,
    probe: bool = False,
) -> DoctorFacts:
    """The owner's view of ``image_id`` in ``region`` (permissions, snapshots, keys with policies and grants, the
    target's organization when the owner can read it) and, through ``role``, the target's. Read-only: the
    target's launch and copy are tried with ``DryRun`` only."""
    caller = sessions.caller_account()
    observer = Observer(sessions, region)
    raw = _owned_raw(observer, image_id, caller)
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="amishare-doctor") as pool:
        membership = pool.submit(_membership, sessions, account)
        view = (
            pool.submit(_target_view, sessions, raw, image_id, region, account, role, dest_key, probe) if role else None
        )
        image: ImageInfo | None = None
        keys: dict[str, KeyInfo] = {}
        elsewhere: tuple[str, ...] = ()
        if raw is None:
            elsewhere = _regions_with(sessions, observer, image_id, caller)
        elif raw.get("State") != "deregistered":  # a deregistered image has no attributes left to read
            image = observer._image_info(raw)
            keys = {arn: observer.key(arn, caller) for arn in image.key_arns}
        org_id, paths = membership.result()
        target = view.result() if view is not None else None
    return DoctorFacts(
        image_id=image_id,
        account=account,
        region=region,
        state="missing" if raw is None else str(raw.get("State", "")),
        image=image,
        keys=keys,
        elsewhere=elsewhere,
        deprecation_time=raw.get("DeprecationTime") if raw else None,
        created=raw.get("CreationDate") if raw else None,
        org_id=org_id,
        org_paths=paths,
        target=target if isinstance(target, TargetView) else None,
        **({"target_note": target} if isinstance(target, str) else {}),
    )


def _owned_raw(observer: Observer, image_id: str, caller: str) -> dict[str, Any] | None:
    """DescribeImages of the caller's image (disabled and deregistered included), None when not in the region."""
    try:
        found = observer._call(observer.ec2, "describe_images", ImageIds=[image_id], IncludeDisabled=True)["Images"]
    except NotFound:
        return None
    except AwsError as exc:
        if exc.code.startswith("InvalidAMIID"):
            return None
        raise
    if not found:
        return None
    if found[0]["OwnerId"] != caller:
        raise AccessDenied(
            f"image {image_id} is owned by account {found[0]['OwnerId']}, not by {caller}: run doctor with the "
            "owner's credentials (--profile); the target's side is read through its configured role",
            operation="DescribeImages",
            account=caller,
            region=observer.region,
        )
    return dict(found[0])


def _regions_with(sessions: Sessions, observer: Observer, image_id: str, caller: str) -> tuple[str, ...]:
    """The other regions where ``image_id`` exists (AMI ids are regional: a wrong --region is a common mistake)."""
    regions = [r["RegionName"] for r in observer._call(observer.ec2, "describe_regions")["Regions"]]
    others = [r for r in regions if r != observer.region]

    def has(name: str) -> bool:
        return _owned_raw(Observer(sessions, name), image_id, caller) is not None

    with ThreadPoolExecutor(max_workers=PREFLIGHT_THREADS, thread_name_prefix="amishare-regions") as pool:
        return tuple(name for name, found in zip(others, pool.map(has, others), strict=True) if found)


def _membership(sessions: Sessions, account: str) -> tuple[str | None, tuple[str, ...]]:
    """The target's organization id and OU path (``o-x/r-x/ou-a/``), when the caller is its management account."""
    client = sessions.client("organizations", "us-east-1")
    caller = sessions.caller_account()
    try:
        with aws_errors("DescribeOrganization", caller, "us-east-1"):
            org = client.describe_organization()["Organization"]
    except AwsError:
        return None, ()  # not in an organization: the target's view may tell
    if org.get("MasterAccountId") != caller:
        return None, ()  # only the management account may list an account's parents
    try:
        chain: list[str] = []
        child = account
        while True:
            with aws_errors("ListParents", sessions.caller_account(), "us-east-1"):
                (parent,) = client.list_parents(ChildId=child)["Parents"]
            chain.append(parent["Id"])
            if parent["Type"] == "ROOT":
                break
            child = parent["Id"]
    except AwsError as exc:
        if exc.code == "AccessDeniedException":  # the management account, without organizations:ListParents
            raise
        return None, ()  # the account is not a member
    return str(org["Id"]), (f"{org['Id']}/" + "".join(f"{p}/" for p in reversed(chain)),)


def _target_view(
    sessions: Sessions,
    raw: dict[str, Any] | None,
    image_id: str,
    region: str,
    account: str,
    role: RoleRef,
    dest_key: str | None,
    probe: bool,
) -> TargetView | str:
    """What ``account`` sees through ``role``, or why it could not be read (the owner's view stands)."""
    try:
        sessions.assume(role)
    except AwsError as exc:
        return f"its role {role.role_arn} could not be assumed: {exc.aws_message or exc}"
    observer = Observer(sessions, region, account)
    seen: dict[str, Any] | None
    try:
        seen = observer.image_raw(image_id, account)
    except NotFound:
        seen = None
    setting = observer._call(observer.ec2, "get_allowed_images_settings")
    snapshots = tuple(m.snapshot_id for m in map(_mapping, (raw or {}).get("BlockDeviceMappings", [])) if m.snapshot_id)
    refused = {} if seen is not None else {"see": "its DescribeImages by id does not find the image"}
    if seen is not None and probe:
        refused.update(_dry_runs(observer, image_id, region))
    key, key_error = None, None
    if dest_key:
        try:
            key = observer.described_key(dest_key, account)
        except AwsError as exc:
            key_error = exc.aws_message or str(exc)
    return TargetView(
        sees_image=seen is not None,
        allowed_state=str(setting.get("State", "disabled")),
        image_allowed=seen.get("ImageAllowed") if seen else None,
        visible_snapshots=_visible_snapshots(observer, snapshots) if seen is not None else frozenset(),
        dest_key_ref=dest_key,
        dest_key=key,
        dest_key_error=key_error,
        refused=refused,
        criteria=tuple(setting.get("ImageCriteria") or ()),
    )


def _dry_runs(observer: Observer, image_id: str, region: str) -> dict[str, str]:
    """The target's launch and copy, tried with ``DryRun``: what its own policies (and SCPs) refuse."""
    tries: dict[str, tuple[str, dict[str, Any]]] = {
        "launch": ("run_instances", {"ImageId": image_id, "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.micro"}),
        "copy": ("copy_image", {"SourceImageId": image_id, "SourceRegion": region, "Name": "amishare-doctor-dry-run"}),
    }
    refused = {}
    for capability, (operation, params) in tries.items():
        try:
            observer._call(observer.ec2, operation, DryRun=True, **params)
        except AwsError as exc:
            if exc.code in DRY_RUN_REFUSALS:
                refused[capability] = f"{exc.code}: {exc.aws_message or exc}"
    if "launch" in refused:
        refused["autoscaling-launch"] = refused["launch"]
    return refused
