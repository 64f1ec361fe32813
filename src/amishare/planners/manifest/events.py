"""Which of a manifest's families an event concerns (pure): the serverless engine starts a run for those only.

- ``Parameter Store Change`` of parameter ``P``: the families whose ``select.ssm_parameter`` is ``P``.
- ``EC2 AMI State Change`` to ``available`` of an image: the families that would select it by its name (``name``
  glob), its tags (every one of ``tags``) or its id. A family selected by an SSM parameter is left to that
  parameter's own event: the image becomes its version when the parameter names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from amishare.planners.manifest.model import ById, ByName, BySsmParameter, ByTags, Manifest


@dataclass(frozen=True)
class EventImage:
    """What an AMI event's image is, as the source sees it."""

    image_id: str
    name: str = ""
    tags: dict[str, str] = field(default_factory=dict)


def families_for_parameter(manifest: Manifest, parameter: str) -> tuple[str, ...]:
    """The families ``parameter`` selects the versions of."""
    return tuple(
        f.family for f in manifest.images if isinstance(f.select, BySsmParameter) and f.select.name == parameter
    )


def families_for_image(manifest: Manifest, image: EventImage) -> tuple[str, ...]:
    """The families that would select ``image`` by its name, its tags or its id."""
    found = []
    for family in manifest.images:
        select = family.select
        if (
            (isinstance(select, ByName) and fnmatchcase(image.name, select.pattern))
            or (isinstance(select, ByTags) and all(image.tags.get(k) == v for k, v in select.tags.items()))
            or (isinstance(select, ById) and select.image_id == image.image_id)
        ):
            found.append(family.family)
    return tuple(found)
