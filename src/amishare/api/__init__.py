"""The library's entry points, each a typed call that prints nothing: observe -> plan -> apply.

``plan_share``, ``plan_revoke`` and ``plan_transfer`` validate every input before the first AWS call,
observe (read-only) and return a ``Plan`` (pure planners); ``apply`` runs any plan (one executor for
every command, plans over many images and regions included) with the journal; ``share``, ``revoke``
and ``transfer`` are plan-then-apply, ``resume`` finishes a journaled run, ``show`` explains the gates.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from amishare import config as config_file
from amishare import inputs, render
from amishare.aws.errors import aws_errors
from amishare.aws.reads import organizations
from amishare.aws.reads.doctor import DoctorTarget, observe_doctor
from amishare.aws.reads.estate import Party, Progress, observe_estate
from amishare.aws.reads.image import AlsoRead, observe, observe_images
from amishare.aws.reads.preflight import observe_transfer, template_error
from amishare.aws.reads.shared_with_me import observe_shared_with_me
from amishare.aws.reads.usage import observe_cleanup
from amishare.aws.session import Connection, RoleRef, Sessions, default_region, known_regions
from amishare.aws.steps import notify
from amishare.aws.steps.handlers import AwsSteps
from amishare.aws.steps.poller import Poll
from amishare.checks import audit as auditing
from amishare.checks import doctor as diagnosis
from amishare.checks import gates
from amishare.checks import shared_with_me as consumer_view
from amishare.checks import verify as verification
from amishare.config import Config
from amishare.engine import journal
from amishare.engine.actions import AwaitImage, Plan
from amishare.engine.executor import SUPERSEDED, ActionResult, Event, RunResult, now_utc
from amishare.engine.executor import apply as execute
from amishare.errors import AmiShareError, AwsError, PlanRefused, UsageError
from amishare.model import ACCOUNT_ID, ORG_ARN, OU_ARN, Distribution, Target
from amishare.planners import cleanup as housekeeping
from amishare.planners import redo
from amishare.planners.share import ShareOptions
from amishare.planners.share import plan_revoke as _plan_revoke
from amishare.planners.share import plan_share as _plan_share
from amishare.planners.transfer import TransferSpec
from amishare.planners.transfer import plan_transfer as _plan_transfer
from amishare.planners.transfer_request import DEFAULT_TIMEOUT, TransferRequest, resolve_transfer, share_distribution

__all__ = [
    "CleanupRequest",
    "Outcome",
    "Settings",
    "TransferRequest",
    "apply",
    "audit",
    "cleanup",
    "doctor",
    "plan_cleanup",
    "plan_revoke",
    "plan_share",
    "plan_transfer",
    "resume",
    "revoke",
    "run",
    "runs",
    "settings",
    "share",
    "share_distribution",
    "shared_with_me",
    "show",
    "transfer",
    "verify",
]

Confirm = Callable[[Plan], bool]


@dataclass(frozen=True)
class Settings:
    """Configuration file and command-line flags, merged (flags win)."""

    config: Config
    connection: Connection
    key_access: str
    journal_path: Path
    max_parallel: int

    def sessions(self) -> Sessions:
        return Sessions(self.connection)

    def journal(self) -> journal.Journal:
        return journal.Journal(self.journal_path)


def settings(
    config_path: str | Path | None = None,
    *,
    profile: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    journal_path: str | Path | None = None,
    max_parallel: int | None = None,
    retry_mode: str | None = None,
    key_access: str | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Load the config (``amishare.toml`` in ``cwd`` unless ``config_path``) and apply the flags."""
    cfg = config_file.load(config_path, cwd)
    defaults = cfg.defaults
    profile = profile or defaults.profile
    chosen = region or defaults.region or default_region(profile)
    if not chosen:
        raise UsageError("no region: pass --region, set region under [defaults] in amishare.toml, or export AWS_REGION")
    inputs.region(chosen, known_regions())
    access = key_access or defaults.key_access
    if access not in config_file.KEY_ACCESS:
        raise UsageError(f"--key-access {access!r}: must be policy or grant")
    endpoint = endpoint_url or defaults.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise UsageError(f"--endpoint-url {endpoint!r}: must start with http:// or https://")
    path = Path(journal_path or defaults.journal or journal.default_path()).expanduser()
    return Settings(
        config=cfg,
        connection=Connection(
            region=chosen, profile=profile, endpoint_url=endpoint, retry_mode=retry_mode or defaults.retry_mode
        ),
        key_access=access,
        journal_path=path,
        max_parallel=max_parallel or defaults.max_parallel,
    )


