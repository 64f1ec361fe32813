"""What a manifest asks for, once AWS has said what its words mean (pure): each family's versions resolved, its
OUs and organizations expanded, and every distribution cut into the units the share and transfer planners take.

``desired_state(manifest, facts)`` gives one ``ShareUnit`` per (version, region) of the share distributions (all
their accounts together, so a region gets one regional copy however many groups share it) and one
``TransferUnit`` per (version, transfer distribution). Only the newest version moves the pointers (SSM parameter,
launch template): an older version still distributed keeps its access and copies, never the pointer. An account
reached twice for one family and region (a share and a transfer, or two distributions with their own pointers,
through OUs that overlap) is refused before any call, naming both.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from amishare.errors import PlanRefused
from amishare.model import Distribution, Target, TargetKind, account_target
from amishare.planners.manifest.model import DistributionSpec, ImageFamily, Manifest, Mode


@dataclass(frozen=True)
class Version:
    """One version of a family that stays distributed: its image, and how it was found."""

    image_id: str
    via: str  # "ssm:/golden/al2023/latest v14", "name:golden-* (newest)", "tags:os=al2023 (2nd newest)" ...
    created: str = ""  # the image's CreationDate, when read


@dataclass(frozen=True)
class Resolution:
    """A family's versions (newest first), and the facts a saved plan is checked against before it is applied."""

    family: str
    versions: tuple[Version, ...]
    retired: tuple[Version, ...] = ()  # older versions amishare still finds (beyond ``versions``)

    def describe(self) -> str:
        """``al2023-base: ssm:/golden/al2023/latest v14 -> ami-...; ...``"""
        shown = "; ".join(f"{v.via} -> {v.image_id}" for v in self.versions) or "no version found"
        return f"{self.family}: {shown}"


@dataclass(frozen=True)
class Facts:
    """What AWS said when the plan was made: each family's versions and each OU's or organization's members."""

    source: str  # the source account (the caller's)
    home_region: str  # where the families' images live
    resolutions: dict[str, Resolution]
    members: dict[str, tuple[str, ...]]  # OU or organization ARN -> its active accounts

    def fingerprint(self) -> dict[str, object]:
        """The facts as data: a saved plan records them, and ``apply PLAN.json`` refuses when they moved."""
        return {
            "source": self.source,
            "home_region": self.home_region,
            "versions": {f: [v.image_id for v in r.versions] for f, r in sorted(self.resolutions.items())},
            "members": {k: list(v) for k, v in sorted(self.members.items())},
        }


@dataclass(frozen=True)
class ShareUnit:
    """The share distributions of one version in one region: whom to share with, and each account's pointers."""

    family: str
    image_id: str
    region: str
    accounts: tuple[Target, ...]
    pointers: dict[str, Distribution] = field(default_factory=dict)  # account -> what it gets besides access
    copy_settings: Distribution = field(default_factory=Distribution)  # the regional copy's deprecation and tags

    @property
    def name(self) -> str:
        """What names the unit's actions: ``al2023-base/share/us-east-1/ami-...``."""
        return f"{self.family}/share/{self.region}/{self.image_id}"


@dataclass(frozen=True)
class TransferUnit:
    """One transfer distribution of one version: its destinations, regions and what each gets."""

    family: str
    image_id: str
    index: int  # the distribution's place in its family (1-based), which names the unit
    accounts: tuple[Target, ...]
    spec: DistributionSpec
    newest: bool  # only the newest version moves the pointers (SSM parameter, launch template)

    @property
    def name(self) -> str:
        """What names the unit's actions: ``al2023-base/transfer-2/ami-...``."""
        return f"{self.family}/transfer-{self.index}/{self.image_id}"


@dataclass(frozen=True)
class Desired:
    """Every unit of a manifest, and the accounts each share image may admit (the rest is extra or unmanaged)."""

    shares: tuple[ShareUnit, ...]
    transfers: tuple[TransferUnit, ...]
    notes: tuple[str, ...] = ()


def desired_state(manifest: Manifest, facts: Facts, family: str | None = None) -> Desired:
    """The units of ``manifest`` (only ``family``'s when given), from what ``facts`` say its words mean."""
    shares: list[ShareUnit] = []
    transfers: list[TransferUnit] = []
    notes: list[str] = []
    for image in manifest.images:
        if family is not None and image.family != family:
            continue
        resolution = facts.resolutions[image.family]
        if not resolution.versions:
            notes.append(f"{image.family}: no version found ({_selection(image)}): nothing to distribute")
        for rank, version in enumerate(resolution.versions):
            s, t = _units(manifest, image, version.image_id, rank == 0, facts)
            shares += s
            transfers += t
    return Desired(tuple(shares), tuple(transfers), tuple(notes))


