"""What a user asks of each command, as one frozen value (``ShareRequest``, ``AuditRequest`` ...), and the
callbacks a run reports to (``Hooks``).

A request holds what the user said; fields left ``None`` take their value from the settings and the
config (``amishare.config.with_defaults``), then from amishare's defaults. ``TransferRequest`` lives with
its resolution in ``amishare.planners.transfer_request``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from amishare.aws.steps.poller import Poll
from amishare.engine.executor import Event
from amishare.engine.plan import Plan
from amishare.model import Distribution

Confirm = Callable[[Plan], bool]


@dataclass(frozen=True)
class Hooks:
    """Who is told what while a plan runs: ``confirm`` is asked before the first change (False: nothing
    happens); ``on_event`` hears every action's progress; ``on_poll`` every image poll; ``progress`` asks
    for the snapshots' copy percentages as well (one more read per poll)."""

    confirm: Confirm | None = None
    on_event: Event | None = None
    on_poll: Poll | None = None
    progress: bool = False


NO_HOOKS = Hooks()


@dataclass(frozen=True)
class ShareRequest:
    """``amishare share``: open the three gates of ``image`` for ``targets`` (accounts, organizations, OUs,
    ``public``); an aws/ebs image is re-encrypted with ``reencrypt_key`` (default: the share key) first."""

    image: str
    targets: tuple[str, ...]
    region: str | None = None
    key_access: str | None = None  # policy | grant (default: the settings')
    reencrypt_key: str | None = None
    allow_public: bool = False
    distribution: Distribution | None = None  # what the share leaves in the targets (docs/concepts.md)


@dataclass(frozen=True)
class RevokeRequest:
    """``amishare revoke``: close the three gates of ``image`` for ``targets`` only."""

    image: str
    targets: tuple[str, ...]
    region: str | None = None


@dataclass(frozen=True)
class ShowRequest:
    """``amishare show``: the three gates of ``image`` for ``targets`` (default: everyone it is shared with)."""

    image: str
    targets: tuple[str, ...] = ()
    region: str | None = None
    share_key: str | None = None  # to find the image's re-encrypted copy (default: the config's)


@dataclass(frozen=True)
class VerifyRequest:
    """``amishare verify``: the images by id, or every image of the caller's tagged ``tag`` (KEY=VALUE);
    encrypted with ``key`` when given, never with aws/ebs when ``shareable``."""

    images: tuple[str, ...] = ()
    tag: str | None = None
    key: str | None = None
    shareable: bool = False
    region: str | None = None


@dataclass(frozen=True)
class DoctorRequest:
    """``amishare doctor``: why ``account`` can or cannot use ``image``; ``probe`` tries the target's launch
    and copy as dry runs through its role."""

    image: str
    account: str
    region: str | None = None
    dest_key: str | None = None
    probe: bool = False


@dataclass(frozen=True)
class AuditRequest:
    """``amishare audit``: the caller's account, ``accounts`` (ids or config names) or the whole ``org``;
    in ``regions`` (default: the settings' region) or ``all_regions``; ``allow`` lists the accounts,
    organizations and OUs a share may name without a finding."""

    accounts: tuple[str, ...] = ()
    org: bool = False
    regions: tuple[str, ...] = ()
    all_regions: bool = False
    allow: tuple[str, ...] = ()


@dataclass(frozen=True)
class CleanupRequest:
    """``amishare cleanup``: which images, what to do with them, and what keeps them (docs/cleanup.md)."""

    action: str  # deprecate | disable | deregister
    name: str | None = None
    tag: str | None = None  # KEY=VALUE
    older_than: str | None = None  # a duration
    keep_last: int | None = None  # the N newest of each family kept; older_than or keep_last is required
    unused_for: str | None = None  # a duration
    include_shared: bool = False
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
