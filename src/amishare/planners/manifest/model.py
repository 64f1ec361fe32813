"""The manifest of desired state as data: which image families go to which targets, in which regions, how.

Frozen values built by ``load.py`` once every key is valid and every reference (a target group, an
``[accounts.NAME]`` of amishare.toml) resolved; nothing here reads AWS. OU and organization targets stay
ARNs: their members are looked up when a plan is made, not when a manifest is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from amishare.model import Distribution, Target, duration_seconds

MANIFEST_SCHEMA = "amishare.manifest/1"
VERSION = 1  # the only ``version`` this amishare reads


class Mode(StrEnum):
    """How a distribution reaches its targets."""

    SHARE = "share"  # the three gates opened on the source's image (its own regional copy where needed)
    TRANSFER = "transfer"  # each target owns a copy under its own key


@dataclass(frozen=True)
class BySsmParameter:
    """``select = { ssm_parameter = NAME }``: the image the parameter names (an ``aws:ec2:image`` parameter)."""

    name: str

    def describe(self) -> str:
        """How the selection reads in a summary: ``ssm:/golden/al2023/latest``."""
        return f"ssm:{self.name}"


@dataclass(frozen=True)
class ByName:
    """``select = { name = GLOB }``: the newest image of the source whose name matches (``*`` and ``?``)."""

    pattern: str

    def describe(self) -> str:
        """How the selection reads in a summary: ``name:golden-al2023-* (newest)``."""
        return f"name:{self.pattern} (newest)"


@dataclass(frozen=True)
class ByTags:
    """``select = { tags = { KEY = VALUE, ... } }``: the newest image of the source carrying every tag."""

    tags: dict[str, str]

    def describe(self) -> str:
        """How the selection reads in a summary: ``tags:os=al2023 (newest)``."""
        return "tags:" + ",".join(f"{k}={v}" for k, v in self.tags.items()) + " (newest)"


@dataclass(frozen=True)
class ById:
    """``select = { id = "ami-..." }``: that image and no other."""

    image_id: str

    def describe(self) -> str:
        """How the selection reads in a summary: the image id."""
        return self.image_id


Select = BySsmParameter | ByName | ByTags | ById
"""How an image family finds its versions: exactly one way."""


@dataclass(frozen=True)
class TargetGroup:
    """A named group of ``[targets]``: accounts, OUs and organizations (expanded on every plan), less ``exclude``."""

    name: str
    accounts: tuple[Target, ...] = ()  # each an account (its config name as label, when it has one)
    ous: tuple[Target, ...] = ()
    organizations: tuple[Target, ...] = ()
    exclude: tuple[Target, ...] = ()  # accounts left out of the OUs and organizations

    @property
    def members(self) -> tuple[Target, ...]:
        """Every account, OU and organization the group names, in that order (``exclude`` not applied)."""
        return (*self.accounts, *self.ous, *self.organizations)


@dataclass(frozen=True)
class TargetRef:
    """One entry of a distribution's ``to``: a ``[targets]`` group by name, or an account, OU or organization."""

    written: str  # as the manifest spells it
    group: str | None = None  # the [targets] group it names
    target: Target | None = None  # otherwise: the account (by config name or id), OU or organization

    def __str__(self) -> str:
        return self.written if self.group is not None or self.target is None else str(self.target)


@dataclass(frozen=True)
class LaunchTemplate:
    """``launch_template = { name = NAME, set_default = BOOL }``: the template each target gets a version of."""

    name: str  # a launch template name or id (lt-...)
    set_default: bool = False  # the new version becomes the template's default


@dataclass(frozen=True)
class DistributionSpec:
    """One ``[[image.distribute]]``: to whom, how, where, and what it leaves in each target account."""

    to: tuple[TargetRef, ...]
    mode: Mode
    regions: tuple[str, ...]  # its own regions, else [defaults] regions
    ssm_parameter: str | None = None
    launch_template: LaunchTemplate | None = None
    deprecate_after: str | None = None  # a duration (e.g. "180d") after which each copy is deprecated
    tags: dict[str, str] = field(default_factory=dict)

    def settings(self) -> Distribution:
        """What it leaves in each account, as the share and transfer planners take it."""
        template = self.launch_template
        return Distribution(
            ssm_parameter=self.ssm_parameter,
            launch_template=template.name if template else None,
            set_default=bool(template and template.set_default),
            deprecate_after=duration_seconds(self.deprecate_after) if self.deprecate_after else None,
            tags=dict(self.tags),
        )


@dataclass(frozen=True)
class ImageFamily:
    """One ``[[image]]``: a stable family name, how its versions are found, how many stay, and where they go."""

    family: str
    select: Select
    versions: int
    distribute: tuple[DistributionSpec, ...]


@dataclass(frozen=True)
class Retention:
    """``[retention]``: what becomes of what amishare distributed and no longer needs (durations, or None)."""

    deprecate_after: str | None = None
    deregister_after: str | None = None


DEFAULT_MAX_REMOVALS = 25


@dataclass(frozen=True)
class Safety:
    """``[safety]``: removals are planned and shown, applied only with ``prune`` (or ``--allow-destroy``), and a
    plan removing more access than ``max_removals`` is refused before any call."""

    prune: bool = False
    max_removals: int = DEFAULT_MAX_REMOVALS


@dataclass(frozen=True)
class Defaults:
    """``[defaults]``: the source account of every family (None: the account of amishare's credentials) and the
    regions of every distribution that names none."""

    source: Target | None = None
    regions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manifest:
    """A whole manifest (schema ``amishare.manifest/1``), validated and with its references resolved."""

    path: str
    defaults: Defaults
    targets: dict[str, TargetGroup]
    images: tuple[ImageFamily, ...]
    retention: Retention = Retention()
    safety: Safety = Safety()
    version: int = VERSION

    @property
    def distributions(self) -> tuple[DistributionSpec, ...]:
        """Every distribution of every family, in file order."""
        return tuple(d for image in self.images for d in image.distribute)

    @property
    def regions(self) -> tuple[str, ...]:
        """Every region some distribution reaches, in first-mention order."""
        return tuple(dict.fromkeys(r for d in self.distributions for r in d.regions))

    def named_targets(self) -> tuple[Target, ...]:
        """Every account, OU and organization the distributions name, groups opened (OUs and organizations not
        expanded: that takes AWS), each once, in first-mention order."""
        found: dict[Target, None] = {}
        for distribution in self.distributions:
            for ref in distribution.to:
                group = self.targets.get(ref.group) if ref.group is not None else None
                found.update(dict.fromkeys(group.members if group else (ref.target,) if ref.target else ()))
        return tuple(found)