@dataclass(frozen=True)
class Outcome:
    """A plan, and how its run went (``result`` None: a dry run, or declined)."""

    plan: Plan
    result: RunResult | None
    notified: tuple[str, ...] = ()  # what notifications were sent (transfer)
    notify_error: str | None = None

    @property
    def applied(self) -> bool:
        return self.result is not None


def _region(settings: Settings, region: str | None) -> str:
    return inputs.region(region, known_regions()) if region else settings.connection.region


# ---------------------------------------------------------------------------- plans
def plan_share(
    settings: Settings,
    image_id: str,
    targets: Sequence[str],
    *,
    region: str | None = None,
    key_access: str | None = None,
    reencrypt_key: str | None = None,
    allow_public: bool = False,
    sessions: Sessions | None = None,
    distribution: Distribution | None = None,
) -> Plan:
    """The plan that shares ``image_id`` with ``targets`` (all three gates; aws/ebs images re-encrypted first),
    and what ``distribution`` leaves behind (the target accounts' parameters and launch templates, through their
    roles; the re-encrypted copy's deprecation, protection and tags)."""
    inputs.image_id(image_id)
    wanted = inputs.targets(targets, settings.config)
    where = _region(settings, region)
    access = key_access or settings.key_access
    if access not in config_file.KEY_ACCESS:
        raise UsageError(f"--key-access {access!r}: must be policy or grant")
    share_key = reencrypt_key or settings.config.defaults.share_key_for(where)
    if share_key:
        inputs.key_ref(share_key, "share key")
    public = any(t.kind.value == "public" for t in wanted)
    if public and not allow_public:
        raise UsageError(
            "refusing to share publicly without --allow-public (every AWS account could launch the "
            "image): add --allow-public if that is what you want"
        )
    dist = distribution or Distribution()
    roles = _share_roles(settings, wanted, dist)
    active = sessions or settings.sessions()
    observed = observe(active, image_id, where, AlsoRead(share_key=share_key, public=public))
    _check_templates(active, roles, where, dist)
    options = ShareOptions(key_access=access, allow_public=allow_public, distribution=dist, roles=roles)
    return _plan_share(observed, wanted, options)


def _share_roles(
    settings: Settings, targets: tuple[Target, ...], dist: Distribution
) -> dict[str, tuple[str, str | None]]:
    """The role of each account target, needed when the share sets their parameters or launch templates."""
    if not (dist.ssm_parameter or dist.launch_template):
        return {}
    roles, missing = {}, []
    for target in targets:
        if target.kind.value != "account":
            continue
        found = settings.config.role_in(target.value)
        if found is None:
            missing.append(target.value)
        else:
            roles[target.value] = found
    if missing:
        raise UsageError(
            f"--ssm-parameter/--launch-template act in each target account through its role, and none is configured "
            f"for {', '.join(missing)}: set role under [accounts.NAME] or role_name under [defaults]"
        )
    return roles


def _check_templates(
    sessions: Sessions, roles: dict[str, tuple[str, str | None]], region: str, dist: Distribution
) -> None:
    """Before any change: every target has the launch template (read through its role)."""
    if not dist.launch_template:
        return
    problems = []
    for account, (role_arn, external_id) in sorted(roles.items()):
        try:
            sessions.assume(RoleRef(account, role_arn, external_id))
        except AwsError as exc:
            problems.append(f"{account}: cannot assume {role_arn}: {exc.aws_message or exc}")
            continue
        error = template_error(sessions, account, region, dist.launch_template)
        if error:
            problems.append(f"{account} in {region}: launch template {dist.launch_template}: {error}")
    if problems:
        raise PlanRefused("the share's distribution cannot be done; nothing was changed:\n  " + "\n  ".join(problems))


