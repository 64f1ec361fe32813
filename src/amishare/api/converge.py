"""``plan``, ``apply`` and ``drift`` of a manifest: the estate brought to what the manifest declares, and told
where it differs. AWS is the state (amishare's tags, key statements and grant names): there is no state file.

A plan resolves each family's versions and expands its OUs and organizations (``Facts``), cuts the manifest into
share and transfer units (``planners.manifest.desired``), plans each with the share and transfer planners (which
plan only what is missing), and merges them under their unit's name. Access amishare made for an account the
manifest no longer names is removed only with ``prune`` or ``--allow-destroy``, and never more than
``max_removals``; access amishare did not make is reported, never removed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

from amishare.api.context import Settings, check_key_access
from amishare.api.execute import Outcome, apply
from amishare.api.requests import NO_HOOKS, Hooks
from amishare.api.sharing import observe_pointers, pointer_roles
from amishare.aws.reads.families import members_of, resolve_families, retired_copies
from amishare.aws.reads.image import AlsoRead, observe, observe_regional
from amishare.aws.regions import known_regions
from amishare.aws.session import Sessions
from amishare.engine.plan import Plan
from amishare.errors import ConfigError, NotFound, PlanRefused, UsageError
from amishare.model import Observation, account_target
from amishare.planners.manifest import ImageFamily, Manifest, Mode, load_manifest
from amishare.planners.manifest.assemble import PLAN_COMMAND, Pieces, assemble, check_removals
from amishare.planners.manifest.desired import Desired, Facts, ShareUnit, TransferUnit, desired_state, expandable
from amishare.planners.manifest.drift import Finding
from amishare.planners.manifest.holders import Holders, holders
from amishare.planners.manifest.retention import RetentionPlan, plan_retention
from amishare.planners.revoke import plan_revoke
from amishare.planners.share import ShareOptions, plan_share
from amishare.planners.transfer_request import TransferRequest

__all__ = ["ConvergeRequest", "ManifestPlan", "apply_manifest", "apply_saved", "plan_manifest"]


@dataclass(frozen=True)
class ConvergeRequest:
    """``amishare plan|apply|drift -f FILE``: the manifest, one family of it (None: all), removals allowed."""

    path: str
    family: str | None = None
    allow_destroy: bool = False  # apply removals although the manifest's [safety] prune is false
    # how the transfers' destinations reach the source key, over the settings' key_access: the serverless engine
    # asks for "grant", the run's own grants, since runs of several families may overlap on one key
    transfer_key_access: str | None = None


@dataclass(frozen=True)
class ManifestPlan:
    """A manifest's plan, the facts it was made from, and its drift (the plan read as findings)."""

    manifest: Manifest
    plan: Plan
    facts: Facts
    drift: tuple[Finding, ...]
    held: int = 0  # removals found but not planned (prune off and no --allow-destroy)


def plan_manifest(settings: Settings, request: ConvergeRequest, *, sessions: Sessions | None = None) -> ManifestPlan:
    """What it takes to bring the estate to ``request.path``'s manifest: no mutating call."""
    manifest = load_manifest(request.path, settings.config, known_regions())
    families = tuple(f for f in manifest.images if request.family in (None, f.family))
    if not families:
        names = ", ".join(f.family for f in manifest.images)
        raise UsageError(f"--family {request.family}: {request.path} has no such family (it has: {names})")
    active = sessions or settings.sessions()
    facts = _facts(settings, active, manifest, families, request.family)
    desired = desired_state(manifest, facts, request.family)
    shared = [_share_unit(settings, active, unit, facts.home_region) for unit in desired.shares]
    parts = [p for p, _ in shared]
    access = request.transfer_key_access
    parts += [_transfer_unit(settings, active, unit, facts, access) for unit in desired.transfers if unit.accounts]
    held = _holders(active, facts, desired.shares, shared) + _retired_holders(settings, active, facts, families)
    pieces = Pieces(tuple(parts), _retention(settings, active, manifest, facts, desired), tuple(held))
    allowed = manifest.safety.prune or request.allow_destroy
    check_removals(manifest, pieces, allowed)  # before the reads of the revocations: nothing is changed
    if allowed and any(h.extra for _, h in held):
        pieces = replace(pieces, revocations=tuple(_revocations(settings, active, held)))
    plan, drift, count = assemble(facts, manifest, pieces, allowed=allowed, notes=desired.notes)
    return ManifestPlan(manifest, plan, facts, drift, held=count)


