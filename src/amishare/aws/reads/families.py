"""The reads that give a manifest's words their meaning now (read-only): each family's versions (an SSM
parameter's history, or the source's images by name or tags) and each OU's or organization's members."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from amishare.aws.reads import organizations
from amishare.aws.reads.convert import snapshot_ids, tags_of
from amishare.aws.reads.observer import owned_copies
from amishare.aws.session import Sessions
from amishare.errors import AwsError, NotFound
from amishare.model import TAG_MANAGED, TAG_RETIRED, TAG_SOURCE_IMAGE, TAG_STAGING, RoleRef, Target
from amishare.planners.manifest.desired import Resolution
from amishare.planners.manifest.events import EventImage
from amishare.planners.manifest.model import ById, ByName, BySsmParameter, ByTags, ImageFamily
from amishare.planners.manifest.retention import RetiredCopy, parse_retired
from amishare.planners.manifest.versions import Candidate, ParameterVersion, from_images, from_parameter

__all__ = ["event_image", "members_of", "resolve_families", "retired_copies"]


def resolve_families(sessions: Sessions, families: tuple[ImageFamily, ...], region: str) -> dict[str, Resolution]:
    """Each family's versions in ``region`` as the caller (the source) sees them, read concurrently."""
    with ThreadPoolExecutor(max_workers=min(8, len(families) or 1)) as pool:
        found = {f.family: pool.submit(_resolve, sessions, f, region) for f in families}
    return {name: future.result() for name, future in found.items()}


def _resolve(sessions: Sessions, family: ImageFamily, region: str) -> Resolution:
    select = family.select
    if isinstance(select, BySsmParameter):
        return from_parameter(family, _history(sessions, region, select.name))
    ec2 = sessions.client("ec2", region)
    if isinstance(select, ById):
        try:
            raw = ec2.describe_images(ImageIds=[select.image_id])["Images"]
        except AwsError as exc:
            if not exc.code.startswith("InvalidAMIID"):
                raise
            raw = []
        return from_images(family, [_candidate(i) for i in raw])
    filters = _filters(select)
    found = ec2.describe_images(Owners=["self"], Filters=filters)["Images"]
    return from_images(family, [_candidate(i) for i in found if not _made_by_amishare(i)])


def _made_by_amishare(raw: dict[str, Any]) -> bool:
    """A copy amishare made of another image for its own use in the source account (a transfer's staging copy, a
    re-encrypted or regional copy, marked ``amishare:managed``): never a version of a family, whatever its name or
    tags. (A destination's own copy is not marked: it may be the first version of a family of its own.)"""
    tags = tags_of(raw)
    return tags.get(TAG_MANAGED) == "true" or tags.get(TAG_STAGING) == "true"


def _filters(select: ByName | ByTags) -> list[dict[str, Any]]:
    if isinstance(select, ByName):
        return [{"Name": "name", "Values": [select.pattern]}]
    return [{"Name": f"tag:{k}", "Values": [v]} for k, v in select.tags.items()]


def _candidate(raw: dict[str, Any]) -> Candidate:
    return Candidate(raw["ImageId"], str(raw.get("CreationDate", "")), str(raw.get("State", "")))


def _history(sessions: Sessions, region: str, name: str) -> list[ParameterVersion]:
    """Every version of the parameter (NotFound names it and the fix)."""
    ssm = sessions.client("ssm", region)
    found: list[ParameterVersion] = []
    token = None
    try:
        while True:
            page = ssm.get_parameter_history(Name=name, **({"NextToken": token} if token else {}))
            found += [ParameterVersion(int(p["Version"]), str(p["Value"])) for p in page["Parameters"]]
            token = page.get("NextToken")
            if not token:
                return found
    except AwsError as exc:
        if exc.code != "ParameterNotFound":
            raise
        raise NotFound(
            f"SSM parameter {name} not found in {region} for account {sessions.caller_account()}: the family's "
            "select names it; publish the image there first, or fix select.ssm_parameter",
            operation="GetParameterHistory",
            code=exc.code,
            region=region,
        ) from exc


def members_of(sessions: Sessions, targets: tuple[Target, ...]) -> dict[str, tuple[str, ...]]:
    """Each OU's or organization's active member accounts (nested OUs included), read concurrently."""
    with ThreadPoolExecutor(max_workers=min(8, len(targets) or 1)) as pool:
        found = {t.value: pool.submit(organizations.members, sessions, t) for t in targets}
    return {value: future.result().active for value, future in found.items()}


def retired_copies(
    sessions: Sessions, where: list[tuple[str, str, str, RoleRef | None]], retired: dict[str, str]
) -> tuple[RetiredCopy, ...]:
    """The copies each (family, account, region, role) in ``where`` owns of the ``retired`` versions (image id ->
    family), by amishare's lineage tag; one DescribeImages per account and region, read concurrently."""
    if not retired:
        return ()

    def read(family: str, account: str, region: str, role: RoleRef | None) -> list[RetiredCopy]:
        if role is not None:
            sessions.assume(role)
        ids = [i for i, f in retired.items() if f == family]
        found = owned_copies(sessions.client("ec2", region, account), ids)
        return [_retired(family, account, region, role, raw) for raw in found]

    with ThreadPoolExecutor(max_workers=8) as pool:
        reads = [pool.submit(read, *w) for w in where if any(f == w[0] for f in retired.values())]
    return tuple(copy for r in reads for copy in r.result())


def _retired(family: str, account: str, region: str, role: RoleRef | None, raw: dict[str, Any]) -> RetiredCopy:
    tags = tags_of(raw)
    return RetiredCopy(
        family=family,
        account=account,
        region=region,
        role=role,
        image_id=raw["ImageId"],
        source_image=tags.get(TAG_SOURCE_IMAGE, ""),
        retired_at=parse_retired(tags.get(TAG_RETIRED)),
        deprecated=bool(raw.get("DeprecationTime")),
        protected=str(raw.get("DeregistrationProtection", "")).startswith("enabled"),
        snapshots=tuple(snapshot_ids(raw)),
    )


def event_image(sessions: Sessions, region: str, image_id: str) -> EventImage | None:
    """The name and tags of the image an AMI event names, as the caller (the source) sees it (None: not visible)."""
    try:
        raw = sessions.client("ec2", region).describe_images(ImageIds=[image_id])["Images"]
    except AwsError as exc:
        if not exc.code.startswith("InvalidAMIID"):
            raise
        return None
    if not raw or _made_by_amishare(raw[0]):  # amishare's own copies start no run
        return None
    return EventImage(image_id, str(raw[0].get("Name", "")), tags_of(raw[0]))