def plan_revoke(
    settings: Settings,
    image_id: str,
    targets: Sequence[str],
    *,
    region: str | None = None,
    sessions: Sessions | None = None,
) -> Plan:
    """The plan that closes the three gates of ``image_id`` for ``targets`` only."""
    inputs.image_id(image_id)
    wanted = inputs.targets(targets, settings.config)
    where = _region(settings, region)
    share_key = settings.config.defaults.share_key_for(where)
    observed = observe(sessions or settings.sessions(), image_id, where, AlsoRead(share_key=share_key, siblings=True))
    return _plan_revoke(observed, wanted)


def plan_transfer(settings: Settings, request: TransferRequest, *, sessions: Sessions | None = None) -> Plan:
    """The plan that hands ``request.image`` over to its destinations, in every region asked."""
    where = _region(settings, request.region)
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


# ------------------------------------------------------------------------------ apply
def apply(
    settings: Settings,
    plan: Plan,
    *,
    confirm: Confirm | None = None,
    on_event: Event | None = None,
    on_poll: Poll | None = None,
    progress: bool = False,
    max_parallel: int | None = None,
    sessions: Sessions | None = None,
) -> Outcome:
    """Run ``plan`` (from any ``plan_*``, or several merged with ``Plan.merge``), journaled; nothing happens
    when it has no action or ``confirm`` says no."""
    if not plan.actions or (confirm is not None and not confirm(plan)):
        return Outcome(plan, None)
    sessions = sessions or settings.sessions()
    log = settings.journal()
    try:
        result = execute(
            plan,
            _steps(sessions, plan, on_poll, progress),
            log,
            journal.new_run_id(now_utc()),
            max_workers=max_parallel or settings.max_parallel,
            on_event=on_event,
        )
    finally:
        log.close()
    return _notify(sessions, Outcome(plan, result))


def _steps(sessions: Sessions, plan: Plan, on_poll: Poll | None, progress: bool) -> AwsSteps:
    timeouts = [a.timeout for a in plan.actions if isinstance(a, AwaitImage)]
    return AwsSteps(
        sessions, wait_timeout=max(timeouts or [DEFAULT_TIMEOUT]), on_poll=on_poll, snapshot_progress=progress
    )


def _notify(sessions: Sessions, outcome: Outcome) -> Outcome:
    spec = outcome.plan.extra.get("notify") or {}
    if outcome.result is None or not (spec.get("email") or spec.get("sns")):
        return outcome
    subject, body = render.notification(outcome.result)
    try:
        sent = notify.send(sessions, spec, subject, body)
    except AmiShareError as exc:
        return Outcome(outcome.plan, outcome.result, notify_error=str(exc))
    return Outcome(outcome.plan, outcome.result, notified=tuple(sent))


# --------------------------------------------------------------------------- commands
def share(
    settings: Settings,
    image_id: str,
    targets: Sequence[str],
    *,
    region: str | None = None,
    key_access: str | None = None,
    reencrypt_key: str | None = None,
    allow_public: bool = False,
    dry_run: bool = False,
    confirm: Confirm | None = None,
    on_event: Event | None = None,
    distribution: Distribution | None = None,
) -> Outcome:
    """Share ``image_id`` with ``targets`` (all three gates), re-encrypting aws/ebs images first."""
    sessions = settings.sessions()
    plan = plan_share(
        settings,
        image_id,
        targets,
        region=region,
        key_access=key_access,
        reencrypt_key=reencrypt_key,
        allow_public=allow_public,
        sessions=sessions,
        distribution=distribution,
    )
    if dry_run:
        return Outcome(plan, None)
    return apply(settings, plan, confirm=confirm, on_event=on_event, sessions=sessions)


def revoke(
    settings: Settings,
    image_id: str,
    targets: Sequence[str],
    *,
    region: str | None = None,
    dry_run: bool = False,
    confirm: Confirm | None = None,
    on_event: Event | None = None,
) -> Outcome:
    """Close the three gates of ``image_id`` for ``targets`` only."""
    sessions = settings.sessions()
    plan = plan_revoke(settings, image_id, targets, region=region, sessions=sessions)
    if dry_run:
        return Outcome(plan, None)
    return apply(settings, plan, confirm=confirm, on_event=on_event, sessions=sessions)