def _facts(
    settings: Settings,
    sessions: Sessions,
    manifest: Manifest,
    families: tuple[ImageFamily, ...],
    family: str | None,
) -> Facts:
    caller = sessions.caller_account()
    source = manifest.defaults.source
    if source is not None and source.value != caller:
        raise UsageError(
            f"{manifest.path}: [defaults] source is {source} but amishare runs as account {caller}: run it with the "
            "source account's credentials (--profile), where the family's images live"
        )
    home = settings.region(None)
    return Facts(
        caller, home, resolve_families(sessions, families, home), members_of(sessions, expandable(manifest, family))
    )


def _share_unit(settings: Settings, sessions: Sessions, unit: ShareUnit, home: str) -> tuple[Plan, Observation]:
    """The share planner's plan of one unit (the version shared in one region), under the unit's name."""
    key = settings.config.defaults.share_key_for(unit.region)
    if unit.region == home:
        observed = observe(sessions, unit.image_id, home, AlsoRead(share_key=key))
    else:
        observed = observe_regional(sessions, unit.image_id, home, unit.region, key)
    roles = pointer_roles(settings, tuple(t for t in unit.accounts if t.value in unit.pointers))
    pointing = observe_pointers(sessions, roles, unit.region, unit.pointers)
    options = ShareOptions(
        key_access=check_key_access(settings.key_access),
        distribution=unit.copy_settings,
        roles=roles,
        per_account=unit.pointers,
        pointing=pointing,
    )
    return plan_share(observed, unit.accounts, options).named(unit.name), observed


def _transfer_unit(
    settings: Settings, sessions: Sessions, unit: TransferUnit, facts: Facts, key_access: str | None = None
) -> Plan:
    """The transfer planner's plan of one unit (a version handed over to one distribution's accounts); its key
    access ``auto`` (the policy while it fits, else grants) unless ``key_access`` says."""
    from amishare.api.handover import plan_transfer  # the one path to a transfer plan, preflight included

    spec = unit.spec
    template = spec.launch_template if unit.newest else None
    request = TransferRequest(
        image=unit.image_id,
        destinations=tuple(t.value for t in unit.accounts),
        source=facts.source,
        regions=spec.regions,
        region=facts.home_region,
        ssm_parameter=spec.ssm_parameter if unit.newest else None,
        launch_template=template.name if template else None,
        set_default=template.set_default if template else None,
        deprecate_after=spec.deprecate_after,
        tags=tuple(f"{k}={v}" for k, v in spec.tags.items()),
        key_access=key_access,
    )
    return plan_transfer(settings, request, sessions=sessions).named(unit.name)


def _holders(
    sessions: Sessions, facts: Facts, units: tuple[ShareUnit, ...], shared: list[tuple[Plan, Observation]]
) -> list[tuple[str, Holders]]:
    """For each image the manifest shares (and each version's own image), who holds access the manifest does not
    name."""
    found: list[tuple[str, Holders]] = []
    seen: set[tuple[str, str]] = set()
    for unit, (_, observed) in zip(units, shared, strict=True):
        held = _held(observed, unit.region, frozenset(t.value for t in unit.accounts))
        if held is not None:
            found.append((unit.family, held))
            seen.add((unit.image_id, unit.region))
    for family, resolution in facts.resolutions.items():
        for version in resolution.versions:
            if (version.image_id, facts.home_region) in seen:
                continue
            observed = observe(sessions, version.image_id, facts.home_region)
            keys = tuple(observed.keys.values())
            found.append((family, holders(observed.image, keys, frozenset())))
    return found


def _revocations(settings: Settings, sessions: Sessions, held: list[tuple[str, Holders]]) -> list[Plan]:
    """The revocations of access amishare made for accounts the manifest no longer names."""
    plans = []
    for family, h in held:
        if not h.extra:
            continue
        key = settings.config.defaults.share_key_for(h.region)
        observed = observe(sessions, h.image_id, h.region, AlsoRead(key, siblings=True))
        targets = tuple(account_target(a) for a in h.extra)
        plans.append(plan_revoke(observed, targets).named(f"{family}/prune/{h.region}/{h.image_id}"))
    return plans


RETIRED_LOOKBACK = 5  # retired versions a plan looks at: older ones were withdrawn by earlier applies


