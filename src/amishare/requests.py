"""What a user asks of a transfer (``TransferRequest``), and its resolution into a ``TransferSpec``.

Resolution is pure: the config's ``[transfer]`` defaults fill what the request leaves unset, every
value is validated (errors name the value and the fix), names become accounts with the roles to
assume in them. The caller's account is asked for (``identify``) only once everything is valid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from amishare import inputs
from amishare.config import Config
from amishare.errors import UsageError
from amishare.model import TargetKind
from amishare.transfer import Destination, Party, TransferSpec

DEFAULT_TIMEOUT = 24 * 3600.0


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


def _flag(value: bool | None, default: bool) -> bool:
    return default if value is None else value


def resolve_transfer(
    config: Config,
    request: TransferRequest,
    identify: Callable[[tuple[str, ...]], str],
    region: str,
    known_regions: Iterable[str],
) -> TransferSpec:
    """The transfer ``request`` asks for, with the config's defaults, validated (``UsageError``).

    ``identify(regions)`` returns the caller's account; it is called after every check passed, with the
    regions the transfer reads in (the image's first), so that their clients can be built meanwhile."""
    defaults = config.transfer
    inputs.image_id(request.image)
    source = request.source or defaults.source
    if not source:
        raise UsageError("no source account: pass --from ACCOUNT or set source under [transfer]")
    known = list(known_regions)
    wanted = tuple(dict.fromkeys(inputs.region(r, known) for r in (request.regions or defaults.regions)))
    dest_key = request.dest_key or defaults.dest_key
    if dest_key:
        inputs.key_ref(dest_key, "destination key")
    keep_share = _flag(request.keep_share, defaults.keep_share)
    grant_autoscaling = _flag(request.grant_autoscaling, defaults.grant_autoscaling)
    if grant_autoscaling and not keep_share:
        raise UsageError(
            "--grant-autoscaling is for live shares: add --keep-share (Auto Scaling launches from the "
            "shared image, which a transfer otherwise revokes)"
        )
    notify_email = request.notify_email or defaults.notify_email
    ses_sender = request.ses_sender or defaults.ses_sender
    notify_sns = request.notify_sns or defaults.notify_sns
    _check_notify(notify_email, ses_sender, notify_sns)
    timeout = inputs.duration(defaults.timeout) if request.timeout is None else request.timeout
    if timeout <= 0:
        raise UsageError(f"--timeout {timeout}: must be positive")
    if not request.destinations:
        raise UsageError("no destination: name at least one with --to")
    for value in (source, *request.destinations):  # validate every name before any call
        inputs.target(value, config)
    regions = wanted or (region,)
    caller = identify(tuple(dict.fromkeys((region, *regions))))
    return TransferSpec(
        source=_party(config, source, caller, "source"),
        destinations=tuple(_destination(config, value) for value in dict.fromkeys(request.destinations)),
        regions=regions,
        dest_key=dest_key,
        allow_default_key=_flag(request.allow_default_key, defaults.allow_default_key),
        keep_share=keep_share,
        keep_staging=_flag(request.keep_staging, defaults.keep_staging),
        grant_autoscaling=grant_autoscaling,
        timeout=timeout,
        notify_email=notify_email,
        ses_sender=ses_sender,
        notify_sns=notify_sns,
    )


def _check_notify(email: str | None, sender: str | None, sns: str | None) -> None:
    if bool(email) != bool(sender):
        raise UsageError("--notify-email needs --ses-sender (a verified SES identity), and the other way round")
    for address in (email, sender):
        if address and not inputs.EMAIL.match(address):
            raise UsageError(f"{address!r} is not an email address")
    if sns and not inputs.SNS_ARN.match(sns):
        raise UsageError(f"{sns!r} is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)")


def _party(config: Config, value: str, caller: str | None, what: str) -> Party:
    target = inputs.target(value, config)
    if target.kind is not TargetKind.ACCOUNT:
        raise UsageError(f"{what} {value!r} must be an account (id or name from the config), not {target.kind.value}")
    if caller is not None and target.value == caller:
        return Party(target.value, None, None, target.label)
    named = config.account_by_id(target.value)
    default_role = config.defaults.role_name
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


def _destination(config: Config, value: str) -> Destination:
    party = _party(config, value, None, "destination")
    named = config.account_by_id(party.account)
    return Destination(
        party.account, party.role_arn, party.external_id, party.label, keys=dict(named.keys) if named else {}
    )
