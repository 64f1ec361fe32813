"""``cleanup``: old images deprecated, disabled or deregistered safely, planned from what still uses them."""

from __future__ import annotations

from amishare import inputs
from amishare.api.accounts import party
from amishare.api.context import Settings
from amishare.api.execute import Outcome, planned_or_applied
from amishare.api.requests import NO_HOOKS, CleanupRequest, Hooks
from amishare.aws.reads.usage import observe_cleanup
from amishare.aws.session import Sessions, known_regions
from amishare.engine.executor import now_utc
from amishare.engine.plan import Plan
from amishare.errors import UsageError
from amishare.planners import cleanup as housekeeping


def plan_cleanup(settings: Settings, request: CleanupRequest, *, sessions: Sessions | None = None) -> Plan:
    """The cleanup plan: a decision per matching image (kept and why, or what happens to it), and the actions."""
    rules = _cleanup_rules(request)
    regions = [inputs.region(r, known_regions()) for r in request.regions] or [settings.connection.region]
    active = sessions or settings.sessions()
    caller = active.caller_account()
    parties = [party(settings, value, caller) for value in dict.fromkeys(request.accounts or (caller,))]

    reads = observe_cleanup(
        active, parties, regions, rules, lambda account: None if account == caller else settings.config.role_in(account)
    )
    now = now_utc()
    facts = [
        housekeeping.AccountRegionFacts(
            account=read.party.account,
            region=read.region,
            decisions=tuple(housekeeping.decide(list(read.candidates), rules, now, read.snapshot_users)),
            keys=read.keys,
            others=read.others,
            role=read.party.role,
            recycle_bin_days=read.recycle_bin_days,
        )
        for read in reads
    ]
    return housekeeping.plan_cleanup(facts, rules, caller)


def _cleanup_rules(request: CleanupRequest) -> housekeeping.Rules:
    if request.action not in housekeeping.ACTIONS:
        raise UsageError("choose what cleanup does: --deprecate, --disable or --deregister")
    if not request.name and not request.tag:
        raise UsageError("choose the images with --name GLOB or --tag KEY=VALUE (cleanup never takes every image)")
    if request.keep_last is not None and request.keep_last < 0:
        raise UsageError(f"--keep-last {request.keep_last}: must be 0 or more")
    rules = housekeeping.Rules(
        action=request.action,
        name=request.name,
        tag=inputs.tag(request.tag) if request.tag else None,
        older_than=inputs.duration(request.older_than) if request.older_than else None,
        keep_last=request.keep_last or 0,
        unused_for=inputs.duration(request.unused_for) if request.unused_for else None,
        include_shared=request.include_shared,
    )
    if request.older_than is None and request.keep_last is None:
        raise UsageError(
            "say which images are old: --older-than DURATION (e.g. --older-than 90d) or --keep-last N (the N "
            "newest of each family stay; --keep-last 0 keeps none), or both: cleanup never takes every match "
            "(today's image included)"
        )
    return rules


def cleanup(settings: Settings, request: CleanupRequest, *, dry_run: bool = False, hooks: Hooks = NO_HOOKS) -> Outcome:
    """Deprecate, disable or deregister old images safely: never one in use, protected, among the newest of its
    family, or shared (unless asked: then its shares are revoked first). Journaled and resumable."""
    sessions = settings.sessions()
    plan = plan_cleanup(settings, request, sessions=sessions)
    return planned_or_applied(settings, plan, dry_run=dry_run, hooks=hooks, sessions=sessions)