def _retired_holders(
    settings: Settings, sessions: Sessions, facts: Facts, families: tuple[ImageFamily, ...]
) -> list[tuple[str, Holders]]:
    """Who still holds access to a retired version (its own image, its regional copies): the manifest names
    nobody for it, so what amishare made is extra (withdrawn with prune) and the rest unmanaged."""
    found: list[tuple[str, Holders]] = []
    for family in families:
        regions = dict.fromkeys(r for d in family.distribute if d.mode is Mode.SHARE for r in d.regions)
        for version in facts.resolutions[family.family].retired[:RETIRED_LOOKBACK]:
            for region in (facts.home_region, *(r for r in regions if r != facts.home_region)):
                key = settings.config.defaults.share_key_for(region)
                try:
                    if region == facts.home_region:
                        observed = observe(sessions, version.image_id, region, AlsoRead(share_key=key))
                    else:
                        observed = observe_regional(sessions, version.image_id, facts.home_region, region, key)
                except NotFound:
                    break  # the version itself is gone: nothing of it is shared
                held = _held(observed, region, frozenset())
                if held is not None:
                    found.append((family.family, held))
    return found


def _held(observed: Observation, region: str, wanted: frozenset[str]) -> Holders | None:
    """Who holds access to the image shared in ``region`` (its re-encrypted or regional copy when it has one)
    beyond ``wanted``; None when that copy is still to be made (nobody holds it)."""
    subject = observed.reencrypted if observed.reencrypted is not None else observed.image
    if subject.region != region:
        return None
    keys = tuple(observed.keys[arn] for arn in subject.key_arns if arn in observed.keys)
    return holders(subject, keys, wanted)


def _retention(
    settings: Settings, sessions: Sessions, manifest: Manifest, facts: Facts, desired: Desired
) -> RetentionPlan:
    """[retention] applied to the copies the transfer destinations own of retired versions."""
    retired = {v.image_id: family for family, r in facts.resolutions.items() for v in r.retired[:RETIRED_LOOKBACK]}
    where = list(
        dict.fromkeys(
            (unit.family, t.value, region, settings.config.role_in(t.value))
            for unit in desired.transfers
            for t in unit.accounts
            for region in unit.spec.regions
        )
    )
    copies = retired_copies(sessions, where, retired)
    return plan_retention(copies, manifest.retention, time.time())


def apply_manifest(
    settings: Settings, request: ConvergeRequest, *, hooks: Hooks = NO_HOOKS
) -> tuple[ManifestPlan, Outcome]:
    """Plan ``request``'s manifest and apply it (one apply per manifest at a time: a lease in the journal)."""
    lock = f"manifest:{Path(request.path).resolve()}"
    log = settings.journal()
    log.leases.acquire(lock)
    try:
        sessions = settings.sessions()
        made = plan_manifest(settings, request, sessions=sessions)
        return made, apply(settings, made.plan, hooks=hooks, sessions=sessions)
    finally:
        log.leases.release(lock)
        log.close()


def apply_saved(settings: Settings, path: str, *, hooks: Hooks = NO_HOOKS) -> Outcome:
    """Apply a plan saved by ``plan --out`` exactly, once the facts it was made from are checked unchanged
    (``PlanRefused`` naming what moved: a version, an OU's members, the source)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        plan = Plan.from_dict(data.get("plan", data))  # as `plan --out` writes it: amishare.plan/1
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a plan saved by `amishare plan -f FILE --out {path}` ({exc})") from exc
    recorded = plan.extra.get("facts")
    manifest_path = plan.extra.get("manifest")
    if plan.command != PLAN_COMMAND or not isinstance(recorded, dict) or not manifest_path:
        raise ConfigError(f"{path}: not a manifest's plan (made by `amishare plan -f FILE --out {path}`)")
    sessions = settings.sessions()
    manifest = load_manifest(manifest_path, settings.config, known_regions())
    families = tuple(f for f in manifest.images if f.family in recorded.get("versions", {}))
    now = _facts(settings, sessions, manifest, families, None).fingerprint()
    moved = _moved(recorded, now)
    if moved:
        raise PlanRefused(
            f"{path} was made from facts that changed since; nothing was changed: {'; '.join(moved)}. "
            f"Make the plan again: `amishare plan -f {manifest_path} --out {path}`"
        )
    return apply(settings, plan, hooks=hooks, sessions=sessions)


def _moved(recorded: dict[str, object], now: dict[str, object]) -> list[str]:
    """What differs between the facts a plan was made from and the facts now, in words."""
    moved = []
    for name in ("source", "home_region"):
        if recorded.get(name) != now.get(name):
            moved.append(f"{name} was {recorded.get(name)}, is {now.get(name)}")
    for section, what in (("versions", "family {} versions"), ("members", "{} members")):
        before, after = recorded.get(section) or {}, now.get(section) or {}
        assert isinstance(before, dict) and isinstance(after, dict)
        for name in sorted(set(before) | set(after)):
            if before.get(name) != after.get(name):
                moved.append(f"{what.format(name)} were {before.get(name)}, are {after.get(name)}")
    return moved
