"""The reading commands: ``verify``, ``shared_with_me``, ``doctor`` and ``audit``. Each observes (read-only)
and hands the facts to its pure check in ``amishare.checks``."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from amishare import inputs
from amishare.api.accounts import enabled_regions, organization, party
from amishare.api.context import Settings
from amishare.api.requests import AuditRequest, DoctorRequest, VerifyRequest
from amishare.aws.reads.doctor import DoctorTarget, observe_doctor
from amishare.aws.reads.estate import Progress, observe_estate
from amishare.aws.reads.image import observe_images
from amishare.aws.reads.shared_with_me import observe_shared_with_me
from amishare.aws.session import known_regions
from amishare.checks import audit as auditing
from amishare.checks import doctor as diagnosis
from amishare.checks import shared_with_me as consumer_view
from amishare.checks import verify as verification
from amishare.config import ALLOW_FORMS, allowed_principal, with_defaults
from amishare.engine.executor import now_utc
from amishare.errors import UsageError


def verify(settings: Settings, request: VerifyRequest) -> list[verification.Verification]:
    """Check the encryption of images (by id, or every image of the caller's with ``tag`` K=V): every volume
    EBS-backed and encrypted, with ``key`` when given, never aws/ebs when ``shareable``. Read-only."""
    for image_id in request.images:
        inputs.image_id(image_id)
    if bool(request.images) == bool(request.tag):
        raise UsageError("name the images to verify (IMAGE ...) or --all --tag KEY=VALUE, not both")
    wanted = None
    if request.tag is not None:
        name, sep, value = request.tag.partition("=")
        if not sep or not name:
            raise UsageError(f"--tag {request.tag!r}: write it as KEY=VALUE, e.g. --tag role=golden")
        wanted = (name, value)
    if request.key:
        inputs.key_ref(request.key, "expected key")
    where = settings.region(request.region)
    images, keys, expected = observe_images(
        settings.sessions(), where, tuple(request.images), wanted, expected_key=request.key
    )
    share_key = settings.config.defaults.share_key_for(where)  # what the fixes encrypt with when --key is not given
    return [
        verification.verify(i, keys, expected=expected, shareable=request.shareable, share_key=share_key)
        for i in images
    ]


def shared_with_me(settings: Settings, *, region: str | None = None) -> tuple[str, list[consumer_view.SharedImage]]:
    """The images shared with the caller's account in the region, and whether it can launch and copy each;
    with the account's Allowed AMIs state (``enabled``: images its criteria do not allow are hidden)."""
    where = settings.region(region)
    states, images = shared_with_me_in(settings, [where])
    return states[where], images


def shared_with_me_in(
    settings: Settings, regions: Sequence[str]
) -> tuple[dict[str, str], list[consumer_view.SharedImage]]:
    """``shared_with_me`` in each of ``regions`` (read concurrently; default: the settings' region): the
    Allowed AMIs state of each region, and the images, by region, owner and name."""
    wanted = list(dict.fromkeys(settings.region(r) for r in regions)) or [settings.region()]
    sessions = settings.sessions()
    with ThreadPoolExecutor(max_workers=min(8, len(wanted)), thread_name_prefix="amishare-shared") as pool:
        reads = list(pool.map(lambda region: observe_shared_with_me(sessions, region), wanted))
    now = now_utc()
    images = [consumer_view.judge(f, now, state) for state, facts in reads for f in facts]
    order = {region: n for n, region in enumerate(wanted)}
    images.sort(key=lambda s: (order[s.facts.region], s.facts.owner, s.facts.name))
    return {region: state for region, (state, _) in zip(wanted, reads, strict=True)}, images


def doctor(settings: Settings, request: DoctorRequest) -> diagnosis.Diagnosis:
    """Why an account can or cannot see, launch, copy and Auto Scaling-launch an image: the owner's view,
    and the target's through its configured role when the config names one. Read-only: with ``probe``, the
    target's launch and copy are tried as dry runs through its role (what its SCPs allow)."""
    inputs.image_id(request.image)
    target = inputs.target(request.account, settings.config)
    if target.kind.value != "account":
        raise UsageError(
            f"--account {request.account!r}: doctor diagnoses one account (an id or a config name), not {target}"
        )
    if request.dest_key:
        inputs.key_ref(request.dest_key, "destination key")
    where = settings.region(request.region)
    named = settings.config.account_by_id(target.value)
    role = settings.config.role_in(target.value)
    key = request.dest_key or (named.keys.get(where) if named else None) or settings.config.transfer.dest_key
    facts = observe_doctor(
        settings.sessions(), request.image, where, DoctorTarget(target.value, role, key, request.probe)
    )
    return diagnosis.diagnose(replace(facts, share_key=settings.config.defaults.share_key_for(where)), now_utc())


def audit(settings: Settings, request: AuditRequest, *, on_progress: Progress | None = None) -> auditing.AuditReport:
    """Every image the audited accounts own in the regions, who can use it through each of the three gates,
    and the findings (docs/audit.md). Accounts: the caller's alone, ``accounts`` (ids or config names, read
    through their configured roles) or every active account of the caller's organization (``org``).
    Read-only."""
    if request.accounts and request.org:
        raise UsageError("--accounts or --org, not both")
    if request.regions and request.all_regions:
        raise UsageError("--regions or --all-regions, not both")
    where = [inputs.region(r, known_regions()) for r in request.regions] or (
        [] if request.all_regions else [settings.connection.region]
    )
    request = with_defaults(request, settings.config.audit)
    allowlist = _allowlist(settings, request.allow)  # checks --allow before any AWS call
    sessions = settings.sessions()
    caller = sessions.caller_account()
    members, own_org = organization(sessions)
    wanted = list(request.accounts) if request.accounts else (sorted(members or ()) if request.org else [caller])
    if request.org and members is None:
        raise UsageError("--org needs the organization's management account (or a delegated administrator)")
    parties = [party(settings, value, caller) for value in dict.fromkeys(wanted)]
    if request.all_regions:
        where = enabled_regions(sessions)
    reads = observe_estate(sessions, parties, where, on_progress)
    return auditing.audit(reads, replace(allowlist, own_org=own_org, members=members))


def _allowlist(settings: Settings, values: Sequence[str]) -> auditing.Allowlist:
    """The allowlist ``--allow`` (or else ``[audit] allow``) names; an account named in the config's
    ``[accounts.NAME]`` is not allowed for that alone (naming an account is not trusting it)."""
    found: dict[str, set[str]] = {"account": set(), "organization": set(), "ou": set()}
    for value in values:
        named = allowed_principal(value, settings.config.accounts)
        if named is None:
            names = ", ".join(sorted(settings.config.accounts)) or "none"
            raise UsageError(f"--allow {value!r}: give {ALLOW_FORMS} (config names: {names})")
        found[named[0]].add(named[1])
    return auditing.Allowlist(frozenset(found["account"]), frozenset(found["organization"]), frozenset(found["ou"]))
