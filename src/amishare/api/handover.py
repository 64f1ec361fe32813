"""``transfer`` and ``resume``: ownership handed over to many accounts and regions, and a run finished
after an interruption or a fixed failure."""

from __future__ import annotations

from dataclasses import dataclass, replace

from amishare.api.context import Settings
from amishare.api.execute import Outcome, planned_or_applied, run_options, steps_for, with_notifications
from amishare.api.requests import NO_HOOKS, Hooks
from amishare.aws.reads import organizations
from amishare.aws.reads.preflight import observe_transfer
from amishare.aws.session import Sessions, known_regions
from amishare.engine.executor import SUPERSEDED, ActionResult
from amishare.engine.executor import apply as execute
from amishare.engine.journal import ActionRecord
from amishare.engine.partition import DEFAULT_CHUNK, FINISH, PREPARE, Phase, partition
from amishare.engine.plan import Plan
from amishare.errors import UsageError
from amishare.model import Target
from amishare.planners import redo
from amishare.planners.transfer import plan_transfer as _plan_transfer
from amishare.planners.transfer_request import TransferRequest, resolve_transfer
from amishare.planners.transfer_spec import TransferSpec


def plan_transfer(settings: Settings, request: TransferRequest, *, sessions: Sessions | None = None) -> Plan:
    """The plan that hands ``request.image`` over to its destinations, in every region asked."""
    where = settings.region(request.region)
    active = sessions or settings.sessions()
    # the caller's identity is asked, once the request is valid, while its EC2 and KMS clients are built
    spec = resolve_transfer(
        settings.config,
        request,
        lambda regions: active.prepare(("ec2", "kms"), regions),
        where,
        known_regions(),
        expand=lambda target: _expand(active, target),
    )
    observed = observe_transfer(active, request.image, where, spec)
    return _plan_transfer(observed, spec)


def _expand(sessions: Sessions, target: Target) -> tuple[tuple[str, ...], tuple[str, ...]]:
    found = organizations.members(sessions, target)
    return found.active, found.inactive


def transfer(
    settings: Settings, request: TransferRequest, *, dry_run: bool = False, hooks: Hooks = NO_HOOKS
) -> Outcome:
    """Hand ``request.image`` over: each destination ends up owning a copy encrypted with its own key."""
    sessions = settings.sessions()
    plan = plan_transfer(settings, request, sessions=sessions)
    return planned_or_applied(
        settings, plan, dry_run=dry_run, hooks=hooks, sessions=sessions, max_parallel=request.max_parallel
    )


def resume(
    settings: Settings,
    run_id: str,
    *,
    hooks: Hooks = NO_HOOKS,
    max_parallel: int | None = None,
    budget: float | None = None,
    engine: EngineSlice | None = None,
) -> Outcome:
    """Finish a run that was interrupted, paused (a slice) or partly failed: AWS is re-read, what succeeded is not
    redone. The run was confirmed when it started: ``hooks.confirm`` is not asked again. With ``budget``
    (seconds) this is one more slice: it pauses again once that time is spent; ``engine`` shapes the slice as the
    serverless engine drives it (``EngineSlice``)."""
    log = settings.journal()
    sessions = settings.sessions()
    try:
        record = log.run(run_id)
        plan = Plan.from_dict(record.plan)
        states = {a.key: a.state for a in record.actions}
        part = engine or EngineSlice()
        failed = redo.failed_copies(plan, states) if part.phase is None else []
        if failed and "spec" in plan.extra:
            log.leases.acquire(run_id)  # before anything is planned or written: one process per run
            plan, superseded = redo.extend(plan, _plan_again(sessions, plan, failed), failed, states)
            log.revise(run_id, plan, superseded)
            record = log.run(run_id)
        phase = _phase(plan, part.phase)
        done = {a.key: ActionResult(a.key, a.state, a.output, a.error) for a in record.actions if _done(a, phase)}
        options = replace(run_options(settings, hooks, max_parallel, budget), phase=phase, idle_exit=part.idle_exit)
        poll_max = IDLE_POLLS * part.idle_exit if part.idle_exit else None
        result = execute(
            plan, steps_for(sessions, plan, hooks, log.key_locks, poll_max), log, run_id, options=options, done=done
        )
    finally:
        log.close()
    return with_notifications(sessions, Outcome(plan, result))


def _done(action: ActionRecord, phase: Phase | None) -> bool:
    """Whether a resume takes ``action`` as done: succeeded (or superseded); for a phase's slice, also failed or
    skipped in another phase (that phase ended: what waits for it here is skipped, not waited for; a whole-run
    resume runs failed actions again, once their cause is fixed)."""
    if action.state in ("succeeded", SUPERSEDED):
        return True
    return phase is not None and action.state in ("failed", "skipped") and action.key not in phase.keys


IDLE_POLLS = 5.0  # an idle-exiting slice's copies of hours are looked at every 5 x idle_exit seconds at most


@dataclass(frozen=True)
class EngineSlice:
    """A slice as the serverless engine drives it. ``phase`` (a name of ``run_phases``): only that phase, under its
    own lease (the engine drives a run's chunks at once); a failed copy is then reported, not made again.
    ``idle_exit``: the slice pauses as soon as nothing is due for longer than that many seconds, its copies of hours
    looked at every ``IDLE_POLLS`` x ``idle_exit`` at most: the waiting is left to the state machine's Wait states."""

    phase: str | None = None
    idle_exit: float | None = None


def run_phases(plan: Plan) -> tuple[Phase, ...]:
    """The phases a run's plan is driven in (``engine/partition.py``; its chunk size recorded with the plan)."""
    return partition(plan, int(plan.extra.get("chunk_size") or DEFAULT_CHUNK))


def _phase(plan: Plan, name: str | None) -> Phase | None:
    if name is None:
        return None
    phases = run_phases(plan)
    for phase in phases:
        if phase.name == name:
            return phase
    if name in (PREPARE, FINISH):  # a plan with nothing on the source's side, or no staging to delete
        return Phase(name, ())
    raise UsageError(f"the run has no phase {name!r}: its phases are {', '.join(p.name for p in phases)}")


def _plan_again(sessions: Sessions, plan: Plan, failed: list[redo.FailedCopy]) -> Plan:
    """The transfer of ``plan`` again, for the destinations whose copies failed, in their regions: observed
    afresh (preflight included), so a cause fixed since shows, and a cause still there is refused before
    any change."""
    spec = TransferSpec.from_dict(plan.extra["spec"])
    plans = []
    for region in dict.fromkeys(f.region for f in failed):
        accounts = {f.account for f in failed if f.region == region}
        again = replace(
            spec, regions=(region,), destinations=tuple(d for d in spec.destinations if d.account in accounts)
        )
        plans.append(_plan_transfer(observe_transfer(sessions, plan.image_id, plan.region, again), again))
    return Plan.merge("transfer", plans)
