"""``manifest import``: a manifest written from what exists today for an image family (adoption, like ``terraform
import``), so a team starts from its real estate. Read-only: the image's (or its regional copies') launch
permissions in each region, and the copies the named accounts own of it (amishare's lineage tag)."""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from amishare import inputs
from amishare.api.context import Settings
from amishare.aws.reads.families import members_of, resolve_families
from amishare.aws.reads.image import observe, observe_regional
from amishare.aws.reads.observer import owned_copies
from amishare.aws.regions import known_regions
from amishare.aws.session import Sessions
from amishare.errors import AwsError, NotFound, PlanRefused, UsageError
from amishare.model import ImageInfo, TargetKind
from amishare.planners.manifest import ById, ByName, BySsmParameter, ImageFamily, Select, parse_manifest
from amishare.planners.manifest.adopt import Found, manifest_toml

__all__ = ["ImportRequest", "import_manifest"]


@dataclass(frozen=True)
class ImportRequest:
    """``amishare manifest import``: the family's name, how its image is found (exactly one of ``image``,
    ``ssm_parameter``, ``name``), the regions to look in (default: the settings' region) and the accounts or OUs
    whose own copies to look for (default: every ``[accounts.NAME]`` of amishare.toml)."""

    family: str
    image: str | None = None
    ssm_parameter: str | None = None
    name: str | None = None
    regions: tuple[str, ...] = ()
    destinations: tuple[str, ...] = ()


def import_manifest(settings: Settings, request: ImportRequest) -> str:
    """The manifest (TOML text) of what exists today for ``request.family``; checked by reading it back."""
    select = _select(request)
    home = settings.region(None)
    regions = tuple(dict.fromkeys((home, *(inputs.region(r) for r in request.regions))))
    sessions = settings.sessions()
    family = ImageFamily(request.family, select, 1, ())
    versions = resolve_families(sessions, (family,), home)[request.family].versions
    if not versions:
        raise NotFound(f"{select.describe()}: no available image found in {home}: nothing to import")
    image_id = versions[0].image_id
    caller = sessions.caller_account()
    shared, public = _shared(settings, sessions, image_id, home, regions)
    accounts = _destinations(settings, sessions, request.destinations, caller)
    owned = _owned(settings, sessions, image_id, regions, accounts)
    found = Found(request.family, select, caller, home, regions, image_id, shared, owned, public)
    if not shared and not owned:
        raise PlanRefused(
            f"{image_id} ({request.family}) is shared with nobody and no account named owns a copy of it in "
            f"{', '.join(regions)}: there is nothing to import; write the manifest by hand (docs/manifest.md), or "
            "name the accounts to look in (--destinations)"
        )
    text = manifest_toml(found, _namer(settings), dt.datetime.now(dt.UTC))
    parse_manifest(tomllib.loads(text), Path("imported.toml"), settings.config, known_regions())  # it must read back
    return text


def _select(request: ImportRequest) -> Select:
    given = [v for v in (request.image, request.ssm_parameter, request.name) if v]
    if len(given) != 1:
        raise UsageError(
            "manifest import needs exactly one of --image, --ssm-parameter, --name: how the family is found"
        )
    if request.image:
        return ById(inputs.image_id(request.image))
    if request.ssm_parameter:
        return BySsmParameter(request.ssm_parameter)
    return ByName(str(request.name))


def _namer(settings: Settings) -> Callable[[str], str]:
    def name_of(value: str) -> str:
        named = settings.config.account_by_id(value)
        return named.name if named is not None else value

    return name_of


def _shared(
    settings: Settings, sessions: Sessions, image_id: str, home: str, regions: tuple[str, ...]
) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """Region -> who can launch the image there (its regional copy outside its own region); the public regions."""
    shared: dict[str, tuple[str, ...]] = {}
    public: list[str] = []
    for region in regions:
        key = settings.config.defaults.share_key_for(region)
        observed = (
            observe(sessions, image_id, home)
            if region == home
            else observe_regional(sessions, image_id, home, region, key)
        )
        subject: ImageInfo | None = observed.image if region == home else observed.reencrypted
        if region == home and observed.reencrypted is not None:
            subject = observed.reencrypted  # an aws/ebs image is shared through its re-encrypted copy
        if subject is None:
            continue
        launch = subject.launch
        who = (*sorted(launch.accounts), *sorted(launch.organizations), *sorted(launch.ous))
        if who:
            shared[region] = who
        if launch.public:
            public.append(region)
    return shared, tuple(public)


def _destinations(settings: Settings, sessions: Sessions, named: tuple[str, ...], caller: str) -> tuple[str, ...]:
    """The accounts to look in: those named (OUs and organizations expanded), else amishare.toml's accounts."""
    if not named:
        return tuple(a.id for a in settings.config.accounts.values() if a.id != caller)
    targets = inputs.targets(named, settings.config)
    groups = tuple(t for t in targets if t.kind in (TargetKind.OU, TargetKind.ORGANIZATION))
    members = members_of(sessions, groups)
    accounts = [t.value for t in targets if t.kind is TargetKind.ACCOUNT]
    accounts += [a for g in groups for a in members[g.value]]
    return tuple(a for a in dict.fromkeys(accounts) if a != caller)


def _owned(
    settings: Settings, sessions: Sessions, image_id: str, regions: tuple[str, ...], accounts: tuple[str, ...]
) -> dict[str, tuple[str, ...]]:
    """Region -> the accounts that own an available copy of the image there (amishare's lineage tag)."""

    def owns(account: str, region: str) -> bool:
        role = settings.config.role_in(account)
        if role is None:
            return False
        try:
            sessions.assume(role)
            return bool(owned_copies(sessions.client("ec2", region, account), [image_id]))
        except AwsError:
            return False  # not readable: not adopted (the import says what it found, never guesses)

    with ThreadPoolExecutor(max_workers=16) as pool:
        checks = {(a, r): pool.submit(owns, a, r) for a in accounts for r in regions}
    owned: dict[str, tuple[str, ...]] = {}
    for region in regions:
        here = tuple(a for a in accounts if checks[(a, region)].result())
        if here:
            owned[region] = here
    return owned
