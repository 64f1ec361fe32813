"""Drift (pure): what differs between a manifest and AWS, as findings read off the plan that would fix it.

A plan of a manifest is the difference between desired and observed state, so drift is that plan read by a
person: each action that closes a gap becomes a finding with a code, the family, image, account and region, and
the action that fixes it. Actions that only serve another (a transfer's staging copy, its gates, waits,
revocation, clean-up) are no finding of their own. Access amishare did not make, for a principal the manifest
does not name, is the one finding no action fixes (``unmanaged-share``): amishare never removes it.

Codes (``amishare.drift/1``): ``missing-share``, ``missing-copy``, ``stale-copy``, ``stale-parameter``,
``stale-template-default``, ``extra-share``, ``unmanaged-share``, ``retention-due``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from amishare.engine.action import Action
from amishare.engine.kinds.cleanup import DeregisterImage, DisableImage
from amishare.engine.kinds.copies import CopyToDestination, ReEncryptImage
from amishare.engine.kinds.distribution import DeprecateImage, ProtectImage, PublishParameter, UpdateLaunchTemplate
from amishare.engine.kinds.gates import (
    CreateGrant,
    PutKeyPolicy,
    RevokeGrant,
    ShareImage,
    ShareSnapshots,
    SnapshotChange,
    UnshareImage,
    UnshareSnapshots,
)
from amishare.engine.plan import Plan
from amishare.model import arn_account
from amishare.planners.manifest.holders import Holders

DRIFT_SCHEMA = "amishare.drift/1"
CODES = (
    "missing-share",
    "missing-copy",
    "stale-copy",
    "stale-parameter",
    "stale-template-default",
    "extra-share",
    "unmanaged-share",
    "retention-due",
)
UNIT_SEPARATOR = ":"  # a manifest plan's action keys are "<unit>:<key>", the unit "<family>/<how>/.../<image>"
REPORTED_ONLY = "none: reported only (amishare never removes access it did not make)"


@dataclass(frozen=True, order=True)
class Finding:
    """One difference between the manifest and AWS."""

    family: str
    code: str
    image: str
    account: str
    region: str
    fix: str  # the action that fixes it (its description), or REPORTED_ONLY

    def to_dict(self) -> dict[str, str]:
        """The finding as ``amishare.drift/1`` writes it."""
        return {
            "code": self.code,
            "family": self.family,
            "image": self.image,
            "account": self.account,
            "region": self.region,
            "fix": self.fix,
        }


def unit_of(action: Action) -> tuple[str, str, str]:
    """(family, image, how: share, transfer-N, prune or retire) of a manifest plan's action, from its key."""
    unit = action.key.partition(UNIT_SEPARATOR)[0]
    parts = unit.split("/")
    return parts[0], parts[-1], parts[1] if len(parts) > 2 else ""


def findings(plan: Plan, unmanaged: Iterable[tuple[str, Holders]] = ()) -> tuple[Finding, ...]:
    """Every finding of ``plan`` (a manifest's, removals included) and of the unmanaged access found, each once,
    sorted by family, code, image, account and region."""
    found = {f for action in plan.actions for f in _of(action)}
    for family, held in unmanaged:
        found |= {
            Finding(family, "unmanaged-share", held.image_id, who, held.region, REPORTED_ONLY) for who in held.unmanaged
        }
    return tuple(sorted(found))


def _of(action: Action) -> Iterator[Finding]:
    family, image, how = unit_of(action)
    fix = action.describe()

    def finding(code: str, account: str) -> Finding:
        return Finding(family, code, image, account, action.region, fix)

    if how == "retire":  # a retired version's copy: marked, deprecated, deregistered as [retention] says
        yield finding("retention-due", action.account)
        return
    if how.startswith("transfer") and isinstance(action, ShareImage | ShareSnapshots | PutKeyPolicy | CreateGrant):
        return  # a transfer's gates serve its copies: the copy is the finding
    for code, accounts in _codes(action):
        for account in accounts:
            yield finding(code, account)


def _grantee(action: CreateGrant | RevokeGrant) -> tuple[str, ...]:
    return (arn_account(action.grantee) or action.grantee,)


def _launch(action: ShareImage | UnshareImage) -> tuple[str, ...]:
    return (*action.accounts, *action.organizations, *action.ous)


def _changed(changes: tuple[SnapshotChange, ...]) -> tuple[str, ...]:
    return tuple(sorted({account for change in changes for account in change.accounts}))


def _own(action: Action) -> tuple[str, ...]:
    return (action.account,)


# action kind -> the finding it fixes, and whom it concerns (PutKeyPolicy, which both adds and removes, apart)
_FIXES: tuple[tuple[type[Action], str, Callable[[Any], tuple[str, ...]]], ...] = (
    (ReEncryptImage, "missing-copy", _own),
    (CopyToDestination, "missing-copy", _own),
    (ShareImage, "missing-share", _launch),
    (ShareSnapshots, "missing-share", lambda a: _changed(a.changes) if a.changes is not None else tuple(a.accounts)),
    (CreateGrant, "missing-share", _grantee),
    (UnshareImage, "extra-share", _launch),
    (UnshareSnapshots, "extra-share", lambda a: _changed(a.changes)),
    (RevokeGrant, "extra-share", _grantee),
    (PublishParameter, "stale-parameter", _own),
    (UpdateLaunchTemplate, "stale-template-default", _own),
    (DeprecateImage, "stale-copy", _own),
    (ProtectImage, "stale-copy", _own),
    (DisableImage, "retention-due", _own),
    (DeregisterImage, "retention-due", _own),
)


def _codes(action: Action) -> list[tuple[str, tuple[str, ...]]]:
    """What ``action`` fixes: (code, the accounts it concerns)."""
    if isinstance(action, PutKeyPolicy):
        return [
            ("missing-share", tuple(sorted(action.add.accounts))),
            ("extra-share", tuple(sorted(action.remove.accounts))),
        ]
    for kind, code, whom in _FIXES:
        if isinstance(action, kind):
            return [(code, whom(action))]
    return []
