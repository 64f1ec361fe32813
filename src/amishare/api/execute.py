"""``apply``: any plan run by the one executor, journaled, with the run's notifications; ``Outcome`` is
what every mutating command returns."""

from __future__ import annotations

from dataclasses import dataclass

from amishare.api.context import Settings
from amishare.api.requests import NO_HOOKS, Hooks
from amishare.aws.session import Sessions
from amishare.aws.steps import notify
from amishare.aws.steps.handlers import AwsSteps
from amishare.engine import journal
from amishare.engine.executor import RunOptions, RunResult, now_utc
from amishare.engine.executor import apply as execute
from amishare.engine.kinds.copies import AwaitImage
from amishare.engine.locks import KeyLocks
from amishare.engine.plan import Plan
from amishare.errors import AmiShareError
from amishare.planners.transfer_request import DEFAULT_TIMEOUT
from amishare.render.transfer import notification


@dataclass(frozen=True)
class Outcome:
    """A plan, and how its run went (``result`` None: a dry run, or declined)."""

    plan: Plan
    result: RunResult | None
    notified: tuple[str, ...] = ()  # what notifications were sent (transfer)
    notify_error: str | None = None

    @property
    def applied(self) -> bool:
        """Whether the plan ran (not a dry run, not declined, not empty)."""
        return self.result is not None


def apply(
    settings: Settings,
    plan: Plan,
    *,
    hooks: Hooks = NO_HOOKS,
    max_parallel: int | None = None,
    sessions: Sessions | None = None,
    budget: float | None = None,
) -> Outcome:
    """Run ``plan`` (from any ``plan_*``, or several merged with ``Plan.merge``), journaled; nothing happens
    when it has no action or ``hooks.confirm`` says no. With ``budget`` (seconds) the run is a slice: it pauses
    once that time is spent (``Outcome.result.paused``), and ``resume`` continues it, in any process."""
    if not plan.actions or (hooks.confirm is not None and not hooks.confirm(plan)):
        return Outcome(plan, None)
    sessions = sessions or settings.sessions()
    log = settings.journal()
    try:
        result = execute(
            plan,
            steps_for(sessions, plan, hooks, log.key_locks),
            log,
            journal.new_run_id(now_utc()),
            options=run_options(settings, hooks, max_parallel, budget),
        )
    finally:
        log.close()
    return with_notifications(sessions, Outcome(plan, result))


def run_options(settings: Settings, hooks: Hooks, max_parallel: int | None, budget: float | None) -> RunOptions:
    """How a run or a slice of it is driven: its workers, who hears its events, its deadline."""
    return RunOptions(max_workers=max_parallel or settings.max_parallel, on_event=hooks.on_event, budget=budget)


def planned_or_applied(
    settings: Settings,
    plan: Plan,
    *,
    dry_run: bool,
    hooks: Hooks,
    sessions: Sessions,
    max_parallel: int | None = None,
) -> Outcome:
    """``plan`` alone when ``dry_run``, else ``plan`` applied: the end of every plan-then-apply command."""
    if dry_run:
        return Outcome(plan, None)
    return apply(settings, plan, hooks=hooks, max_parallel=max_parallel, sessions=sessions)


def steps_for(
    sessions: Sessions, plan: Plan, hooks: Hooks, key_locks: KeyLocks | None = None, poll_max: float | None = None
) -> AwsSteps:
    """The AWS steps that run ``plan``: its waits bounded by its longest timeout; key policy edits under
    ``key_locks`` (the journal's: shared by every machine when it is a DynamoDB table); copies of hours looked at
    every ``poll_max`` seconds at most (30 by default)."""
    timeouts = [a.timeout for a in plan.actions if isinstance(a, AwaitImage)]
    return AwsSteps(
        sessions,
        wait_timeout=max(timeouts or [DEFAULT_TIMEOUT]),
        on_poll=hooks.on_poll,
        snapshot_progress=hooks.progress,
        key_locks=key_locks,
        **({"poll_max": poll_max} if poll_max else {}),
    )


def with_notifications(sessions: Sessions, outcome: Outcome) -> Outcome:
    """``outcome`` with the notifications its plan asks for sent (a failure to send is reported, not raised)."""
    spec = outcome.plan.extra.get("notify") or {}
    result = outcome.result
    if result is None or result.paused or result.phase is not None or not (spec.get("email") or spec.get("sns")):
        return outcome  # a paused run, or one phase of a run, has not ended: its last slice, or its report, notifies
    subject, body = notification(result)
    try:
        sent = notify.send(sessions, spec, subject, body)
    except AmiShareError as exc:
        return Outcome(outcome.plan, outcome.result, notify_error=str(exc))
    return Outcome(outcome.plan, outcome.result, notified=tuple(sent))
