"""``share``, ``revoke`` and ``show``: the three gates of one image in one region, opened, closed and
explained; ``plan_share`` and ``plan_revoke`` validate every input before the first AWS call."""

from __future__ import annotations

from types import SimpleNamespace

from amishare import inputs
from amishare.api.context import Settings, check_key_access
from amishare.api.execute import Outcome, planned_or_applied
from amishare.api.requests import NO_HOOKS, Hooks, RevokeRequest, ShareRequest, ShowRequest
from amishare.aws.reads.image import AlsoRead, observe
from amishare.aws.reads.pointers import pointing
from amishare.aws.reads.preflight import template_error
from amishare.aws.session import Sessions
from amishare.checks import gates
from amishare.config import with_defaults
from amishare.engine.plan import Plan
from amishare.errors import AwsError, PlanRefused, UsageError
from amishare.model import Distribution, RoleRef, Target
from amishare.planners.distribution import Pointing
from amishare.planners.revoke import plan_revoke as _plan_revoke
from amishare.planners.share import ShareOptions
from amishare.planners.share import plan_share as _plan_share


def plan_share(settings: Settings, request: ShareRequest, *, sessions: Sessions | None = None) -> Plan:
    """The plan that shares ``request.image`` with its targets (all three gates; aws/ebs images re-encrypted
    first), and what its distribution leaves behind (the target accounts' parameters and launch templates,
    through their roles; the re-encrypted copy's deprecation, protection and tags)."""
    inputs.image_id(request.image)
    wanted = inputs.targets(request.targets, settings.config)
    where = settings.region(request.region)
    request = with_defaults(
        request, SimpleNamespace(key_access=settings.key_access, reencrypt_key=_share_key(settings, where))
    )
    access = check_key_access(request.key_access or settings.key_access)
    if request.reencrypt_key:
        inputs.key_ref(request.reencrypt_key, "share key")
    public = any(t.kind.value == "public" for t in wanted)
    if public and not request.allow_public:
        raise UsageError(
            "refusing to share publicly without --allow-public (every AWS account could launch the "
            "image): add --allow-public if that is what you want"
        )
    dist = request.distribution or Distribution()
    roles = _share_roles(settings, wanted, dist)
    active = sessions or settings.sessions()
    observed = observe(active, request.image, where, AlsoRead(share_key=request.reencrypt_key, public=public))
    pointing = observe_pointers(active, roles, where, dict.fromkeys(roles, dist))
    options = ShareOptions(
        key_access=access, allow_public=request.allow_public, distribution=dist, roles=roles, pointing=pointing
    )
    return _plan_share(observed, wanted, options)


def _share_key(settings: Settings, region: str) -> str | None:
    return settings.config.defaults.share_key_for(region)


def _share_roles(settings: Settings, targets: tuple[Target, ...], dist: Distribution) -> dict[str, RoleRef]:
    """The role of each account target, needed when the share sets their parameters or launch templates."""
    if not (dist.ssm_parameter or dist.launch_template):
        return {}
    return pointer_roles(settings, targets)


def pointer_roles(settings: Settings, targets: tuple[Target, ...]) -> dict[str, RoleRef]:
    """The role amishare assumes in each account target to set its parameter or launch template (UsageError
    naming the accounts that have none)."""
    roles: dict[str, RoleRef] = {}
    missing = []
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


def observe_pointers(
    sessions: Sessions, roles: dict[str, RoleRef], region: str, dists: dict[str, Distribution]
) -> dict[str, Pointing]:
    """Before any change, through each account's role: its launch template exists, and what its parameter and
    template name now (so a pointer already right is not written again). Every problem is listed, then refused."""
    problems = []
    found: dict[str, Pointing] = {}
    for account, dist in sorted(dists.items()):
        if not (dist.ssm_parameter or dist.launch_template):
            continue
        role = roles[account]
        try:
            sessions.assume(role)
        except AwsError as exc:
            problems.append(f"{account}: cannot assume {role.role_arn}: {exc.aws_message or exc}")
            continue
        error = template_error(sessions, account, region, dist.launch_template) if dist.launch_template else None
        if error:
            problems.append(f"{account} in {region}: launch template {dist.launch_template}: {error}")
            continue
        found[account] = pointing(sessions, account, region, dist)
    if problems:
        raise PlanRefused("the share's distribution cannot be done; nothing was changed:\n  " + "\n  ".join(problems))
    return found


def plan_revoke(settings: Settings, request: RevokeRequest, *, sessions: Sessions | None = None) -> Plan:
    """The plan that closes the three gates of ``request.image`` for its targets only."""
    inputs.image_id(request.image)
    wanted = inputs.targets(request.targets, settings.config)
    where = settings.region(request.region)
    observed = observe(
        sessions or settings.sessions(), request.image, where, AlsoRead(_share_key(settings, where), siblings=True)
    )
    return _plan_revoke(observed, wanted)


def share(settings: Settings, request: ShareRequest, *, dry_run: bool = False, hooks: Hooks = NO_HOOKS) -> Outcome:
    """Share an image with its targets (all three gates), re-encrypting aws/ebs images first."""
    sessions = settings.sessions()
    plan = plan_share(settings, request, sessions=sessions)
    return planned_or_applied(settings, plan, dry_run=dry_run, hooks=hooks, sessions=sessions)


def revoke(settings: Settings, request: RevokeRequest, *, dry_run: bool = False, hooks: Hooks = NO_HOOKS) -> Outcome:
    """Close the three gates of an image for the named targets only."""
    sessions = settings.sessions()
    plan = plan_revoke(settings, request, sessions=sessions)
    return planned_or_applied(settings, plan, dry_run=dry_run, hooks=hooks, sessions=sessions)


def show(settings: Settings, request: ShowRequest) -> list[gates.GateReport]:
    """For every target (named, or everyone the image is shared with), the three gates and why."""
    inputs.image_id(request.image)
    wanted = list(inputs.targets(request.targets, settings.config)) if request.targets else []
    where = settings.region(request.region)
    request = with_defaults(request, SimpleNamespace(share_key=_share_key(settings, where)))
    observed = observe(settings.sessions(), request.image, where, AlsoRead(request.share_key))
    images = [observed.image] + ([observed.reencrypted] if observed.reencrypted else [])
    reports: list[gates.GateReport] = []
    for image in images:
        reports += gates.report(observed, image, wanted or gates.known_targets(image, observed.keys))
    return reports
