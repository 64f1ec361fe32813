"""What a user asks of a transfer (``TransferRequest``), and its resolution into a ``TransferSpec``.

Resolution is pure: the config's ``[transfer]`` defaults fill what the request leaves unset, every
value is validated (errors name the value and the fix), names become accounts with the roles to
assume in them. The caller's account is asked for (``identify``) only once everything is valid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from amishare import inputs
from amishare.config import Config, TransferDefaults, with_defaults
from amishare.errors import PlanRefused, UsageError
from amishare.model import Distribution, Target, TargetKind, arn_region
from amishare.planners.transfer_spec import Destination, Party, TransferSpec

DEFAULT_TIMEOUT = 24 * 3600.0
# [transfer] keys whose form differs from the request's, converted here: a duration, and a table of tags
TRANSFER_BY_HAND = ("timeout", "tags")


@dataclass(frozen=True)
class TransferRequest:
    """``amishare transfer``: hand ``image`` over to ``destinations``. Fields left ``None`` (or empty) take
    their value from the ``[transfer]`` table of the config, then from amishare's defaults."""

    image: str
    destinations: tuple[str, ...]
    source: str | None = None
    regions: tuple[str, ...] = ()
    region: str | None = None  # the image's region (default: the settings' region)
    dest_key: str | None = None
    allow_default_key: bool | None = None
    keep_share: bool | None = None
    keep_staging: bool | None = None
    grant_autoscaling: bool | None = None
    notify_email: str | None = None
    ses_sender: str | None = None
    notify_sns: str | None = None
    timeout: float | None = None  # seconds
    max_parallel: int | None = None
    key_access: str | None = None  # "auto" (default), "policy" or "grant": how destinations reach the source key
    ssm_parameter: str | None = None  # distribution settings (docs/concepts.md)
    launch_template: str | None = None
    set_default: bool | None = None
    deprecate_after: str | None = None  # a duration: 90d
    deregistration_protection: bool | None = None
    tags: tuple[str, ...] = ()  # KEY=VALUE
    copy_duration: str | None = None  # a duration in 15-minute steps
    exclude: tuple[str, ...] = ()  # accounts left out of the organizations and OUs in ``destinations``


# An organization or OU -> its (active, inactive) member accounts, read when the plan is made.
Expand = Callable[[Target], tuple[tuple[str, ...], tuple[str, ...]]]


def _no_expansion(target: Target) -> tuple[tuple[str, ...], tuple[str, ...]]:
    raise UsageError(f"--to {target.value}: an organization or OU cannot be expanded here")


def resolve_transfer(
    config: Config,
    request: TransferRequest,
    identify: Callable[[tuple[str, ...]], str],
    region: str,
    known_regions: Iterable[str],
    expand: Expand = _no_expansion,
) -> TransferSpec:
    """The transfer ``request`` asks for, with the config's defaults, validated (``UsageError``).

    ``identify(regions)`` returns the caller's account; it is called after every check passed, with the
    regions the transfer reads in (the image's first), so that their clients can be built meanwhile."""
    request = with_defaults(request, config.transfer, by_hand=TRANSFER_BY_HAND)  # flags first, then [transfer]
    inputs.image_id(request.image)
    source = request.source
    if not source:
        raise UsageError("no source account: pass --from ACCOUNT or set source under [transfer]")
    known = list(known_regions)
    wanted = tuple(dict.fromkeys(inputs.region(r, known) for r in request.regions))
    options = _options(request, config.transfer)
    if not request.destinations:
        raise UsageError("no destination: name at least one with --to")
    regions = wanted or (region,)
    source_account = _party(config, source, None, "source", role_needed=False).account
    targets = _targets(config, request.destinations)
    excluded = _excluded(config, request.exclude)
    share_keys = _keys_in_regions(config, options.dest_key, regions)
    distribution = _distribution(config, request)
    destinations, expansions = _destinations(config, targets, source_account, excluded, expand)
    for destination in destinations:
        _distribution_overrides(destination)
    caller = identify(tuple(dict.fromkeys((region, *regions))))
    return TransferSpec(
        source=_party(config, source, caller, "source"),
        destinations=destinations,
        regions=regions,
        share_keys=share_keys,
        dest_key=options.dest_key,
        allow_default_key=bool(request.allow_default_key),
        keep_share=options.keep_share,
        keep_staging=bool(request.keep_staging),
        grant_autoscaling=options.grant_autoscaling,
        key_access=_key_access(request.key_access, options.grant_autoscaling),
        timeout=options.timeout,
        notify_email=options.notify_email,
        ses_sender=options.ses_sender,
        notify_sns=options.notify_sns,
        distribution=distribution,
        expansions=expansions,
    )


