"""Read what cleanup needs: the images a rule picks in each account and region, their permissions, snapshots and
keys, and everything that still uses them, in the owner's account and (``--include-shared``) in every account
they are shared with, through the configured roles. Read-only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from amishare.aws.reads.convert import image_info, tags_of
from amishare.aws.reads.estate import Party
from amishare.aws.reads.observer import Observer
from amishare.aws.session import Sessions
from amishare.errors import AwsError
from amishare.model import TAG_SOURCE_IMAGE, ImageInfo, KeyInfo, LaunchPermissions, RoleRef
from amishare.planners.cleanup import Candidate, Rules, Use, matches

REFERENCES_PER_CALL = 10  # DescribeImageReferences takes at most 10 image ids
LIVE_STATES = ["pending", "running", "shutting-down", "stopping", "stopped"]  # every state but terminated
REFERENCE_TYPES = [
    {
        "ResourceType": "ec2:Instance",
        "ResourceTypeOptions": [{"OptionName": "state-name", "OptionValues": LIVE_STATES}],
    },
    {"ResourceType": "ec2:LaunchTemplate"},
    {"ResourceType": "ssm:Parameter"},
]
Roles = Callable[[str], RoleRef | None]  # an account -> the role to read it through (None: none configured)


@dataclass(frozen=True)
class CleanupRead:
    """One account and region, as cleanup sees it."""

    party: Party
    region: str
    candidates: tuple[Candidate, ...]
    snapshot_users: dict[str, set[str]]  # snapshot -> the account's images using it
    keys: dict[str, KeyInfo]
    others: tuple[ImageInfo, ...]  # the account's other images on the candidates' keys (with permissions)
    recycle_bin_days: int | None


def observe_cleanup(
    sessions: Sessions, parties: Sequence[Party], regions: Sequence[str], rules: Rules, roles: Roles
) -> list[CleanupRead]:
    pairs = [(p, r) for p in parties for r in regions]
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="amishare-cleanup") as pool:
        return list(pool.map(lambda pair: _read(sessions, pair[0], pair[1], rules, roles), pairs))


def _read(sessions: Sessions, party: Party, region: str, rules: Rules, roles: Roles) -> CleanupRead:
    if party.role is not None:
        sessions.assume(party.role)
    who = None if party.role is None else party.account
    observer = Observer(sessions, region, who)
    everything = list(_pages(observer, "describe_images", "Images", Owners=["self"], IncludeDisabled=True))
    users: dict[str, set[str]] = {}
    for raw in everything:
        for mapping in raw.get("BlockDeviceMappings", []):
            if mapping.get("Ebs", {}).get("SnapshotId"):
                users.setdefault(mapping["Ebs"]["SnapshotId"], set()).add(raw["ImageId"])
    picked = [r for r in everything if matches(_bare(r, region), rules)]
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="amishare-cleanup-reads") as pool:
        infos = list(pool.map(observer.image_of, picked))
        owner_uses = _uses(observer, [i.image_id for i in infos], party.account)
        shared_uses = _shared_uses(sessions, infos, region, rules, roles) if rules.include_shared else {}
    arns = sorted({a for i in infos if _shared(i) for a in i.key_arns})
    keys = {a: observer.key(a, party.account) for a in arns}
    others = tuple(
        observer.image_of(r) for r in everything if r["ImageId"] not in {i.image_id for i in infos} and _on(r, arns)
    )
    copies = _copies(observer, everything, {i.image_id for i in infos})
    candidates = tuple(
        replace(
            _candidate(raw, info, owner_uses.get(info.image_id, []), shared_uses.get(info.image_id, ([], []))),
            copies=copies.get(info.image_id, ()),
        )
        for raw, info in zip(picked, infos, strict=True)
    )
    return CleanupRead(party, region, candidates, users, keys, others, _recycle_bin(sessions, region, who))


def _copies(
    observer: Observer, everything: list[dict[str, Any]], sources: set[str]
) -> dict[str, tuple[ImageInfo, ...]]:
    """The re-encrypted copies (tagged ``amishare:source-image``) of each of ``sources`` among the account's
    images in the region, with their launch and snapshot permissions (whether they are still shared)."""
    found: dict[str, list[ImageInfo]] = {}
    for raw in everything:
        source = tags_of(raw).get(TAG_SOURCE_IMAGE)
        if source in sources and raw["ImageId"] != source:
            found.setdefault(source, []).append(observer.image_of(raw))
    return {source: tuple(copies) for source, copies in found.items()}


def _bare(raw: dict[str, Any], region: str) -> ImageInfo:
    return image_info(raw, region, LaunchPermissions(), {})


def _shared(image: ImageInfo) -> bool:
    launch = image.launch
    return bool(launch.accounts or launch.organizations or launch.ous or launch.public) or any(
        s.shared_with or s.public for s in image.snapshots
    )


def _on(raw: dict[str, Any], arns: list[str]) -> bool:
    return any(m.get("Ebs", {}).get("KmsKeyId") in arns for m in raw.get("BlockDeviceMappings", []))


def _candidate(raw: dict[str, Any], info: ImageInfo, uses: list[Use], shared: tuple[list[Use], list[str]]) -> Candidate:
    return Candidate(
        image=info,
        created=_time(raw["CreationDate"]),
        protection=str(raw.get("DeregistrationProtection", "disabled")),
        last_launched=_time(raw["LastLaunchedTime"]) if raw.get("LastLaunchedTime") else None,
        deprecated_at=_time(raw["DeprecationTime"]) if raw.get("DeprecationTime") else None,
        uses=tuple(uses + shared[0]),
        unseen=tuple(shared[1]),
    )


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _uses(observer: Observer, image_ids: list[str], account: str) -> dict[str, list[Use]]:
    """What in the observer's account refers to each image: DescribeImageReferences (instances not terminated,
    launch templates, SSM parameters) and Auto Scaling launch configurations."""
    found: dict[str, list[Use]] = {}
    for start in range(0, len(image_ids), REFERENCES_PER_CALL):
        batch = image_ids[start : start + REFERENCES_PER_CALL]
        rows = observer.ec2.describe_image_references(ImageIds=batch, ResourceTypes=REFERENCE_TYPES)
        for row in rows["ImageReferences"]:
            found.setdefault(row["ImageId"], []).append(Use(account, row["ResourceType"], row["Arn"]))
    if image_ids:
        wanted = set(image_ids)
        autoscaling = observer.sessions.client("autoscaling", observer.region, _who(observer, account))
        configurations = autoscaling.describe_launch_configurations()["LaunchConfigurations"]
        for config in configurations:
            if config.get("ImageId") in wanted:
                found.setdefault(config["ImageId"], []).append(
                    Use(account, "autoscaling:LaunchConfiguration", config.get("LaunchConfigurationARN", ""))
                )
    return found


def _who(observer: Observer, account: str) -> str | None:
    return None if account == observer.sessions.caller_account() else account


def _shared_uses(
    sessions: Sessions, images: list[ImageInfo], region: str, rules: Rules, roles: Roles
) -> dict[str, tuple[list[Use], list[str]]]:
    """Each shared image's uses in the accounts it is shared with, and those whose use cannot be read."""
    out: dict[str, tuple[list[Use], list[str]]] = {}
    by_account: dict[str, list[str]] = {}
    for image in images:
        uses: list[Use] = []
        unseen = [
            f"{o.rsplit('/', 1)[-1]} (an organization or OU: its members are not read)"
            for o in sorted(image.launch.organizations | image.launch.ous)
        ]
        if image.launch.public:
            unseen.append("everyone (public)")
        out[image.image_id] = (uses, unseen)
        for account in sorted(image.launch.accounts | {a for s in image.snapshots for a in s.shared_with}):
            by_account.setdefault(account, []).append(image.image_id)
    for account, ids in by_account.items():
        role = roles(account)
        if role is None:
            for image_id in ids:
                out[image_id][1].append(f"{account} (no role configured)")
            continue
        try:
            sessions.assume(role)
            found = _uses(Observer(sessions, region, account), ids, account)
        except AwsError as exc:
            for image_id in ids:
                out[image_id][1].append(f"{account} ({exc.code or 'error'}: {exc.aws_message or exc})")
            continue
        for image_id, uses in found.items():
            out[image_id][0].extend(uses)
    return out


def _recycle_bin(sessions: Sessions, region: str, who: str | None) -> int | None:
    """The longest retention of the account's EC2_IMAGE Recycle Bin rules in the region (None: none, or unreadable)."""
    try:
        rules = sessions.client("rbin", region, who).list_rules(ResourceType="EC2_IMAGE")["Rules"]
    except AwsError:
        return None
    days = [int(r.get("RetentionPeriod", {}).get("RetentionPeriodValue", 0)) for r in rules]
    return max(days) if days else None


def _pages(observer: Observer, operation: str, field: str, **params: Any) -> Iterator[dict[str, Any]]:
    token = None
    while True:
        page = getattr(observer.ec2, operation)(**params, **({"NextToken": token} if token else {}))
        yield from page[field]
        token = page.get("NextToken")
        if not token:
            return


__all__ = ["CleanupRead", "observe_cleanup"]