def transfer(
    settings: Settings,
    request: TransferRequest,
    *,
    dry_run: bool = False,
    confirm: Confirm | None = None,
    on_event: Event | None = None,
    on_poll: Poll | None = None,
    progress: bool = False,
) -> Outcome:
    """Hand ``request.image`` over: each destination ends up owning a copy encrypted with its own key."""
    sessions = settings.sessions()
    plan = plan_transfer(settings, request, sessions=sessions)
    if dry_run:
        return Outcome(plan, None)
    return apply(
        settings,
        plan,
        confirm=confirm,
        on_event=on_event,
        on_poll=on_poll,
        progress=progress,
        max_parallel=request.max_parallel,
        sessions=sessions,
    )


def resume(
    settings: Settings,
    run_id: str,
    *,
    on_event: Event | None = None,
    on_poll: Poll | None = None,
    max_parallel: int | None = None,
    progress: bool = False,
) -> Outcome:
    """Finish a run that was interrupted (or partly failed): AWS is re-read, what succeeded is not redone."""
    log = settings.journal()
    sessions = settings.sessions()
    try:
        record = log.run(run_id)
        plan = Plan.from_dict(record.plan)
        states = {a.key: a.state for a in record.actions}
        failed = redo.failed_copies(plan, states)
        if failed and "spec" in plan.extra:
            log.leases.acquire(run_id)  # before anything is planned or written: one process per run
            plan, superseded = redo.extend(plan, _plan_again(sessions, plan, failed), failed, states)
            log.revise(run_id, plan, superseded)
            record = log.run(run_id)
        finished = ("succeeded", SUPERSEDED)
        done = {a.key: ActionResult(a.key, a.state, a.output, a.error) for a in record.actions if a.state in finished}
        result = execute(
            plan,
            _steps(sessions, plan, on_poll, progress),
            log,
            run_id,
            max_workers=max_parallel or settings.max_parallel,
            on_event=on_event,
            done=done,
        )
    finally:
        log.close()
    return _notify(sessions, Outcome(plan, result))


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


def show(
    settings: Settings,
    image_id: str,
    targets: Sequence[str] = (),
    *,
    region: str | None = None,
    share_key: str | None = None,
) -> list[gates.GateReport]:
    """For every target (named, or everyone the image is shared with), the three gates and why."""
    inputs.image_id(image_id)
    wanted = list(inputs.targets(targets, settings.config)) if targets else []
    where = _region(settings, region)
    observed = observe(
        settings.sessions(), image_id, where, AlsoRead(share_key or settings.config.defaults.share_key_for(where))
    )
    images = [observed.image] + ([observed.reencrypted] if observed.reencrypted else [])
    reports: list[gates.GateReport] = []
    for image in images:
        reports += gates.report(observed, image, wanted or gates.known_targets(image, observed.keys))
    return reports


def verify(
    settings: Settings,
    image_ids: Sequence[str] = (),
    *,
    tag: str | None = None,
    key: str | None = None,
    shareable: bool = False,
    region: str | None = None,
) -> list[verification.Verification]:
    """Check the encryption of images (by id, or every image of the caller's with ``tag`` K=V): every volume
    EBS-backed and encrypted, with ``key`` when given, never aws/ebs when ``shareable``. Read-only."""
    for image_id in image_ids:
        inputs.image_id(image_id)
    if bool(image_ids) == bool(tag):
        raise UsageError("name the images to verify (IMAGE ...) or --all --tag KEY=VALUE, not both")
    wanted = None
    if tag is not None:
        name, sep, value = tag.partition("=")
        if not sep or not name:
            raise UsageError(f"--tag {tag!r}: write it as KEY=VALUE, e.g. --tag role=golden")
        wanted = (name, value)
    if key:
        inputs.key_ref(key, "expected key")
    where = _region(settings, region)
    images, keys, expected = observe_images(settings.sessions(), where, tuple(image_ids), wanted, expected_key=key)
    return [verification.verify(i, keys, expected=expected, shareable=shareable) for i in images]


def shared_with_me(settings: Settings, *, region: str | None = None) -> tuple[str, list[consumer_view.SharedImage]]:
    """The images shared with the caller's account in the region, and whether it can launch and copy each;
    with the account's Allowed AMIs state (``enabled``: images its criteria do not allow are hidden)."""
    state, facts = observe_shared_with_me(settings.sessions(), _region(settings, region))
    now = now_utc()
    return state, sorted(
        (consumer_view.judge(f, now, state) for f in facts), key=lambda s: (s.facts.owner, s.facts.name)
    )