@dataclass(frozen=True)
class _Options:
    """The options of a request checked before its accounts are: flags first, then ``[transfer]``."""

    dest_key: str | None
    keep_share: bool
    grant_autoscaling: bool
    notify_email: str | None
    ses_sender: str | None
    notify_sns: str | None
    timeout: float


def _options(request: TransferRequest, defaults: TransferDefaults) -> _Options:
    """The destination key, the live share and its Auto Scaling grant, the notification and the timeout of
    ``request`` (its unset fields already taken from ``[transfer]``), each validated."""
    dest_key = request.dest_key
    if dest_key:
        inputs.key_ref(dest_key, "destination key")
    keep_share = bool(request.keep_share)
    grant_autoscaling = bool(request.grant_autoscaling)
    if grant_autoscaling and not keep_share:
        raise UsageError(
            "--grant-autoscaling is for live shares: add --keep-share (Auto Scaling launches from the "
            "shared image, which a transfer otherwise revokes)"
        )
    notify_email, ses_sender, notify_sns = request.notify_email, request.ses_sender, request.notify_sns
    _check_notify(notify_email, ses_sender, notify_sns)
    timeout = inputs.duration(defaults.timeout) if request.timeout is None else request.timeout
    if timeout <= 0:
        raise UsageError(f"--timeout {timeout}: must be positive")
    return _Options(dest_key, keep_share, grant_autoscaling, notify_email, ses_sender, notify_sns, timeout)


def _keys_in_regions(config: Config, dest_key: str | None, regions: tuple[str, ...]) -> dict[str, str]:
    """Check that the destination key and the share keys named by ARN are keys of the regions they serve; the
    share key of each region that has one."""
    if dest_key:
        _key_in_regions(dest_key, regions, "--dest-key (or dest_key under [transfer])")
    share_keys = {r: config.defaults.share_key_for(r) for r in regions}
    for name, ref in share_keys.items():
        if ref:
            _key_in_regions(ref, (name,), "the share key (share_key or share_keys under [defaults])")
    return {r: ref for r, ref in share_keys.items() if ref}


def _distribution(config: Config, request: TransferRequest) -> Distribution:
    """The distribution settings of ``request`` (flags, then ``[transfer]``), each validated."""
    defaults = config.transfer
    parameter, template = request.ssm_parameter, request.launch_template
    set_default = bool(request.set_default)
    if set_default and not (template or any(a.launch_template for a in config.accounts.values())):
        raise UsageError("--set-default makes the new launch template version the default: add --launch-template")
    deprecate, copy = request.deprecate_after, request.copy_duration
    tags = dict(defaults.tags)
    tags.update(inputs.tag(t) for t in request.tags)
    for key, value in defaults.tags.items():
        inputs.tag(f"{key}={value}")
    return Distribution(
        ssm_parameter=inputs.ssm_parameter(parameter) if parameter else None,
        launch_template=inputs.launch_template(template) if template else None,
        set_default=set_default,
        deprecate_after=inputs.duration(deprecate) if deprecate else None,
        deregistration_protection=bool(request.deregistration_protection),
        tags=tags,
        copy_minutes=inputs.copy_minutes(copy) if copy else None,
    )


def share_distribution(
    ssm_parameter: str | None = None,
    launch_template: str | None = None,
    set_default: bool = False,
    deprecate_after: str | None = None,
    deregistration_protection: bool = False,
    tags: tuple[str, ...] = (),
) -> Distribution:
    """``share``'s distribution flags, validated: the targets' parameter and launch template; the deprecation,
    protection and tags of a re-encrypted copy (time-based copies do not apply: the copy is in-region)."""
    if set_default and not launch_template:
        raise UsageError("--set-default makes the new launch template version the default: add --launch-template")
    return Distribution(
        ssm_parameter=inputs.ssm_parameter(ssm_parameter) if ssm_parameter else None,
        launch_template=inputs.launch_template(launch_template) if launch_template else None,
        set_default=set_default,
        deprecate_after=inputs.duration(deprecate_after) if deprecate_after else None,
        deregistration_protection=deregistration_protection,
        tags=dict(inputs.tag(t) for t in tags),
    )


def _distribution_overrides(destination: Destination) -> None:
    if destination.ssm_parameter:
        inputs.ssm_parameter(destination.ssm_parameter)
    if destination.launch_template:
        inputs.launch_template(destination.launch_template)


KEY_ACCESS = ("auto", "policy", "grant")