def _selection(image: ImageFamily) -> str:
    return image.select.describe()


def _units(
    manifest: Manifest, image: ImageFamily, image_id: str, newest: bool, facts: Facts
) -> tuple[list[ShareUnit], list[TransferUnit]]:
    """The units of one version: share distributions merged per region, transfers one per distribution."""
    reached: dict[tuple[str, str], str] = {}  # (account, region) -> which distribution reaches it
    per_region: dict[str, dict[str, tuple[Target, Distribution]]] = {}
    transfers: list[TransferUnit] = []
    for index, spec in enumerate(image.distribute, start=1):
        accounts = audience(manifest, spec, facts)
        dist = spec.settings() if newest else _without_pointers(spec.settings())
        where = f"[[image]] {image.family} distribute[{index}] ({spec.mode.value})"
        for region in spec.regions:
            for target in accounts:
                _reach_once(reached, target.value, region, where, image.family)
        if spec.mode is Mode.TRANSFER:
            transfers.append(TransferUnit(image.family, image_id, index, accounts, spec, newest))
            continue
        for region in spec.regions:
            for target in accounts:
                per_region.setdefault(region, {})[target.value] = (target, dist)
    shares = [
        ShareUnit(
            image.family,
            image_id,
            region,
            tuple(t for t, _ in chosen.values()),
            {account: dist for account, (_, dist) in chosen.items() if dist.ssm_parameter or dist.launch_template},
            _copy_settings(chosen),
        )
        for region, chosen in per_region.items()
    ]
    return shares, transfers


def _copy_settings(chosen: dict[str, tuple[Target, Distribution]]) -> Distribution:
    """The regional copy's deprecation and tags: the first share distribution's that names any."""
    for _, dist in chosen.values():
        if dist.deprecate_after or dist.tags:
            return Distribution(deprecate_after=dist.deprecate_after, tags=dict(dist.tags))
    return Distribution()


def _without_pointers(dist: Distribution) -> Distribution:
    return replace(dist, ssm_parameter=None, launch_template=None, set_default=False)


def _reach_once(reached: dict[tuple[str, str], str], account: str, region: str, where: str, family: str) -> None:
    first = reached.setdefault((account, region), where)
    if first != where:
        raise PlanRefused(
            f"{family}: account {account} is reached in {region} by {first} and by {where} (through the OUs or "
            "organizations they name): a family reaches an account one way per region; exclude it from one "
            "(exclude = [...] in its [targets] group)"
        )


def audience(manifest: Manifest, spec: DistributionSpec, facts: Facts) -> tuple[Target, ...]:
    """The accounts a distribution reaches: its groups opened, OUs and organizations expanded (``facts``), each
    group's ``exclude`` and the source itself left out, each account once, sorted."""
    found: dict[str, Target] = {}
    for ref in spec.to:
        group = manifest.targets.get(ref.group) if ref.group is not None else None
        members = group.members if group is not None else (ref.target,) if ref.target is not None else ()
        excluded = {t.value for t in group.exclude} if group is not None else set()
        for member in members:
            for target in _accounts_of(member, facts):
                if target.value not in excluded:
                    found.setdefault(target.value, target)
    found.pop(facts.source, None)
    return tuple(sorted(found.values(), key=lambda t: t.value))


def _accounts_of(member: Target, facts: Facts) -> tuple[Target, ...]:
    if member.kind is TargetKind.ACCOUNT:
        return (member,)
    return tuple(account_target(a) for a in facts.members.get(member.value, ()))


def expandable(manifest: Manifest, family: str | None = None) -> tuple[Target, ...]:
    """The OUs and organizations whose members a plan of ``manifest`` (``family``'s part) must read."""
    found: dict[Target, None] = {}
    for image in manifest.images:
        if family is not None and image.family != family:
            continue
        for spec in image.distribute:
            for ref in spec.to:
                group = manifest.targets.get(ref.group) if ref.group is not None else None
                members = group.members if group is not None else (ref.target,) if ref.target is not None else ()
                found.update(dict.fromkeys(m for m in members if m.kind is not TargetKind.ACCOUNT))
    return tuple(found)
