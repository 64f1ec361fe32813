"""What a resume makes again when a transfer's copies failed (pure).

Polling a failed copy again cannot finish it, and by the time the run ends its destination's access
has been revoked and the staging copy deleted, as a clean run would. Once the cause is fixed,
``amishare resume`` plans that destination's part of the transfer again (``api.resume`` observes AWS
afresh and calls ``transfer.plan_transfer`` for the failed destinations of each region): a new
staging copy where one is needed, the gates for those destinations only, a copy with a fresh
``ClientToken``, the wait, the revocation and the clean-up. This module finds the failed copies,
names the new actions (``<key>~<generation>``, so their tokens are new) and joins them to the run's
plan; the failed copies and waits they replace become ``superseded``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from amishare.engine.executor import SUPERSEDED
from amishare.engine.kinds.copies import AwaitImage, CopyToDestination
from amishare.engine.kinds.gates import RevokeDestination
from amishare.engine.plan import Plan


@dataclass(frozen=True)
class FailedCopy:
    """A destination's copy that must be made again: its copy action and the wait on it."""

    account: str
    region: str
    copy_key: str
    wait_key: str | None


UNDONE = ("failed", "skipped")  # a copy that failed, or never ran because what it needed failed


def failed_copies(plan: Plan, states: dict[str, str]) -> list[FailedCopy]:
    """The destinations' copies whose ``CopyImage`` or wait failed or was skipped (not superseded already):
    by the end of their run, the staging copy and the gates they needed may be gone, so they are planned
    again rather than retried."""
    waits = {a.depends_on[0]: a.key for a in plan.actions if isinstance(a, AwaitImage) and a.depends_on}
    found = []
    for action in plan.actions:
        if not isinstance(action, CopyToDestination):
            continue
        wait = waits.get(action.key)
        if states.get(action.key) in UNDONE or (wait is not None and states.get(wait) in UNDONE):
            found.append(FailedCopy(action.account, action.region, action.key, wait))
    return found


def generation(plan: Plan) -> int:
    """The number of the next attempt (the run's first plan is attempt 1)."""
    made = [int(a.key.rpartition("~")[2]) for a in plan.actions if a.key.rpartition("~")[2].isdigit()]
    return max(made, default=1) + 1


def extend(plan: Plan, again: Plan, failed: list[FailedCopy], states: dict[str, str]) -> tuple[Plan, tuple[str, ...]]:
    """``plan`` with ``again``'s actions joined under their attempt's names; and the keys they supersede.

    In each region made again, every unfinished action of the earlier attempts is replaced (its staging
    copy, gates, copies, waits, clean-up), except the revocation of a destination that is not made again:
    that one still has its own work to do."""
    suffix = f"~{generation(plan)}"
    renamed = {a.key: f"{a.key}{suffix}" for a in again.actions}
    added = tuple(a.rekeyed(renamed) for a in again.actions)
    again_in = {(f.account, f.region) for f in failed}
    regions = {f.region for f in failed}
    copies = {k for f in failed for k in (f.copy_key, f.wait_key) if k is not None}  # a copy that made a failed image
    superseded = tuple(
        a.key
        for a in plan.actions
        if a.key in copies
        or (
            a.region in regions
            and states.get(a.key, "pending") not in ("succeeded", SUPERSEDED)
            and not (isinstance(a, RevokeDestination) and (a.target, a.region) not in again_in)
        )
    )
    notes = (*plan.notes, f"attempt {suffix[1:]}: copies made again for " + _who(failed))
    return replace(plan, actions=(*plan.actions, *added), notes=notes), superseded


def _who(failed: list[FailedCopy]) -> str:
    return ", ".join(f"{f.account} in {f.region}" for f in failed)
