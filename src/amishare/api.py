"""The library's entry points: ``share``, ``revoke``, ``show``, ``runs``: each a typed call.

Each one validates every input before the first AWS call, observes, plans (pure), and, unless
it is a dry run or the caller declines, applies the plan with the journal. The CLI is a thin
layer over these functions; they print nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amishare import config as config_file
from amishare import gates, inputs, journal, render
from amishare.actions import Plan
from amishare.apply import ActionResult, Event, RunResult, apply, now_utc
from amishare.aws import notify
from amishare.aws.observe import Observer, observe
from amishare.aws.runner import AwsRunner
from amishare.aws.session import Connection, RoleRef, Sessions, default_region, known_regions
from amishare.config import Config
from amishare.errors import AmiShareError, UsageError
from amishare.model import TargetKind
from amishare.plan import ShareOptions, plan_revoke, plan_share
from amishare.transfer import Destination, Party, TransferObservation, TransferRequest, plan_transfer

Confirm = Callable[[Plan], bool]
Poll = Callable[[str | None, str, list[dict[str, Any]]], None]  # (account, region, images described)


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
    plan: Plan
    result: RunResult | None  # None: dry run, or declined
    notified: tuple[str, ...] = ()  # what notifications were sent (transfer)
    notify_error: str | None = None

    @property
    def applied(self) -> bool:
        return self.result is not None


def _region(settings: Settings, region: str | None) -> str:
    return inputs.region(region, known_regions()) if region else settings.connection.region


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
) -> Outcome:
    """Share ``image_id`` with ``targets`` (all three gates), re-encrypting aws/ebs images first."""
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
    sessions = settings.sessions()
    observed = observe(sessions, image_id, where, share_key=share_key, public=public)
    plan = plan_share(observed, wanted, ShareOptions(key_access=access, allow_public=allow_public))
    return _run(settings, sessions, plan, dry_run, confirm, on_event)


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
    inputs.image_id(image_id)
    wanted = inputs.targets(targets, settings.config)
    where = _region(settings, region)
    sessions = settings.sessions()
    observed = observe(
        sessions, image_id, where, share_key=settings.config.defaults.share_key_for(where), siblings=True
    )
    return _run(settings, sessions, plan_revoke(observed, wanted), dry_run, confirm, on_event)


def _run(
    settings: Settings,
    sessions: Sessions,
    plan: Plan,
    dry_run: bool,
    confirm: Confirm | None,
    on_event: Event | None,
    runner: AwsRunner | None = None,
    max_parallel: int | None = None,
) -> Outcome:
    if dry_run or not plan.actions:
        return Outcome(plan, None)
    if confirm is not None and not confirm(plan):
        return Outcome(plan, None)
    runner = runner or AwsRunner(sessions)
    runner.prepare(plan.actions)
    log = settings.journal()
    try:
        result = apply(
            plan,
            runner,
            log,
            journal.new_run_id(now_utc()),
            max_workers=max_parallel or settings.max_parallel,
            on_event=on_event,
        )
    finally:
        log.close()
    return _notify(sessions, Outcome(plan, result))


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


def _party(settings: Settings, value: str, caller: str | None, what: str) -> Party:
    target = inputs.target(value, settings.config)
    if target.kind is not TargetKind.ACCOUNT:
        raise UsageError(f"{what} {value!r} must be an account (id or name from the config), not {target.kind.value}")
    named = settings.config.account_by_id(target.value)
    default_role = settings.config.defaults.role_name
    if caller is not None and target.value == caller:
        return Party(target.value, None, None, target.label)
    role = (
        named.role_arn(default_role)
        if named
        else (f"arn:aws:iam::{target.value}:role/{default_role}" if default_role else None)
    )
    if role is None:
        raise UsageError(
            f'no role to assume in {what} account {target.value}: set role = "..." under '
            f'[accounts.NAME] (with id = "{target.value}") or role_name under [defaults]'
        )
    return Party(target.value, role, named.external_id if named else None, target.label)


def transfer(
    settings: Settings,
    image_id: str,
    source: str | None,
    destinations: Sequence[str],
    *,
    regions: Sequence[str] = (),
    region: str | None = None,
    dest_key: str | None = None,
    allow_default_key: bool | None = None,
    keep_share: bool | None = None,
    keep_staging: bool | None = None,
    grant_autoscaling: bool | None = None,
    notify_email: str | None = None,
    ses_sender: str | None = None,
    notify_sns: str | None = None,
    max_parallel: int | None = None,
    timeout: float | None = None,
    dry_run: bool = False,
    confirm: Confirm | None = None,
    on_event: Event | None = None,
    on_poll: Poll | None = None,
    progress: bool = False,
) -> Outcome:
    """Hand ``image_id`` over: each destination ends up owning a copy encrypted with its own key.

    Arguments left as None take their value from the ``[transfer]`` table of the config.
    """
    inputs.image_id(image_id)
    defaults = settings.config.transfer
    source = source or defaults.source
    if not source:
        raise UsageError("no source account: pass --from ACCOUNT or set source under [transfer]")
    regions = regions or defaults.regions
    dest_key = dest_key or defaults.dest_key
    allow_default_key = defaults.allow_default_key if allow_default_key is None else allow_default_key
    keep_share = defaults.keep_share if keep_share is None else keep_share
    keep_staging = defaults.keep_staging if keep_staging is None else keep_staging
    grant_autoscaling = defaults.grant_autoscaling if grant_autoscaling is None else grant_autoscaling
    notify_email, ses_sender = notify_email or defaults.notify_email, ses_sender or defaults.ses_sender
    notify_sns = notify_sns or defaults.notify_sns
    timeout = inputs.duration(defaults.timeout) if timeout is None else timeout
    if grant_autoscaling and not keep_share:
        raise UsageError(
            "--grant-autoscaling is for live shares: add --keep-share (Auto Scaling launches from the "
            "shared image, which a transfer otherwise revokes)"
        )
    where = _region(settings, region)
    known = known_regions()
    wanted_regions = tuple(dict.fromkeys(inputs.region(r, known) for r in regions)) or (where,)
    if dest_key:
        inputs.key_ref(dest_key, "destination key")
    if bool(notify_email) != bool(ses_sender):
        raise UsageError("--notify-email needs --ses-sender (a verified SES identity), and the other way round")
    for address in (notify_email, ses_sender):
        if address and not inputs.EMAIL.match(address):
            raise UsageError(f"{address!r} is not an email address")
    if notify_sns and not inputs.SNS_ARN.match(notify_sns):
        raise UsageError(f"{notify_sns!r} is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)")
    if timeout <= 0:
        raise UsageError(f"--timeout {timeout}: must be positive")
    if not destinations:
        raise UsageError("no destination: name at least one with --to")
    for value in (source, *destinations):  # validate every name before any call
        inputs.target(value, settings.config)
    sessions = settings.sessions()
    caller = sessions.caller_account()
    source_party = _party(settings, source, caller, "source")
    dests = []
    for value in dict.fromkeys(destinations):
        party = _party(settings, value, None, "destination")
        named = settings.config.account_by_id(party.account)
        dests.append(
            Destination(
                party.account, party.role_arn, party.external_id, party.label, keys=dict(named.keys) if named else {}
            )
        )
    runner = AwsRunner(sessions, wait_timeout=timeout, on_poll=on_poll, snapshot_progress=progress)
    if source_party.role_arn:
        sessions.assume(RoleRef(source_party.account, source_party.role_arn, source_party.external_id))
    who = None if source_party.role_arn is None else source_party.account
    observer = Observer(sessions, where, who)
    image = observer.image(image_id, source_party.account)
    keys = {arn: observer.key(arn, source_party.account) for arn in image.key_arns}
    refs = {name: settings.config.defaults.share_key_for(name) for name in wanted_regions}
    with ThreadPoolExecutor(max_workers=max(1, len(refs))) as pool:  # one region's keys per thread
        found = {
            name: pool.submit(Observer(sessions, name, who).key, inputs.key_ref(ref, "share key"), source_party.account)
            for name, ref in refs.items()
            if ref
        }
    share_keys = {name: future.result() for name, future in found.items()}
    request = TransferRequest(
        source=source_party,
        destinations=tuple(dests),
        regions=wanted_regions,
        dest_key=dest_key,
        allow_default_key=allow_default_key,
        grant_autoscaling=grant_autoscaling,
        keep_share=keep_share,
        keep_staging=keep_staging,
        timeout=timeout,
        notify_email=notify_email,
        ses_sender=ses_sender,
        notify_sns=notify_sns,
    )
    plan = plan_transfer(TransferObservation(caller, where, image, keys, share_keys), request)
    return _run(settings, sessions, plan, dry_run, confirm, on_event, runner, max_parallel)


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
    try:
        record = log.run(run_id)
        plan = Plan.from_dict(record.plan)
        done = {
            a.key: ActionResult(a.key, a.state, a.output, a.error) for a in record.actions if a.state == "succeeded"
        }
        sessions = settings.sessions()
        timeout = max([float(a.params.get("timeout", 24 * 3600)) for a in plan.actions] or [24 * 3600])
        runner = AwsRunner(sessions, wait_timeout=timeout, on_poll=on_poll, snapshot_progress=progress)
        runner.prepare(a for a in plan.actions if a.key not in done)
        result = apply(
            plan,
            runner,
            log,
            run_id,
            max_workers=max_parallel or settings.max_parallel,
            on_event=on_event,
            done=done,
        )
    finally:
        log.close()
    return _notify(sessions, Outcome(plan, result))


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
        settings.sessions(), image_id, where, share_key=share_key or settings.config.defaults.share_key_for(where)
    )
    images = [observed.image] + ([observed.reencrypted] if observed.reencrypted else [])
    reports: list[gates.GateReport] = []
    for image in images:
        reports += gates.report(observed, image, wanted or gates.known_targets(image, observed.keys))
    return reports


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