def _key_access(value: str | None, grant_autoscaling: bool) -> str:
    if value is None:
        return "auto"
    if value not in KEY_ACCESS:
        raise UsageError(f"--key-access {value!r}: one of {', '.join(KEY_ACCESS)}")
    if value == "grant" and grant_autoscaling:
        raise UsageError(
            "--key-access grant with --grant-autoscaling: the Auto Scaling statement lives in the key policy; "
            "use --key-access auto or policy"
        )
    return value


def _check_notify(email: str | None, sender: str | None, sns: str | None) -> None:
    if bool(email) != bool(sender):
        raise UsageError("--notify-email needs --ses-sender (a verified SES identity), and the other way round")
    for address in (email, sender):
        if address and not inputs.EMAIL.match(address):
            raise UsageError(f"{address!r} is not an email address")
    if sns and not inputs.SNS_ARN.match(sns):
        raise UsageError(f"{sns!r} is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)")


def _targets(config: Config, values: tuple[str, ...]) -> list[tuple[str, Target]]:
    """Each ``--to`` value as a target: an account, or an organization or OU to expand (never public)."""
    found = []
    for value in values:
        target = inputs.target(value, config)
        if target.kind is TargetKind.PUBLIC:
            raise UsageError("--to public: a transfer hands the image to accounts; public is not one")
        found.append((value, target))
    return found


def _excluded(config: Config, values: tuple[str, ...]) -> set[str]:
    out = set()
    for value in values:
        target = inputs.target(value, config)
        if target.kind is not TargetKind.ACCOUNT:
            raise UsageError(f"--exclude {value!r}: name an account (id or config name)")
        out.add(target.value)
    return out


def _destinations(
    config: Config, targets: list[tuple[str, Target]], source: str, excluded: set[str], expand: Expand
) -> tuple[tuple[Destination, ...], tuple[str, ...]]:
    """Each destination once, by account (``--to dev --to <dev's id>`` is one destination); organizations and
    OUs expanded into their active accounts now, minus ``excluded`` and the source; what each expanded to."""
    found: dict[str, Destination] = {}
    notes: list[str] = []
    for value, target in targets:
        if target.kind is TargetKind.ACCOUNT:
            if target.value == source:
                raise PlanRefused(
                    f"--to {value}: account {source} is the source; it already owns the image: remove it from --to"
                )
            if target.value not in excluded:
                found.setdefault(target.value, _destination(config, target.value))
            continue
        active, inactive = expand(target)
        picked = [a for a in active if a not in excluded and a != source]
        for account in picked:
            found.setdefault(account, _destination(config, account))
        left = [f"{len(inactive)} suspended or closing"] * bool(inactive)
        left += [f"{len(set(active) & excluded)} excluded (--exclude)"] * bool(set(active) & excluded)
        left += ["the source"] * (source in active)
        notes.append(
            f"{target.value} expands to {len(picked)} active account(s) now: {', '.join(picked) or 'none'}"
            + (f" (left out: {'; '.join(left)})" if left else "")
        )
    if not found:
        raise UsageError("no destination left: every account named or expanded is the source or excluded")
    return tuple(found.values()), tuple(notes)


def _key_in_regions(ref: str, regions: tuple[str, ...], what: str) -> None:
    named = arn_region(ref)
    elsewhere = [r for r in regions if named is not None and r != named]
    if elsewhere:
        raise UsageError(
            f"{what} {ref} is a key of {named}, but the transfer needs one in {', '.join(elsewhere)}: KMS keys "
            "are regional; give an alias that exists in every region, or a key per region "
            '(keys = { <region> = "..." } under [accounts.NAME], share_keys under [defaults])'
        )


def _party(config: Config, value: str, caller: str | None, what: str, *, role_needed: bool = True) -> Party:
    target = inputs.target(value, config)
    if target.kind is not TargetKind.ACCOUNT:
        raise UsageError(f"{what} {value!r} must be an account (id or name from the config), not {target.kind.value}")
    if (caller is not None and target.value == caller) or not role_needed:
        return Party(target.value, None, target.label)
    role = config.role_in(target.value)
    if role is None:
        raise UsageError(
            f'no role to assume in {what} account {target.value}: set role = "..." under '
            f'[accounts.NAME] (with id = "{target.value}") or role_name under [defaults]'
        )
    return Party(target.value, role, target.label)


def _destination(config: Config, value: str) -> Destination:
    party = _party(config, value, None, "destination")
    named = config.account_by_id(party.account)
    return Destination(
        party.account,
        party.role,
        party.label,
        keys=dict(named.keys) if named else {},
        ssm_parameter=named.ssm_parameter if named else None,
        launch_template=named.launch_template if named else None,
    )
