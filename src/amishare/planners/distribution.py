"""What a share or a transfer leaves behind in an account (pure; docs/concepts.md): the SSM parameter and launch
template pointed at the image, and the deprecation and deregistration protection of a copy amishare makes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amishare.engine.action import Action
from amishare.engine.kinds.distribution import DeprecateImage, ProtectImage, PublishParameter, UpdateLaunchTemplate
from amishare.model import Distribution


@dataclass(frozen=True)
class Pointing:
    """What an account's SSM parameter and launch template name now (None: nothing, or not read)."""

    parameter_image: str | None = None
    template_image: str | None = None  # None too when the template's latest version is not its default as asked


def pointer_actions(
    dist: Distribution, parameter: str | None, template: str | None, image: str, scope: str, where: dict[str, Any]
) -> list[Action]:
    """An account's SSM parameter and launch template version pointed at ``image`` (keys named for ``scope``;
    ``where``: account, region, role, actor, dependencies)."""
    made: list[Action] = []
    if parameter:
        made.append(PublishParameter(key=f"parameter:{scope}", parameter=parameter, image=image, **where))
    if template:
        made.append(
            UpdateLaunchTemplate(
                key=f"template:{scope}", template=template, image=image, set_default=dist.set_default, **where
            )
        )
    return made


def copy_settings(dist: Distribution, image: str, scope: str, where: dict[str, Any]) -> list[Action]:
    """The deprecation and deregistration protection of a copy amishare makes (never of a user's own image)."""
    made: list[Action] = []
    if dist.deprecate_after:
        made.append(DeprecateImage(key=f"deprecate:{scope}", image=image, after_seconds=dist.deprecate_after, **where))
    if dist.deregistration_protection:
        made.append(ProtectImage(key=f"protect:{scope}", image=image, **where))
    return made
