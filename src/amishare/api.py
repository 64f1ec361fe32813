"""The library's entry points: ``share``, ``revoke``, ``show``, ``runs``: each a typed call.

Each one validates every input before the first AWS call, observes, plans (pure), and, unless
it is a dry run or the caller declines, applies the plan with the journal. The CLI is a thin
layer over these functions; they print nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from amishare import config as config_file
from amishare import gates, inputs, journal
from amishare.actions import Plan
from amishare.apply import Event, RunResult, apply, now_utc
from amishare.aws.observe import observe
from amishare.aws.runner import AwsRunner
from amishare.aws.session import Connection, Sessions, default_region, known_regions
from amishare.config import Config
from amishare.errors import UsageError
from amishare.plan import ShareOptions, plan_revoke, plan_share

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
    plan: Plan
    result: RunResult | None  # None: dry run, or declined

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
    settings: Settings, sessions: Sessions, plan: Plan, dry_run: bool, confirm: Confirm | None, on_event: Event | None
) -> Outcome:
    if dry_run or not plan.actions:
        return Outcome(plan, None)
    if confirm is not None and not confirm(plan):
        return Outcome(plan, None)
    log = settings.journal()
    try:
        result = apply(
            plan,
            AwsRunner(sessions),
            log,
            journal.new_run_id(now_utc()),
            max_workers=settings.max_parallel,
            on_event=on_event,
        )
    finally:
        log.close()
    return Outcome(plan, result)


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
    log = settings.journal()
    try:
        return log.runs(limit)
    finally:
        log.close()


def run(settings: Settings, run_id: str) -> journal.RunRecord:
    log = settings.journal()
    try:
        return log.run(run_id)
    finally:
        log.close()
