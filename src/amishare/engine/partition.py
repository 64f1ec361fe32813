"""A plan cut into phases that can run apart (pure): what the source prepares, chunks of destinations, the finish.

Beyond one machine (docs/architecture.md, the serverless runner) a run is driven phase by phase: ``prepare`` (the
source's side: staging and re-encrypted copies, the gates), then the ``chunks`` (each at most ``chunk_size``
destinations of one region: their copies, waits, pointers and revocations), all at once, then ``finish``
(deleting the staging copies). Each phase is a set of action keys; a runner applies the run's plan restricted to
a phase. What makes that safe is the one rule ``partition`` guarantees: an action depends only on actions of its
own phase or of a phase that runs before it (prepare before the chunks, the chunks before finish; never one
chunk on another). An action that would break it moves to ``finish``.
"""

from __future__ import annotations

from dataclasses import dataclass

from amishare.engine.action import Action, ActionKind
from amishare.engine.plan import Plan
from amishare.engine.refs import collect_refs

PREPARE = "prepare"
FINISH = "finish"
DEFAULT_CHUNK = 50  # destinations of one region per chunk
FINISHING_KINDS = frozenset({ActionKind.DELETE_STAGING})


@dataclass(frozen=True)
class Phase:
    """A part of a plan that runs as one: its name (``prepare``, ``chunk:<region>:<n>``, ``finish``) and keys."""

    name: str
    keys: tuple[str, ...]

    @property
    def is_chunk(self) -> bool:
        """Whether this is one of the chunks, which run at the same time as one another."""
        return self.name.startswith("chunk:")


def destination_of(plan: Plan, action: Action) -> str | None:
    """The destination account an action serves (None: the source's side)."""
    target = getattr(action, "target", None)
    if action.kind is ActionKind.REVOKE_DESTINATION and isinstance(target, str):
        return target
    return action.account if action.account != plan.account else None


def dependencies(action: Action) -> set[str]:
    """Every key ``action`` waits for: its ``depends_on``, ``after`` and ``@key`` references."""
    found = {*action.depends_on, *action.after}
    for value in vars(action).values():
        collect_refs(value, found)
    return found


def partition(plan: Plan, chunk_size: int = DEFAULT_CHUNK) -> tuple[Phase, ...]:
    """``plan``'s actions in phases: prepare, the chunks (by region, then destination), finish; empty ones left out."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
    by_region: dict[str, set[str]] = {}
    for action in plan.actions:
        if (destination := destination_of(plan, action)) is not None:
            by_region.setdefault(action.region, set()).add(destination)
    places = {r: {d: n // chunk_size for n, d in enumerate(sorted(ds))} for r, ds in by_region.items()}
    phase_of = {a.key: _first_guess(plan, a, places) for a in plan.actions}
    _settle(plan, phase_of)
    names = [PREPARE, *sorted({p for p in phase_of.values() if p.startswith("chunk:")}, key=_chunk_order), FINISH]
    phases = (Phase(name, tuple(a.key for a in plan.actions if phase_of[a.key] == name)) for name in names)
    return tuple(p for p in phases if p.keys)


def _first_guess(plan: Plan, action: Action, places: dict[str, dict[str, int]]) -> str:
    """Where ``action`` goes by what it is: a destination's chunk (``places``: region -> destination -> chunk)."""
    if action.kind in FINISHING_KINDS:
        return FINISH
    destination = destination_of(plan, action)
    if destination is None:
        return PREPARE
    return f"chunk:{action.region}:{places[action.region][destination]}"


def _chunk_order(name: str) -> tuple[str, int]:
    _, region, number = name.split(":")
    return region, int(number)


def _rank(phase: str) -> int:
    return 0 if phase == PREPARE else 2 if phase == FINISH else 1


def _settle(plan: Plan, phase_of: dict[str, str]) -> None:
    """Move to ``finish`` every action that waits for one of a later phase or of another chunk, until none does."""
    waits = {a.key: dependencies(a) & phase_of.keys() for a in plan.actions}
    moved = True
    while moved:
        moved = False
        for key, needs in waits.items():
            mine = phase_of[key]
            if mine == FINISH:
                continue
            if any(_breaks(mine, phase_of[n]) for n in needs):
                phase_of[key] = FINISH
                moved = True


def _breaks(mine: str, theirs: str) -> bool:
    """Whether an action of phase ``mine`` may not wait for one of phase ``theirs``."""
    if _rank(theirs) > _rank(mine):
        return True
    return _rank(mine) == 1 and theirs not in (mine, PREPARE)