def doctor(
    settings: Settings,
    image_id: str,
    account: str,
    *,
    region: str | None = None,
    dest_key: str | None = None,
    probe: bool = False,
) -> diagnosis.Diagnosis:
    """Why ``account`` can or cannot see, launch, copy and Auto Scaling-launch ``image_id``: the owner's view,
    and the target's through its configured role when the config names one. Read-only: with ``probe``, the
    target's launch and copy are tried as dry runs through its role (what its SCPs allow)."""
    inputs.image_id(image_id)
    target = inputs.target(account, settings.config)
    if target.kind.value != "account":
        raise UsageError(f"--account {account!r}: doctor diagnoses one account (an id or a config name), not {target}")
    if dest_key:
        inputs.key_ref(dest_key, "destination key")
    where = _region(settings, region)
    named = settings.config.account_by_id(target.value)
    role = _role_ref(settings, target.value)
    key = dest_key or (named.keys.get(where) if named else None) or settings.config.transfer.dest_key
    facts = observe_doctor(settings.sessions(), image_id, where, DoctorTarget(target.value, role, key, probe))
    return diagnosis.diagnose(facts, now_utc())


def audit(
    settings: Settings,
    *,
    accounts: Sequence[str] = (),
    org: bool = False,
    regions: Sequence[str] = (),
    all_regions: bool = False,
    allow: Sequence[str] = (),
    on_progress: Progress | None = None,
) -> auditing.AuditReport:
    """Every image the audited accounts own in the regions, who can use it through each of the three gates,
    and the findings (docs/audit.md). Accounts: the caller's alone, ``accounts`` (ids or config names, read
    through their configured roles) or every active account of the caller's organization (``org``).
    Read-only."""
    if accounts and org:
        raise UsageError("--accounts or --org, not both")
    if regions and all_regions:
        raise UsageError("--regions or --all-regions, not both")
    where = [inputs.region(r, known_regions()) for r in regions] or (
        [] if all_regions else [settings.connection.region]
    )
    allowlist = _allowlist(settings, allow)  # checks --allow before any AWS call
    sessions = settings.sessions()
    caller = sessions.caller_account()
    members, own_org = _organization(sessions)
    wanted = list(accounts) if accounts else (sorted(members or ()) if org else [caller])
    if org and members is None:
        raise UsageError("--org needs the organization's management account (or a delegated administrator)")
    parties = [_audit_party(settings, value, caller) for value in dict.fromkeys(wanted)]
    if all_regions:
        where = _enabled_regions(sessions)
    reads = observe_estate(sessions, parties, where, on_progress)
    return auditing.audit(reads, replace(allowlist, own_org=own_org, members=members))


def _allowlist(settings: Settings, values: Sequence[str]) -> auditing.Allowlist:
    accounts, orgs, ous = {a.id for a in settings.config.accounts.values()}, set(), set()
    for value in values:
        text = value.strip()
        if ACCOUNT_ID.match(text):
            accounts.add(text)
        elif ORG_ARN.match(text) or re.fullmatch(r"o-[a-z0-9]{10,32}", text):
            orgs.add(text.rsplit("/", 1)[-1])
        elif OU_ARN.match(text) or re.fullmatch(r"ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}", text):
            ous.add(text.rsplit("/", 1)[-1])
        else:
            raise UsageError(
                f"--allow {value!r}: give an account id (12 digits), an organization (ARN or o-...) or an OU "
                "(ARN or ou-...)"
            )
    return auditing.Allowlist(frozenset(accounts), frozenset(orgs), frozenset(ous))


def _organization(sessions: Sessions) -> tuple[frozenset[str] | None, str | None]:
    """The caller's organization's active accounts (None when it cannot list them) and its id."""
    client = sessions.client("organizations", "us-east-1")
    caller = sessions.caller_account()
    try:
        with aws_errors("DescribeOrganization", caller, "us-east-1"):
            org_id = str(client.describe_organization()["Organization"]["Id"])
    except AwsError:  # not in an organization (or not allowed to ask): nothing to add
        return None, None
    try:
        with aws_errors("ListAccounts", caller, "us-east-1"):
            listed = [a for page in client.get_paginator("list_accounts").paginate() for a in page["Accounts"]]
    except AwsError:  # a member account: it cannot list the others
        return None, org_id
    return frozenset(a["Id"] for a in listed if a.get("Status", "ACTIVE") == "ACTIVE"), org_id


