"""The kinds that make images and wait for them: the three copies (a share's re-encrypted copy, a
transfer's staging copy, a destination's own copy), the wait until a copy is available, and the
deletion of a staging copy once the destinations have theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from amishare.engine.action import Action, ActionKind
from amishare.engine.permissions import Permission, Resource, permission
from amishare.policy import access


def _copy_permissions(target_key: Resource) -> tuple[Permission, ...]:
    """CopyImage: the call (authorized against the source image and snapshots as well as the new ones,
    docs/aws-facts.md section 3), its tags, and the key the copy is encrypted with, through EC2."""
    return (
        permission("ec2:CopyImage", Resource.IMAGE, Resource.SNAPSHOT),
        permission("ec2:DescribeImages"),  # a name in use: is that image already this copy (another run's)?
        permission("ec2:DeregisterImage", Resource.IMAGE),  # ... or this run's failed copy, in the way of a new attempt
        Permission(
            "ec2:CreateTags",
            (Resource.IMAGE, Resource.SNAPSHOT),
            None,
            (("StringEquals", "ec2:CreateAction", "CopyImage"),),
        ),
        *(permission(a, target_key, via_ec2=True) for a in access.COPY_KEY_ACTIONS),
    )


@dataclass(frozen=True, kw_only=True)
class CopyImage(Action):
    """Base of the three copies: the CopyImage call and its parameters."""

    source_image: str
    source_region: str
    name: str
    description: str
    kms_key: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    key_label: str = ""  # how to name the key for humans (an alias), when known
    completion_minutes: int | None = None  # a time-based copy: SnapshotCopyCompletionDurationMinutes

    symbol: ClassVar[str] = "+"


@dataclass(frozen=True, kw_only=True)
class ReEncryptImage(CopyImage):
    """Copy an image on aws/ebs in its own region, re-encrypted with the share key."""

    source_name: str = ""
    kind: ClassVar[ActionKind] = ActionKind.REENCRYPT_IMAGE
    needs: ClassVar[tuple[Permission, ...]] = _copy_permissions(Resource.SOURCE_KEY)

    def describe(self) -> str:
        named = f" ({self.source_name})" if self.source_name else ""
        return f"copy {self.source_image}{named} re-encrypted with {self.key_label or self.kms_key}"


@dataclass(frozen=True, kw_only=True)
class StageImage(CopyImage):
    """Copy the source image into a region under that region's share key (a transfer's staging copy)."""

    kind: ClassVar[ActionKind] = ActionKind.STAGE_IMAGE
    needs: ClassVar[tuple[Permission, ...]] = _copy_permissions(Resource.SOURCE_KEY)

    def describe(self) -> str:
        return (
            f"stage {self.tags.get('amishare:source-image', self.source_image)} in {self.region}, encrypted with "
            + (self.key_label or str(self.kms_key))
        )


@dataclass(frozen=True, kw_only=True)
class CopyToDestination(CopyImage):
    """A destination copies the shared image into its own account with its own key."""

    label: str = ""  # the destination's name in the config
    kind: ClassVar[ActionKind] = ActionKind.COPY_TO_DESTINATION
    needs: ClassVar[tuple[Permission, ...]] = (
        *_copy_permissions(Resource.DESTINATION_KEY),
        # EC2 uses the SOURCE key on the destination's behalf: cross-account, its IAM policy must allow it too.
        *(permission(a, Resource.SOURCE_KEY, via_ec2=True) for a in access.SOURCE_KEY_ACTIONS),
    )

    def describe(self) -> str:
        return f"{self.label or self.account} copies it in {self.region} with {self.kms_key or 'its default EBS key'}"


@dataclass(frozen=True, kw_only=True)
class AwaitImage(Action):
    """Wait until an image is available (batched: one DescribeImages per account and region per tick)."""

    image: str
    timeout: float = 24 * 3600
    expected: str | float | None = None  # how long it should take ("@<wait>#seconds": as long as that wait)
    started: str | float | None = None  # when the copy started, in epoch seconds ("@<copy>#started_at")
    label: str = ""  # what is waited for, for humans
    made_by: str = ""  # the action that made the image (a copy): done again when the copy is refused its key ...
    key_access_window: float = 0.0  # ... within this many seconds of its start (its key access a fresh grant)

    kind: ClassVar[ActionKind] = ActionKind.AWAIT_IMAGE
    symbol: ClassVar[str] = "…"
    waits: ClassVar[bool] = True
    # DescribeSnapshots: a copy's progress while someone watches it (amishare's progress display; skipped if refused)
    needs: ClassVar[tuple[Permission, ...]] = (permission("ec2:DescribeImages"), permission("ec2:DescribeSnapshots"))

    def describe(self) -> str:
        return f"wait for {self.label or self.image}"


@dataclass(frozen=True, kw_only=True)
class DeleteStaging(Action):
    """Deregister a staging copy this run made, with its snapshots (its tags must prove it)."""

    image: str
    kind: ClassVar[ActionKind] = ActionKind.DELETE_STAGING
    symbol: ClassVar[str] = "-"
    needs: ClassVar[tuple[Permission, ...]] = (
        permission("ec2:DescribeImages"),
        permission("ec2:DeregisterImage", Resource.IMAGE),
        permission("ec2:DeleteSnapshot", Resource.SNAPSHOT),
    )

    def describe(self) -> str:
        return f"delete the staging copy in {self.region} and its snapshots"
