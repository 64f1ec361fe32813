"""One plan from a manifest's pieces (pure): the share and transfer units' plans, retention, and the removals,
which join only when allowed (``prune`` or ``--allow-destroy``) and never beyond ``max_removals``.

The drift is read off the same pieces with every removal in (so a removal held is still drift), plus the access
nobody may remove (``unmanaged-share``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from amishare.engine.action import Action
from amishare.engine.kinds.copies import AwaitImage
from amishare.engine.kinds.gates import CreateGrant, PutKeyPolicy, RevokeDestination
from amishare.engine.plan import Plan
from amishare.errors import PlanRefused
from amishare.model import arn_account
from amishare.planners.manifest.desired import Facts
from amishare.planners.manifest.drift import Finding, findings, unit_of
from amishare.planners.manifest.holders import Holders
from amishare.planners.manifest.model import Manifest
from amishare.planners.manifest.retention import RetentionPlan

PLAN_COMMAND = "apply"  # a manifest's plan is what `amishare apply` runs
EXTRA_FIX = (
    "revoke its launch permission, snapshot permission and amishare's key access (with prune or --allow-destroy)"
)


@dataclass(frozen=True)
class Pieces:
    """What a manifest's plan is made of."""

    parts: tuple[Plan, ...]  # each unit's plan, its actions named for the unit
    retention: RetentionPlan = field(default_factory=RetentionPlan)
    held: tuple[tuple[str, Holders], ...] = ()  # (family, who holds access the manifest does not name)
    revocations: tuple[Plan, ...] = ()  # the extra access revoked (made only when allowed)

    @property
    def removal_count(self) -> int:
        """How many removals the manifest's state asks for: extra access, and retired copies due."""
        return sum(len(h.extra) for _, h in self.held) + len(self.retention.removals)


def check_removals(manifest: Manifest, pieces: Pieces, allowed: bool) -> None:
    """Refuse, before any call, a plan that would remove more than ``max_removals``."""
    count = pieces.removal_count
    if not allowed or count <= manifest.safety.max_removals:
        return
    listed = ", ".join(f"{a} ({h.image_id} in {h.region})" for _, h in pieces.held for a in h.extra)
    listed += ", " * bool(listed and pieces.retention.removals) + ", ".join(
        a.describe() for a in pieces.retention.removals
    )
    raise PlanRefused(
        f"{manifest.path}: the plan removes {count} access(es) or retired copies, more than [safety] max_removals = "
        f"{manifest.safety.max_removals}; nothing was changed: {listed}. If that is meant, raise max_removals (or "
        "remove them in smaller steps)"
    )


def keep_shared_key_access(parts: tuple[Plan, ...]) -> tuple[Plan, ...]:
    """``parts`` with no transfer revocation taking away key access that a share of the same plan gives.

    A transfer revokes, once each destination's copy is made, the key access it opened (access the destination
    had before stays). When another family is shared, in the same plan, with that account through the same key,
    both edits meet in the key policy: the revocation is kept to the image's own gates, so one apply converges."""
    given = {
        (key_arn, account)
        for part in parts
        for action in part.actions
        if unit_of(action)[2] == "share"
        for key_arn, account in _admits(action)
    }

    def kept(action: Action) -> Action:
        if isinstance(action, RevokeDestination) and (action.key_arn, action.target) in given:
            return replace(action, key_arn=None)
        return action

    return tuple(replace(part, actions=tuple(kept(a) for a in part.actions)) for part in parts)


def revocations_after_every_copy(parts: tuple[Plan, ...]) -> tuple[Plan, ...]:
    """``parts`` with each transfer revocation of an account's key access in a region coming after every copy that
    account makes in that region, whichever family's: one plan may hand several families to the same account
    through the same key, and their revocations are batched by image; key access taken away when one family's copy
    is done would fail another's still to come. (``after``: whatever those copies' outcome, access never stays.)"""
    copies: dict[tuple[str, str], list[str]] = {}
    for part in parts:
        for action in part.actions:
            if isinstance(action, AwaitImage) and action.account != part.account:  # a destination's own copy
                copies.setdefault((action.account, action.region), []).append(action.key)

    def ordered(action: Action) -> Action:
        if not isinstance(action, RevokeDestination) or not (action.key_arn or action.grant_key_arn):
            return action
        waits = [k for k in copies.get((action.target, action.region), []) if k not in action.after]
        return replace(action, after=(*action.after, *waits)) if waits else action

    return tuple(replace(part, actions=tuple(ordered(a) for a in part.actions)) for part in parts)


def _admits(action: Action) -> tuple[tuple[str, str], ...]:
    """(key, account) pairs of the key access ``action`` gives."""
    if isinstance(action, PutKeyPolicy):
        return tuple((action.key_arn, a) for a in action.add.accounts)
    if isinstance(action, CreateGrant):
        return ((action.key_arn, arn_account(action.grantee) or action.grantee),)
    return ()


def assemble(
    facts: Facts, manifest: Manifest, pieces: Pieces, *, allowed: bool, notes: tuple[str, ...] = ()
) -> tuple[Plan, tuple[Finding, ...], int]:
    """The plan (removals in only when ``allowed``), the drift, and how many removals were held."""
    check_removals(manifest, pieces, allowed)
    pieces = replace(pieces, parts=revocations_after_every_copy(keep_shared_key_access(pieces.parts)))
    kept = as_plan(facts, pieces.retention.changes, pieces.retention.notes)
    removed = as_plan(facts, pieces.retention.removals)
    everything = merged(facts, manifest, [*pieces.parts, kept, removed])
    extra = (Finding(f, "extra-share", h.image_id, a, h.region, EXTRA_FIX) for f, h in pieces.held for a in h.extra)
    drift = tuple(sorted({*findings(everything, pieces.held), *extra}))
    count = pieces.removal_count
    if allowed:
        return merged(facts, manifest, [*pieces.parts, kept, removed, *pieces.revocations], notes), drift, 0
    plan = merged(facts, manifest, [*pieces.parts, kept], notes)
    if count:
        held = (
            f"{count} removal(s) held (access amishare made for accounts the manifest no longer names, retired "
            "copies due for deregistration): [safety] prune is false (set it, or pass --allow-destroy)"
        )
        plan = replace(plan, notes=(*plan.notes, held))
    return plan, drift, count


def as_plan(facts: Facts, actions: tuple[Action, ...], notes: tuple[str, ...] = ()) -> Plan:
    """Actions made outside the share and transfer planners (retention), as a plan to merge."""
    return Plan(PLAN_COMMAND, facts.source, facts.home_region, "", (), actions, "", notes)


def merged(facts: Facts, manifest: Manifest, plans: list[Plan], notes: tuple[str, ...] = ()) -> Plan:
    """The plans as one, with how each family resolved first, and the facts a saved plan is checked against."""
    resolved = tuple(facts.resolutions[f].describe() for f in sorted(facts.resolutions))
    first = next((v.image_id for r in facts.resolutions.values() for v in r.versions), "")
    return Plan(
        command=PLAN_COMMAND,
        account=facts.source,
        region=facts.home_region,
        image_id=first,
        targets=tuple(dict.fromkeys(t for p in plans for t in p.targets)),
        actions=tuple(a for p in plans for a in p.actions),
        subject=first,
        notes=(*(f"resolved {r}" for r in resolved), *notes, *(n for p in plans for n in p.notes)),
        warnings=tuple(w for p in plans for w in p.warnings),
        extra={"manifest": str(Path(manifest.path).resolve()), "facts": facts.fingerprint()},
    )