def _audit_party(settings: Settings, value: str, caller: str) -> Party:
    target = inputs.target(value, settings.config)
    if target.kind.value != "account":
        raise UsageError(f"--accounts {value!r}: name accounts (ids or config names), not {target}")
    if target.value == caller:
        return Party(caller, None)
    role = _role_ref(settings, target.value)
    if role is None:
        raise UsageError(
            f'no role to read account {target.value} through: set role = "..." under [accounts.NAME] (with id = '
            f'"{target.value}") or role_name under [defaults]'
        )
    return Party(target.value, role)


def _role_ref(settings: Settings, account: str) -> RoleRef | None:
    """The role amishare assumes in ``account`` (``Config.role_in``), None when the config names none."""
    found = settings.config.role_in(account)
    return RoleRef(account, found[0], found[1]) if found else None


def _enabled_regions(sessions: Sessions) -> list[str]:
    with aws_errors("DescribeRegions", sessions.caller_account(), None):
        found = sessions.client("ec2").describe_regions()["Regions"]
    return sorted(r["RegionName"] for r in found)


@dataclass(frozen=True)
class CleanupRequest:
    """``amishare cleanup``: which images, what to do with them, and what keeps them (docs/cleanup.md)."""

    action: str  # deprecate | disable | deregister
    name: str | None = None
    tag: str | None = None  # KEY=VALUE
    older_than: str | None = None  # a duration
    keep_last: int = 0
    unused_for: str | None = None  # a duration
    include_shared: bool = False
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()


def plan_cleanup(settings: Settings, request: CleanupRequest, *, sessions: Sessions | None = None) -> Plan:
    """The cleanup plan: a decision per matching image (kept and why, or what happens to it), and the actions."""
    rules = _cleanup_rules(request)
    regions = [inputs.region(r, known_regions()) for r in request.regions] or [settings.connection.region]
    active = sessions or settings.sessions()
    caller = active.caller_account()
    parties = [_audit_party(settings, value, caller) for value in dict.fromkeys(request.accounts or (caller,))]

    reads = observe_cleanup(
        active, parties, regions, rules, lambda account: None if account == caller else _role_ref(settings, account)
    )
    now = now_utc()
    facts = [
        housekeeping.AccountRegionFacts(
            account=read.party.account,
            region=read.region,
            decisions=tuple(housekeeping.decide(list(read.candidates), rules, now, read.snapshot_users)),
            keys=read.keys,
            others=read.others,
            role_arn=read.party.role.role_arn if read.party.role else None,
            external_id=read.party.role.external_id if read.party.role else None,
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
    if request.keep_last < 0:
        raise UsageError(f"--keep-last {request.keep_last}: must be 0 or more")
    tag = inputs.tag(request.tag) if request.tag else None
    return housekeeping.Rules(
        action=request.action,
        name=request.name,
        tag=tag,
        older_than=inputs.duration(request.older_than) if request.older_than else None,
        keep_last=request.keep_last,
        unused_for=inputs.duration(request.unused_for) if request.unused_for else None,
        include_shared=request.include_shared,
    )


def cleanup(
    settings: Settings,
    request: CleanupRequest,
    *,
    dry_run: bool = False,
    confirm: Confirm | None = None,
    on_event: Event | None = None,
) -> Outcome:
    """Deprecate, disable or deregister old images safely: never one in use, protected, among the newest of its
    family, or shared (unless asked: then its shares are revoked first). Journaled and resumable."""
    sessions = settings.sessions()
    plan = plan_cleanup(settings, request, sessions=sessions)
    if dry_run:
        return Outcome(plan, None)
    return apply(settings, plan, confirm=confirm, on_event=on_event, sessions=sessions)


def runs(settings: Settings, limit: int = 50) -> list[journal.RunRecord]:
    """The runs recorded in the journal, newest first."""
    log = settings.journal()
    try:
        return log.runs(limit)
    finally:
        log.close()


def run(settings: Settings, run_id: str) -> journal.RunRecord:
    """One run of the journal, with its actions."""
    log = settings.journal()
    try:
        return log.run(run_id)
    finally:
        log.close()
