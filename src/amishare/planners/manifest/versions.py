"""A family's versions from what AWS lists (pure): the newest ``versions`` stay distributed, older ones retire.

From an SSM parameter, its history (each version's value, newest first, an image named twice counted once);
from a name pattern or tags, the source's images that match, newest ``CreationDate`` first; from an id, that
image alone. How each was found is kept (``via``) so the plan can say it:
``ssm:/golden/al2023/latest v14 -> ami-...``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from amishare.planners.manifest.desired import Resolution, Version
from amishare.planners.manifest.model import ById, BySsmParameter, ImageFamily


@dataclass(frozen=True)
class ParameterVersion:
    """One version of an SSM parameter: its number and the image it named."""

    version: int
    value: str


@dataclass(frozen=True)
class Candidate:
    """An image of the source that matches a family's ``name`` or ``tags`` (``state`` as DescribeImages says)."""

    image_id: str
    created: str
    state: str = "available"


def _ordinal(rank: int) -> str:
    return "newest" if rank == 0 else f"{rank + 1}{ {1: 'nd', 2: 'rd'}.get(rank, 'th') } newest"


def from_parameter(family: ImageFamily, history: Iterable[ParameterVersion]) -> Resolution:
    """The family's versions from its parameter's history: newest version first, each image once."""
    assert isinstance(family.select, BySsmParameter)
    seen: dict[str, Version] = {}
    for entry in sorted(history, key=lambda h: -h.version):
        if entry.value.startswith("ami-") and entry.value not in seen:
            seen[entry.value] = Version(entry.value, f"ssm:{family.select.name} v{entry.version}")
    found = tuple(seen.values())
    return Resolution(family.family, found[: family.versions], found[family.versions :])


def from_images(family: ImageFamily, images: Iterable[Candidate]) -> Resolution:
    """The family's versions from the source's matching images: available ones, newest first (``id``: that one)."""
    if isinstance(family.select, ById):
        listed = [i for i in images if i.image_id == family.select.image_id and i.state == "available"]
        return Resolution(family.family, tuple(Version(i.image_id, i.image_id, i.created) for i in listed[:1]))
    usable = sorted((i for i in images if i.state == "available"), key=lambda i: (i.created, i.image_id), reverse=True)
    base = family.select.describe().removesuffix(" (newest)")
    found = tuple(Version(i.image_id, f"{base} ({_ordinal(rank)})", i.created) for rank, i in enumerate(usable))
    return Resolution(family.family, found[: family.versions], found[family.versions :])
