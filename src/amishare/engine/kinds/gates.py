"""The kinds that open and close the three gates of a share (docs/aws-facts.md section 1): launch
permission on the image, createVolumePermission on its snapshots, and access to its key (amishare's
statements of the key policy, KMS grants); and a transfer's revocation of a destination's gates,
batched across destinations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from amishare.engine.action import Action, ActionKind
from amishare.engine.permissions import Permission, Resource, permission
from amishare.policy.key_policy import NO_ACCESS, KeyAccess

MAX_SNAPSHOT_CHANGES = 500  # docs/aws-facts.md section 4: per ModifySnapshotAttribute call


def _image_name(image: str, label: str = "") -> str:
    """How a plan names an image: its label when the image is still to be made, else its id."""
    return label or image


# -- launch permission
@dataclass(frozen=True, kw_only=True)
class LaunchPermissionChange(Action):
    """Base of the launch permission changes."""

    image: str
    accounts: tuple[str, ...] = ()
    organizations: tuple[str, ...] = ()
    ous: tuple[str, ...] = ()
    public: bool = False
    image_label: str = ""

    needs: ClassVar[tuple[Permission, ...]] = (permission("ec2:ModifyImageAttribute", Resource.IMAGE),)

    def describe(self) -> str:
        return f"launch permission on {_image_name(self.image, self.image_label)} for {self.who()}"

    def who(self) -> str:
        parts = [*self.accounts, *(o.rsplit("/", 1)[-1] for o in (*self.organizations, *self.ous))]
        if len(parts) > 12:
            parts = [f"{len(self.accounts)} account(s)", *parts[len(self.accounts) :]]
        return ", ".join(parts + (["public"] if self.public else []))


@dataclass(frozen=True, kw_only=True)
class ShareImage(LaunchPermissionChange):
    """Launch permission on an image for accounts, organizations, OUs or everyone (ModifyImageAttribute Add)."""

    kind: ClassVar[ActionKind] = ActionKind.SHARE_IMAGE
    symbol: ClassVar[str] = "+"


@dataclass(frozen=True, kw_only=True)
class UnshareImage(LaunchPermissionChange):
    """Take launch permission away (ModifyImageAttribute Remove)."""

    kind: ClassVar[ActionKind] = ActionKind.UNSHARE_IMAGE
    symbol: ClassVar[str] = "-"


# -- snapshot permission
@dataclass(frozen=True)
class SnapshotChange:
    """createVolumePermission changes on one snapshot."""

    snapshot: str
    accounts: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class ShareSnapshots(Action):
    """createVolumePermission for accounts on every snapshot of an image (``changes`` None: an image
    this run makes, whose snapshots are read when the step runs)."""

    image: str
    accounts: tuple[str, ...]
    changes: tuple[SnapshotChange, ...] | None = None
    image_label: str = ""

    kind: ClassVar[ActionKind] = ActionKind.SHARE_SNAPSHOTS
    symbol: ClassVar[str] = "+"
    needs: ClassVar[tuple[Permission, ...]] = (
        permission("ec2:DescribeImages"),
        permission("ec2:ModifySnapshotAttribute", Resource.SNAPSHOT),
    )

    def describe(self) -> str:
        who = ", ".join(self.accounts) if len(self.accounts) <= 12 else f"{len(self.accounts)} account(s)"
        calls = -(-len(self.accounts) // MAX_SNAPSHOT_CHANGES)
        extra = f" ({calls} calls of at most {MAX_SNAPSHOT_CHANGES} per snapshot)" if calls > 1 else ""
        return (
            f"createVolumePermission on the snapshots of {_image_name(self.image, self.image_label)} for {who}{extra}"
        )


@dataclass(frozen=True, kw_only=True)
class UnshareSnapshots(Action):
    """Take createVolumePermission away on the snapshots of an image."""

    image: str
    changes: tuple[SnapshotChange, ...]

    kind: ClassVar[ActionKind] = ActionKind.UNSHARE_SNAPSHOTS
    symbol: ClassVar[str] = "-"
    needs: ClassVar[tuple[Permission, ...]] = (permission("ec2:ModifySnapshotAttribute", Resource.SNAPSHOT),)

    def describe(self) -> str:
        accounts = sorted({a for c in self.changes for a in c.accounts})
        return f"createVolumePermission on the snapshots of {self.image} for {', '.join(accounts)}"


# -- keys
@dataclass(frozen=True, kw_only=True)
class PutKeyPolicy(Action):
    """Add and remove access in amishare's statements of a key policy (other statements never change).

    ``policy`` is the document the plan computed from the policy it observed (``previous``), shown by
    every dry run. The step re-reads the policy and applies the same edit to what it finds, so a change
    made meanwhile by someone else is kept, and a policy that already says this is done."""

    key_arn: str
    add: KeyAccess = NO_ACCESS
    remove: KeyAccess = NO_ACCESS
    policy: str = ""
    previous: str = ""
    key_label: str = ""

    kind: ClassVar[ActionKind] = ActionKind.PUT_KEY_POLICY
    needs: ClassVar[tuple[Permission, ...]] = (
        permission("kms:GetKeyPolicy", Resource.SOURCE_KEY),
        permission("kms:PutKeyPolicy", Resource.SOURCE_KEY),
    )

    def describe(self) -> str:
        parts = []
        if self.add:
            parts.append(f"allow {_access_names(self.add)} through EC2 in {self.region}")
        if self.remove:
            parts.append(f"remove {_access_names(self.remove)}")
        return f"key policy of {self.key_label or self.key_arn}: {'; '.join(parts) or 'no change'}"


def _access_names(access_: KeyAccess) -> str:
    accounts = sorted(access_.accounts | access_.autoscaling)
    shown = ", ".join(accounts) if len(accounts) <= 12 else f"{len(accounts)} account(s)"
    others = sorted(access_.organizations) + [ou for _, ou in sorted(access_.ous)]
    return ", ".join(([shown] if accounts else []) + others)


@dataclass(frozen=True, kw_only=True)
class CreateGrant(Action):
    """A KMS grant on a key (named: KMS answers a retried CreateGrant with the same grant, never a second one)."""

    key_arn: str
    grantee: str
    operations: tuple[str, ...]
    name: str
    key_label: str = ""
    purpose: str = ""
    run_scoped: bool = False  # named for its run (a transfer's grant: revoked by that run alone)

    kind: ClassVar[ActionKind] = ActionKind.CREATE_GRANT
    symbol: ClassVar[str] = "+"
    needs: ClassVar[tuple[Permission, ...]] = (permission("kms:CreateGrant", Resource.SOURCE_KEY),)

    def describe(self) -> str:
        return self.purpose or f"grant on key {self.key_label or self.key_arn} for {self.grantee}"


@dataclass(frozen=True, kw_only=True)
class RevokeGrant(Action):
    """Revoke a grant amishare created on a key (a grant already gone is done)."""

    key_arn: str
    grant_id: str
    grantee: str = ""
    key_label: str = ""

    kind: ClassVar[ActionKind] = ActionKind.REVOKE_GRANT
    symbol: ClassVar[str] = "-"
    needs: ClassVar[tuple[Permission, ...]] = (permission("kms:RevokeGrant", Resource.SOURCE_KEY),)

    def describe(self) -> str:
        return f"grant {self.grant_id} on key {self.key_label or self.key_arn} for {self.grantee}"


# -- a transfer's revocation, batched across destinations
@dataclass(frozen=True, kw_only=True)
class RevokeDestination(Action):
    """Close a destination's gates on the shared source once its copy is done (batched with others).

    Only what the run opened is closed: ``image_access`` (launch and snapshot permission) and
    ``key_arn`` (key access) are unset for access the destination had before the run."""

    image: str
    target: str
    key_arn: str | None = None  # remove the target from amishare's statements of this key's policy
    image_access: bool = True
    label: str = ""
    grant_key_arn: str | None = None  # revoke the grant this run made for the target on this key

    kind: ClassVar[ActionKind] = ActionKind.REVOKE_DESTINATION
    symbol: ClassVar[str] = "-"
    waits: ClassVar[bool] = True
    needs: ClassVar[tuple[Permission, ...]] = (
        permission("ec2:DescribeImages"),
        permission("ec2:ModifyImageAttribute", Resource.IMAGE),
        permission("ec2:ModifySnapshotAttribute", Resource.SNAPSHOT),
        permission("kms:GetKeyPolicy", Resource.SOURCE_KEY),
        permission("kms:PutKeyPolicy", Resource.SOURCE_KEY),
        permission("kms:ListGrants", Resource.SOURCE_KEY),
        permission("kms:RevokeGrant", Resource.SOURCE_KEY),
    )

    def batch(self) -> tuple[str, str, str, str | None, bool, str | None]:
        """Revocations with the same batch are served by the same calls."""
        return (self.account, self.region, self.image, self.key_arn, self.image_access, self.grant_key_arn)

    def describe(self) -> str:
        return f"revoke {self.label or self.target}'s access to the source in {self.region}"
