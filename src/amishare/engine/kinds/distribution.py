"""The kinds that leave a new copy in use in a destination, like EC2 Image Builder's distribution
settings: an SSM parameter naming it, a launch template version naming it, its deprecation date, and
its deregistration protection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from amishare.engine.action import Action, ActionKind
from amishare.engine.permissions import Permission, Resource, permission


@dataclass(frozen=True, kw_only=True)
class PublishParameter(Action):
    """Create or update an SSM parameter of data type aws:ec2:image with the new image's id, then read it back:
    AWS checks the image after the call returns and drops a version naming an image the account cannot use."""

    parameter: str
    image: str
    kind: ClassVar[ActionKind] = ActionKind.PUBLISH_PARAMETER
    symbol: ClassVar[str] = "+"
    needs: ClassVar[tuple[Permission, ...]] = (
        permission("ssm:PutParameter", Resource.PARAMETER),
        permission("ssm:GetParameter", Resource.PARAMETER),
        permission("ec2:DescribeImages"),  # SSM checks the image with the caller's permission (aws:ec2:image)
    )

    def describe(self) -> str:
        return f"SSM parameter {self.parameter} in {self.region} -> the new copy"


@dataclass(frozen=True, kw_only=True)
class UpdateLaunchTemplate(Action):
    """A new version of a launch template naming the new image (from its latest version), made default when
    asked; a version that already names it is not made twice."""

    template: str  # name, or id (lt-...)
    image: str
    set_default: bool = False
    kind: ClassVar[ActionKind] = ActionKind.UPDATE_LAUNCH_TEMPLATE
    symbol: ClassVar[str] = "+"
    needs: ClassVar[tuple[Permission, ...]] = (
        permission("ec2:DescribeLaunchTemplateVersions"),
        permission("ec2:CreateLaunchTemplateVersion", Resource.LAUNCH_TEMPLATE),
        permission("ec2:ModifyLaunchTemplate", Resource.LAUNCH_TEMPLATE),
    )

    def describe(self) -> str:
        default = ", made the default" if self.set_default else ""
        return f"launch template {self.template} in {self.region}: a version with the new copy{default}"


@dataclass(frozen=True, kw_only=True)
class DeprecateImage(Action):
    """Schedule an image's deprecation ``after_seconds`` from when the step runs (an image already deprecated,
    or scheduled, keeps its date)."""

    image: str
    after_seconds: float
    kind: ClassVar[ActionKind] = ActionKind.DEPRECATE_IMAGE
    symbol: ClassVar[str] = "~"
    needs: ClassVar[tuple[Permission, ...]] = (
        permission("ec2:DescribeImages"),
        permission("ec2:EnableImageDeprecation", Resource.IMAGE),
    )

    def describe(self) -> str:
        return f"deprecate the copy in {self.region} after {_duration_text(self.after_seconds)}"


@dataclass(frozen=True, kw_only=True)
class ProtectImage(Action):
    """Turn on an image's deregistration protection (with the 24-hour cooldown when it is turned off again)."""

    image: str
    kind: ClassVar[ActionKind] = ActionKind.PROTECT_IMAGE
    symbol: ClassVar[str] = "~"
    needs: ClassVar[tuple[Permission, ...]] = (permission("ec2:EnableImageDeregistrationProtection", Resource.IMAGE),)

    def describe(self) -> str:
        return f"protect the copy in {self.region} from deregistration"


@dataclass(frozen=True, kw_only=True)
class TagImage(Action):
    """Put tags on an image (CreateTags: a tag already so is unchanged), e.g. amishare's mark of when a copy
    retired, which its retention counts from."""

    image: str
    tags: dict[str, str]
    kind: ClassVar[ActionKind] = ActionKind.TAG_IMAGE
    symbol: ClassVar[str] = "~"
    needs: ClassVar[tuple[Permission, ...]] = (permission("ec2:CreateTags", Resource.IMAGE),)

    def describe(self) -> str:
        return f"tag {self.image} in {self.region}: " + ", ".join(f"{k}={v}" for k, v in sorted(self.tags.items()))


def _duration_text(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    parts = [f"{days}d" * bool(days), f"{hours}h" * bool(hours), f"{rest // 60}m" * bool(rest // 60)]
    return "".join(parts) or f"{int(seconds)}s"
