"""The reads of doctor: the owner's view of an image (permissions, snapshots, keys with policies and grants, the
target's organization when the owner can read it) and the target's, read through its role (what it sees, its
Allowed AMIs setting, its key; with ``probe``, its launch and copy tried as dry runs). Read-only."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from amishare.aws.reads.convert import mapping_info
from amishare.aws.reads.observer import Observer
from amishare.aws.reads.organizations import ORGANIZATIONS_REGION
from amishare.aws.session import Sessions
from amishare.checks.doctor.facts import DoctorFacts, TargetView
from amishare.errors import AccessDenied, AwsError, NotFound
from amishare.model import ImageInfo, KeyInfo, RoleRef

__all__ = ["DoctorTarget", "observe_doctor"]

DRY_RUN_REFUSALS = ("UnauthorizedOperation", "AccessDenied", "AccessDeniedException")
REGIONS_AT_ONCE = 16  # DescribeImages in every other region, looking for the image: each waits on the network


@dataclass(frozen=True)
class DoctorTarget:
    """The account doctor diagnoses, and how to read its side."""

    account: str
    role: RoleRef | None = None  # the target's view is read through it (None: the owner's view alone)
    dest_key: str | None = None  # the key the target would copy with
    probe: bool = False  # try the target's launch and copy as dry runs


def observe_doctor(sessions: Sessions, image_id: str, region: str, target: DoctorTarget) -> DoctorFacts:
    """The owner's view of ``image_id`` in ``region`` (permissions, snapshots, keys with policies and grants, the
    target's organization when the owner can read it) and, through ``target.role``, the target's. Read-only: the
    target's launch and copy are tried with ``DryRun`` only."""
    caller = sessions.caller_account()
    observer = Observer(sessions, region)
    raw = _owned_raw(observer, image_id, caller)
    copy = _reencrypted_copy(observer, raw, caller)
    if copy is not None:  # an aws/ebs image is shared through its re-encrypted copy (as share, revoke, show do)
        return replace(observe_doctor(sessions, copy, region, target), source_image=image_id)
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="amishare-doctor") as pool:
        membership = pool.submit(_membership, sessions, target.account)
        view = pool.submit(_target_view, sessions, raw, image_id, region, target) if target.role else None
        image: ImageInfo | None = None
        keys: dict[str, KeyInfo] = {}
        elsewhere: tuple[str, ...] = ()
        if raw is None:
            elsewhere = _regions_with(sessions, observer, image_id, caller)
        elif raw.get("State") != "deregistered":  # a deregistered image has no attributes left to read
            image = observer.image_of(raw)
            keys = {arn: observer.key(arn, caller) for arn in image.key_arns}
        org_id, paths = membership.result()
        seen = view.result() if view is not None else None
    return DoctorFacts(
        image_id=image_id,
        account=target.account,
        region=region,
        state="missing" if raw is None else str(raw.get("State", "")),
        image=image,
        keys=keys,
        elsewhere=elsewhere,
        deprecation_time=raw.get("DeprecationTime") if raw else None,
        created=raw.get("CreationDate") if raw else None,
        org_id=org_id,
        org_paths=paths,
        target=seen if isinstance(seen, TargetView) else None,
        **({"target_note": seen} if isinstance(seen, str) else {}),
    )


def _reencrypted_copy(observer: Observer, raw: dict[str, Any] | None, caller: str) -> str | None:
    """The id of the re-encrypted copy of an image on aws/ebs (amishare's ``amishare:source-image`` tag), when
    ``raw`` is such an image and has one."""
    if raw is None or raw.get("State") in ("deregistered", "disabled"):
        return None
    arns = {m.key_arn for m in map(mapping_info, raw.get("BlockDeviceMappings", [])) if m.key_arn}
    if not any(observer.key(arn, caller).aws_managed for arn in sorted(arns)):
        return None
    copy = observer.reencrypted_copy(str(raw["ImageId"]), None)
    return copy.image_id if copy is not None else None


def _owned_raw(observer: Observer, image_id: str, caller: str) -> dict[str, Any] | None:
    """DescribeImages of the caller's image (disabled and deregistered included), None when not in the region."""
    try:
        found = observer.ec2.describe_images(ImageIds=[image_id], IncludeDisabled=True)["Images"]
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
    regions = [r["RegionName"] for r in observer.ec2.describe_regions()["Regions"]]
    others = [r for r in regions if r != observer.region]

    def has(name: str) -> bool:
        return _owned_raw(Observer(sessions, name), image_id, caller) is not None

    with ThreadPoolExecutor(max_workers=REGIONS_AT_ONCE, thread_name_prefix="amishare-regions") as pool:
        return tuple(name for name, found in zip(others, pool.map(has, others), strict=True) if found)


def _membership(sessions: Sessions, account: str) -> tuple[str | None, tuple[str, ...]]:
    """The target's organization id and OU path (``o-x/r-x/ou-a/``), when the caller is its management account."""
    client = sessions.client("organizations", ORGANIZATIONS_REGION)
    caller = sessions.caller_account()
    try:
        org = client.describe_organization()["Organization"]
    except AwsError:
        return None, ()  # not in an organization: the target's view may tell
    if org.get("MasterAccountId") != caller:
        return None, ()  # only the management account may list an account's parents
    try:
        chain: list[str] = []
        child = account
        while True:
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
    sessions: Sessions, raw: dict[str, Any] | None, image_id: str, region: str, target: DoctorTarget
) -> TargetView | str:
    """What ``target.account`` sees through its role, or why it could not be read (the owner's view stands)."""
    assert target.role is not None
    try:
        sessions.assume(target.role)
    except AwsError as exc:
        return f"its role {target.role.role_arn} could not be assumed: {exc.aws_message or exc}"
    observer = Observer(sessions, region, target.account)
    seen: dict[str, Any] | None
    try:
        seen = observer.image_raw(image_id, target.account)
    except NotFound:
        seen = None
    setting = observer.ec2.get_allowed_images_settings()
    mappings = map(mapping_info, (raw or {}).get("BlockDeviceMappings", []))
    snapshots = tuple(m.snapshot_id for m in mappings if m.snapshot_id)
    refused = {} if seen is not None else {"see": "its DescribeImages by id does not find the image"}
    if seen is not None and target.probe:
        refused.update(_dry_runs(observer, image_id, region))
    key, key_error = None, None
    if target.dest_key:
        try:
            key = observer.described_key(target.dest_key, target.account)
        except AwsError as exc:
            key_error = exc.aws_message or str(exc)
    return TargetView(
        sees_image=seen is not None,
        allowed_state=str(setting.get("State", "disabled")),
        image_allowed=seen.get("ImageAllowed") if seen else None,
        visible_snapshots=observer.visible_snapshots(snapshots) if seen is not None else frozenset(),
        dest_key_ref=target.dest_key,
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
            getattr(observer.ec2, operation)(DryRun=True, **params)
        except AwsError as exc:
            if exc.code in DRY_RUN_REFUSALS:
                refused[capability] = f"{exc.code}: {exc.aws_message or exc}"
    if "launch" in refused:
        refused["autoscaling-launch"] = refused["launch"]
    return refused
