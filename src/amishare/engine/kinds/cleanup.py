"""The kinds that retire an image in its owner's account: disable it, then deregister it with its snapshots."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from amishare.engine.action import Action, ActionKind
from amishare.engine.permissions import Permission, Resource, permission


@dataclass(frozen=True, kw_only=True)
class DisableImage(Action):
    """Disable an image (DisableImage also removes every launch permission; an image already disabled is done)."""

    image: str
    kind: ClassVar[ActionKind] = ActionKind.DISABLE_IMAGE
    symbol: ClassVar[str] = "-"
    needs: ClassVar[tuple[Permission, ...]] = (
        permission("ec2:DescribeImages"),
        permission("ec2:DisableImage", Resource.IMAGE),
    )

    def describe(self) -> str:
        return f"disable {self.image} in {self.region}"


@dataclass(frozen=True, kw_only=True)
class DeregisterImage(Action):
    """Deregister an image with its snapshots (DeleteAssociatedSnapshots: AWS keeps one another image uses), after
    checking it is still there and unprotected (an image already gone is done)."""

    image: str
    snapshots: tuple[str, ...] = ()  # expected deleted
    kept_snapshots: tuple[str, ...] = ()  # another image uses them
    kind: ClassVar[ActionKind] = ActionKind.DEREGISTER_IMAGE
    symbol: ClassVar[str] = "-"
    needs: ClassVar[tuple[Permission, ...]] = (
        permission("ec2:DescribeImages"),
        permission("ec2:DeregisterImage", Resource.IMAGE),
        permission("ec2:DeleteSnapshot", Resource.SNAPSHOT),
    )

    def describe(self) -> str:
        kept = f" (keeping {', '.join(self.kept_snapshots)}: another image uses them)" if self.kept_snapshots else ""
        return f"deregister {self.image} in {self.region} with its snapshots {', '.join(self.snapshots) or '-'}{kept}"
