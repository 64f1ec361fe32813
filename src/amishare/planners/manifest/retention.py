"""What becomes of a family's retired versions in the accounts they were handed over to (pure): ``[retention]``.

A version retires when newer ones fill the family's ``versions``. Each copy a destination owns of it (amishare's
lineage tag) is first marked retired (the tag ``amishare:retired`` with the time, which is all the state
retention needs: AWS keeps it) and deprecated after ``deprecate_after``; once ``deregister_after`` has passed
since the mark it is deregistered with its snapshots. Marking and deprecating change nothing anyone uses;
deregistering removes, so it is applied only with ``prune`` (or ``--allow-destroy``) and counts towards
``max_removals``. A copy protected from deregistration is left alone, with a note.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from amishare.engine.action import Action
from amishare.engine.kinds.cleanup import DeregisterImage
from amishare.engine.kinds.distribution import DeprecateImage, TagImage
from amishare.engine.permissions import Principal
from amishare.model import TAG_RETIRED, RoleRef, duration_seconds
from amishare.planners.manifest.drift import UNIT_SEPARATOR
from amishare.planners.manifest.model import Retention


@dataclass(frozen=True)
class RetiredCopy:
    """A copy a destination owns of a retired version, as observed."""

    family: str
    account: str
    region: str
    role: RoleRef | None
    image_id: str
    source_image: str  # the retired version it is a copy of
    retired_at: float | None = None  # epoch seconds of amishare's mark; None: not marked yet
    deprecated: bool = False
    protected: bool = False
    snapshots: tuple[str, ...] = ()


@dataclass(frozen=True)
class RetentionPlan:
    """What retention does now: changes anyone may apply, removals that need prune, and notes."""

    changes: tuple[Action, ...] = ()
    removals: tuple[Action, ...] = ()
    notes: tuple[str, ...] = ()


def unit_name(copy: RetiredCopy) -> str:
    """The unit that names a retired copy's actions: ``al2023-base/retire/<version>``."""
    return f"{copy.family}/retire/{copy.source_image}"


def iso(seconds: float) -> str:
    """Epoch seconds as the ``amishare:retired`` tag writes them."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_retired(value: str | None) -> float | None:
    """The ``amishare:retired`` tag's time, or None when absent or unreadable (then marked again)."""
    try:
        return dt.datetime.strptime(value or "", "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()
    except ValueError:
        return None


def plan_retention(copies: tuple[RetiredCopy, ...], retention: Retention, now: float) -> RetentionPlan:
    """Each retired copy's next step under ``retention`` at ``now`` (epoch seconds)."""
    deprecate = duration_seconds(retention.deprecate_after) if retention.deprecate_after else None
    deregister = duration_seconds(retention.deregister_after) if retention.deregister_after else None
    changes: list[Action] = []
    removals: list[Action] = []
    notes: list[str] = []
    for copy in copies:
        where: dict[str, Any] = {
            "account": copy.account,
            "region": copy.region,
            "role": copy.role,
            "actor": Principal.DESTINATION,
        }
        scope = f"{unit_name(copy)}{UNIT_SEPARATOR}{copy.account}:{copy.region}:{copy.image_id}"
        if copy.retired_at is None:
            changes.append(TagImage(key=f"{scope}:mark", image=copy.image_id, tags={TAG_RETIRED: iso(now)}, **where))
        if deprecate is not None and not copy.deprecated:
            changes.append(
                DeprecateImage(key=f"{scope}:deprecate", image=copy.image_id, after_seconds=deprecate, **where)
            )
        due = copy.retired_at is not None and deregister is not None and now - copy.retired_at >= deregister
        if due and copy.protected:
            notes.append(f"{copy.image_id} of {copy.account} in {copy.region} is due but protected: left alone")
        elif due:
            removals.append(
                DeregisterImage(key=f"{scope}:deregister", image=copy.image_id, snapshots=copy.snapshots, **where)
            )
    return RetentionPlan(tuple(changes), tuple(removals), tuple(notes))
