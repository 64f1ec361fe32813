"""Action kinds: each kind of step amishare can take is one frozen, typed class (pure data).

A kind declares, in one place: its typed fields, ``describe()`` for humans, its ``symbol`` in the
plan view (``+`` opens or creates, ``-`` closes or deletes, ``~`` edits, ``…`` waits), whether it
``waits`` (on copies or on a batch), and the IAM permissions it needs as data: which principal
calls (``Principal``) on which resources (``Resource`` ARN patterns), under which conditions. IAM
policies, docs/iam.md and the permissions test derive from these declarations; the AWS handler of
each kind is registered in ``amishare.aws.handlers``.

An action's ``key`` names it in the journal, in log lines and (hashed) as a ClientToken; it depends
only on what the action does, so re-planning the same change gives the same keys. A field whose
value is ``"@<action key>"`` stands for the image that action produces (``"@<key>#<output>"`` for
another of its outputs) and is resolved by the executor (``Action.resolved``).

Plans are data: ``Plan.to_dict`` / ``Plan.from_dict`` give the versioned JSON document the journal
stores and ``resume`` replays (docs/output.md, ``amishare.plan/1``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from amishare.model import Target, TargetKind
from amishare.policy import access
from amishare.policy.key_policy import NO_ACCESS, KeyAccess


class ActionKind(StrEnum):
    """The names of the action kinds (stable: they appear in plans, journals and JSON)."""

    REENCRYPT_IMAGE = "ReEncryptImage"
    AWAIT_IMAGE = "AwaitImage"
    PUT_KEY_POLICY = "PutKeyPolicy"
    CREATE_GRANT = "CreateGrant"
    REVOKE_GRANT = "RevokeGrant"
    SHARE_SNAPSHOTS = "ShareSnapshots"
    UNSHARE_SNAPSHOTS = "UnshareSnapshots"
    SHARE_IMAGE = "ShareImage"
    UNSHARE_IMAGE = "UnshareImage"
    STAGE_IMAGE = "StageImage"
    COPY_TO_DESTINATION = "CopyToDestination"
    REVOKE_DESTINATION = "RevokeDestination"
    DELETE_STAGING = "DeleteStaging"
    PUBLISH_PARAMETER = "PublishParameter"
    UPDATE_LAUNCH_TEMPLATE = "UpdateLaunchTemplate"
    DEPRECATE_IMAGE = "DeprecateImage"
    PROTECT_IMAGE = "ProtectImage"
    DISABLE_IMAGE = "DisableImage"
    DEREGISTER_IMAGE = "DeregisterImage"


# ----------------------------------------------------------------------------- permissions
class Principal(StrEnum):
    """Who makes a call.

    ``caller``: the credentials amishare runs with (it assumes the roles); ``source``: the image
    owner (the caller, or the source role a transfer names); ``destination``: a destination
    account's role; ``auditor``: a read-only role of an account amishare inspects.
    """

    CALLER = "caller"
    SOURCE = "source"
    DESTINATION = "destination"
    AUDITOR = "auditor"


class Resource(StrEnum):
    """Which resources a call is authorized against, as ARN patterns (``RESOURCE_ARNS``)."""

    IMAGE = "image"
    SNAPSHOT = "snapshot"
    SOURCE_KEY = "source-key"  # a key of the image owner: the image's own key or its share key
    DESTINATION_KEY = "destination-key"  # a destination's own key, which its copies are encrypted with
    ROLE = "role"  # a role amishare assumes
    PARAMETER = "parameter"  # an SSM parameter of a destination
    LAUNCH_TEMPLATE = "launch-template"  # a launch template of a destination
    ANY = "*"  # calls that support no resource-level permission (Describe*, ...)


RESOURCE_ARNS: dict[Resource, str] = {
    Resource.IMAGE: "arn:aws:ec2:{region}::image/*",
    Resource.SNAPSHOT: "arn:aws:ec2:{region}::snapshot/*",
    Resource.SOURCE_KEY: "arn:aws:kms:{region}:{source}:key/*",
    Resource.DESTINATION_KEY: "arn:aws:kms:{region}:{destination}:key/*",
    Resource.ROLE: "arn:aws:iam::{destination}:role/{role}",
    Resource.PARAMETER: "arn:aws:ssm:{region}:{destination}:parameter/*",
    Resource.LAUNCH_TEMPLATE: "arn:aws:ec2:{region}:{destination}:launch-template/*",
    Resource.ANY: "*",
}


@dataclass(frozen=True)
class Permission:
    """One IAM action a kind calls: by whom, on which resources, under which conditions.

    ``principal`` ``None`` means "the principal the action runs as" (its ``actor``)."""

    action: str
    resources: tuple[Resource, ...] = (Resource.ANY,)
    principal: Principal | None = None
    conditions: tuple[tuple[str, str, str], ...] = ()  # (operator, key, value template)


def _perm(action: str, *resources: Resource, principal: Principal | None = None, via_ec2: bool = False) -> Permission:
    conditions: tuple[tuple[str, str, str], ...] = ()
    if via_ec2:
        conditions = (("StringEquals", "kms:ViaService", "ec2.{region}.amazonaws.com"),)
        if action == "kms:CreateGrant":  # EC2 creates grants for AWS resources only (docs/aws-facts.md section 2)
            conditions += (("Bool", "kms:GrantIsForAWSResource", "true"),)
    return Permission(action, resources or (Resource.ANY,), principal, conditions)


def _copy_permissions(target_key: Resource) -> tuple[Permission, ...]:
    """CopyImage: the call (authorized against the source image and snapshots as well as the new ones,
    docs/aws-facts.md section 3), its tags, and the key the copy is encrypted with, through EC2."""
    return (
        _perm("ec2:CopyImage", Resource.IMAGE, Resource.SNAPSHOT),
        _perm("ec2:DescribeImages"),  # a name in use: is that image already this copy (another run's)?
        _perm("ec2:DeregisterImage", Resource.IMAGE),  # ... or this run's failed copy, in the way of a new attempt
        Permission(
            "ec2:CreateTags",
            (Resource.IMAGE, Resource.SNAPSHOT),
            None,
            (("StringEquals", "ec2:CreateAction", "CopyImage"),),
        ),
        *(_perm(a, target_key, via_ec2=True) for a in access.COPY_KEY_ACTIONS),
    )


# ------------------------------------------------------------------------------ the kinds
@dataclass(frozen=True)
class SnapshotChange:
    """createVolumePermission changes on one snapshot."""

    snapshot: str
    accounts: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Action:
    """What every step has: its key, where it runs, as whom, and what it waits for."""

    key: str
    account: str
    region: str
    depends_on: tuple[str, ...] = ()  # must have succeeded
    after: tuple[str, ...] = ()  # must have finished, whatever their outcome (clean-up, revocation)
    actor: Principal = Principal.SOURCE  # who the call is made as (its permissions' principal)
    role_arn: str | None = None  # the role assumed in ``account`` (None: the caller's credentials)
    external_id: str | None = None

    kind: ClassVar[ActionKind]
    symbol: ClassVar[str] = "~"
    waits: ClassVar[bool] = False  # mostly waits (copies, batches): runs beside the --max-parallel calls
    needs: ClassVar[tuple[Permission, ...]] = ()

    def describe(self) -> str:
        """One line for humans: what this action does."""
        raise NotImplementedError

    @property
    def summary(self) -> str:
        return self.describe()

    @property
    def permissions(self) -> tuple[str, ...]:
        """The IAM actions this action's calls need (its own, then ``sts:AssumeRole`` when it assumes a role)."""
        names = [p.action for p in self.needs]
        if self.role_arn:
            names.append("sts:AssumeRole")
        return tuple(dict.fromkeys(names))

    def declared(self) -> tuple[tuple[Principal, Permission], ...]:
        """Each permission with the principal that needs it."""
        found = [(p.principal or self.actor, p) for p in self.needs]
        if self.role_arn:
            found.append((Principal.CALLER, _perm("sts:AssumeRole", Resource.ROLE)))
        return tuple(found)

    @property
    def params(self) -> dict[str, Any]:
        """The kind's own fields (and the role it acts through), as JSON values."""
        out = {f.name: encode(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name not in _BASE_FIELDS}
        if self.actor is not Principal.SOURCE:
            out["actor"] = self.actor.value
        if self.role_arn:
            out["role_arn"] = self.role_arn
            if self.external_id:
                out["external_id"] = self.external_id
        return out

    def resolved(self, outputs: dict[str, dict[str, Any]]) -> Action:
        """This action with ``@key`` references replaced by the outputs they name (unresolvable ones stay)."""
        changes = {}
        for f in dataclasses.fields(self):
            if f.name in _BASE_FIELDS:
                continue
            value = getattr(self, f.name)
            new = resolve(value, outputs)
            if new is not value:
                changes[f.name] = new
        return dataclasses.replace(self, **changes) if changes else self

    def rekeyed(self, renamed: dict[str, str]) -> Action:
        """This action under ``renamed[key]``, its dependencies and ``@key`` references renamed alike."""
        changes: dict[str, Any] = {
            "key": renamed.get(self.key, self.key),
            "depends_on": tuple(renamed.get(k, k) for k in self.depends_on),
            "after": tuple(renamed.get(k, k) for k in self.after),
        }
        for f in dataclasses.fields(self):
            if f.name not in _BASE_FIELDS:
                value = getattr(self, f.name)
                new = rekey(value, renamed)
                if new is not value:
                    changes[f.name] = new
        return dataclasses.replace(self, **changes)

    def unresolved(self) -> str | None:
        """The first ``@key`` reference left in the fields, if any."""
        refs: set[str] = set()
        for f in dataclasses.fields(self):
            if f.name not in _BASE_FIELDS:
                _collect_refs(getattr(self, f.name), refs)
        return min(refs) if refs else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind.value,
            "account": self.account,
            "region": self.region,
            "summary": self.describe(),
            "params": self.params,
            "depends_on": list(self.depends_on),
            "after": list(self.after),
            "permissions": list(self.permissions),
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Action:
        """The action a ``to_dict`` document describes (the registry picks its class by ``kind``)."""
        cls = KINDS[ActionKind(data["kind"])]
        params = dict(data.get("params", {}))
        hints = _hints(cls)
        values: dict[str, Any] = {
            name: decode(hints[name], params[name])
            for name in (f.name for f in dataclasses.fields(cls) if f.name not in _BASE_FIELDS)
            if name in params
        }
        return cls(
            key=data["key"],
            account=data["account"],
            region=data["region"],
            depends_on=tuple(data.get("depends_on", ())),
            after=tuple(data.get("after", ())),
            actor=Principal(params.get("actor", Principal.SOURCE.value)),
            role_arn=params.get("role_arn"),
            external_id=params.get("external_id"),
            **values,
        )


_BASE_FIELDS = {"key", "account", "region", "depends_on", "after", "actor", "role_arn", "external_id"}
KINDS: dict[ActionKind, type[Action]] = {}
A = TypeVar("A", bound=type[Action])


def kind(name: ActionKind) -> Callable[[A], A]:
    """Register an action class as the kind ``name`` (one class per kind)."""

    def register(cls: A) -> A:
        if name in KINDS:
            raise TypeError(f"action kind {name} is registered twice")
        cls.kind = name
        KINDS[name] = cls
        return cls

    return register


def image_label(image: str, label: str = "") -> str:
    """How a plan names an image: its label when the image is still to be made, else its id."""
    return label or image


# -- images
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


@kind(ActionKind.REENCRYPT_IMAGE)
@dataclass(frozen=True, kw_only=True)
class ReEncryptImage(CopyImage):
    """Copy an image on aws/ebs in its own region, re-encrypted with the share key."""

    source_name: str = ""
    needs: ClassVar[tuple[Permission, ...]] = _copy_permissions(Resource.SOURCE_KEY)

    def describe(self) -> str:
        named = f" ({self.source_name})" if self.source_name else ""
        return f"copy {self.source_image}{named} re-encrypted with {self.key_label or self.kms_key}"


@kind(ActionKind.STAGE_IMAGE)
@dataclass(frozen=True, kw_only=True)
class StageImage(CopyImage):
    """Copy the source image into a region under that region's share key (a transfer's staging copy)."""

    needs: ClassVar[tuple[Permission, ...]] = _copy_permissions(Resource.SOURCE_KEY)

    def describe(self) -> str:
        return (
            f"stage {self.tags.get('amishare:source-image', self.source_image)} in {self.region}, encrypted with "
            + (self.key_label or str(self.kms_key))
        )


@kind(ActionKind.COPY_TO_DESTINATION)
@dataclass(frozen=True, kw_only=True)
class CopyToDestination(CopyImage):
    """A destination copies the shared image into its own account with its own key."""

    label: str = ""  # the destination's name in the config
    needs: ClassVar[tuple[Permission, ...]] = (
        *_copy_permissions(Resource.DESTINATION_KEY),
        # EC2 uses the SOURCE key on the destination's behalf: cross-account, its IAM policy must allow it too.
        *(_perm(a, Resource.SOURCE_KEY, via_ec2=True) for a in access.SOURCE_KEY_ACTIONS),
    )

    def describe(self) -> str:
        return f"{self.label or self.account} copies it in {self.region} with {self.kms_key or 'its default EBS key'}"


@kind(ActionKind.AWAIT_IMAGE)
@dataclass(frozen=True, kw_only=True)
class AwaitImage(Action):
    """Wait until an image is available (batched: one DescribeImages per account and region per tick)."""

    image: str
    timeout: float = 24 * 3600
    expected: str | float | None = None  # how long it should take ("@<wait>#seconds": as long as that wait)
    started: str | float | None = None  # when the copy started, in epoch seconds ("@<copy>#started_at")
    label: str = ""  # what is waited for, for humans

    symbol: ClassVar[str] = "…"
    waits: ClassVar[bool] = True
    needs: ClassVar[tuple[Permission, ...]] = (_perm("ec2:DescribeImages"),)

    def describe(self) -> str:
        return f"wait for {self.label or self.image}"


@kind(ActionKind.DELETE_STAGING)
@dataclass(frozen=True, kw_only=True)
class DeleteStaging(Action):
    """Deregister a staging copy this run made, with its snapshots (its tags must prove it)."""

    image: str
    symbol: ClassVar[str] = "-"
    needs: ClassVar[tuple[Permission, ...]] = (
        _perm("ec2:DescribeImages"),
        _perm("ec2:DeregisterImage", Resource.IMAGE),
        _perm("ec2:DeleteSnapshot", Resource.SNAPSHOT),
    )

    def describe(self) -> str:
        return f"delete the staging copy in {self.region} and its snapshots"


# -- what a distribution leaves in each destination (EC2 Image Builder's distribution settings)
@kind(ActionKind.PUBLISH_PARAMETER)
@dataclass(frozen=True, kw_only=True)
class PublishParameter(Action):
    """Create or update an SSM parameter of data type aws:ec2:image with the new image's id, then read it back:
    AWS checks the image after the call returns and drops a version naming an image the account cannot use."""

    parameter: str
    image: str
    symbol: ClassVar[str] = "+"
    needs: ClassVar[tuple[Permission, ...]] = (
        _perm("ssm:PutParameter", Resource.PARAMETER),
        _perm("ssm:GetParameter", Resource.PARAMETER),
        _perm("ec2:DescribeImages"),  # SSM checks the image with the caller's permission (aws:ec2:image)
    )

    def describe(self) -> str:
        return f"SSM parameter {self.parameter} in {self.region} -> the new copy"


@kind(ActionKind.UPDATE_LAUNCH_TEMPLATE)
@dataclass(frozen=True, kw_only=True)
class UpdateLaunchTemplate(Action):
    """A new version of a launch template naming the new image (from its latest version), made default when
    asked; a version that already names it is not made twice."""

    template: str  # name, or id (lt-...)
    image: str
    set_default: bool = False
    symbol: ClassVar[str] = "+"
    needs: ClassVar[tuple[Permission, ...]] = (
        _perm("ec2:DescribeLaunchTemplateVersions"),
        _perm("ec2:CreateLaunchTemplateVersion", Resource.LAUNCH_TEMPLATE),
        _perm("ec2:ModifyLaunchTemplate", Resource.LAUNCH_TEMPLATE),
    )

    def describe(self) -> str:
        default = ", made the default" if self.set_default else ""
        return f"launch template {self.template} in {self.region}: a version with the new copy{default}"


@kind(ActionKind.DEPRECATE_IMAGE)
@dataclass(frozen=True, kw_only=True)
class DeprecateImage(Action):
    """Schedule an image's deprecation ``after_seconds`` from when the step runs (an image already deprecated,
    or scheduled, keeps its date)."""

    image: str
    after_seconds: float
    symbol: ClassVar[str] = "~"
    needs: ClassVar[tuple[Permission, ...]] = (
        _perm("ec2:DescribeImages"),
        _perm("ec2:EnableImageDeprecation", Resource.IMAGE),
    )

    def describe(self) -> str:
        return f"deprecate the copy in {self.region} after {_duration_text(self.after_seconds)}"


@kind(ActionKind.PROTECT_IMAGE)
@dataclass(frozen=True, kw_only=True)
class ProtectImage(Action):
    """Turn on an image's deregistration protection (with the 24-hour cooldown when it is turned off again)."""

    image: str
    symbol: ClassVar[str] = "~"
    needs: ClassVar[tuple[Permission, ...]] = (_perm("ec2:EnableImageDeregistrationProtection", Resource.IMAGE),)

    def describe(self) -> str:
        return f"protect the copy in {self.region} from deregistration"


# -- cleanup
@kind(ActionKind.DISABLE_IMAGE)
@dataclass(frozen=True, kw_only=True)
class DisableImage(Action):
    """Disable an image (DisableImage also removes every launch permission; an image already disabled is done)."""

    image: str
    symbol: ClassVar[str] = "-"
    needs: ClassVar[tuple[Permission, ...]] = (
        _perm("ec2:DescribeImages"),
        _perm("ec2:DisableImage", Resource.IMAGE),
    )

    def describe(self) -> str:
        return f"disable {self.image} in {self.region}"


@kind(ActionKind.DEREGISTER_IMAGE)
@dataclass(frozen=True, kw_only=True)
class DeregisterImage(Action):
    """Deregister an image with its snapshots (DeleteAssociatedSnapshots: AWS keeps one another image uses), after
    checking it is still there and unprotected (an image already gone is done)."""

    image: str
    snapshots: tuple[str, ...] = ()  # expected deleted
    kept_snapshots: tuple[str, ...] = ()  # another image uses them
    symbol: ClassVar[str] = "-"
    needs: ClassVar[tuple[Permission, ...]] = (
        _perm("ec2:DescribeImages"),
        _perm("ec2:DeregisterImage", Resource.IMAGE),
        _perm("ec2:DeleteSnapshot", Resource.SNAPSHOT),
    )

    def describe(self) -> str:
        kept = f" (keeping {', '.join(self.kept_snapshots)}: another image uses them)" if self.kept_snapshots else ""
        return f"deregister {self.image} in {self.region} with its snapshots {', '.join(self.snapshots) or '-'}{kept}"


def _duration_text(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    parts = [f"{days}d" * bool(days), f"{hours}h" * bool(hours), f"{rest // 60}m" * bool(rest // 60)]
    return "".join(parts) or f"{int(seconds)}s"


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

    needs: ClassVar[tuple[Permission, ...]] = (_perm("ec2:ModifyImageAttribute", Resource.IMAGE),)

    def describe(self) -> str:
        return f"launch permission on {image_label(self.image, self.image_label)} for {self.who()}"

    def who(self) -> str:
        parts = [*self.accounts, *(o.rsplit("/", 1)[-1] for o in (*self.organizations, *self.ous))]
        if len(parts) > 12:
            parts = [f"{len(self.accounts)} account(s)", *parts[len(self.accounts) :]]
        return ", ".join(parts + (["public"] if self.public else []))


@kind(ActionKind.SHARE_IMAGE)
@dataclass(frozen=True, kw_only=True)
class ShareImage(LaunchPermissionChange):
    """Launch permission on an image for accounts, organizations, OUs or everyone (ModifyImageAttribute Add)."""

    symbol: ClassVar[str] = "+"


@kind(ActionKind.UNSHARE_IMAGE)
@dataclass(frozen=True, kw_only=True)
class UnshareImage(LaunchPermissionChange):
    """Take launch permission away (ModifyImageAttribute Remove)."""

    symbol: ClassVar[str] = "-"


# -- snapshot permission
@kind(ActionKind.SHARE_SNAPSHOTS)
@dataclass(frozen=True, kw_only=True)
class ShareSnapshots(Action):
    """createVolumePermission for accounts on every snapshot of an image (``changes`` None: an image
    this run makes, whose snapshots are read when the step runs)."""

    image: str
    accounts: tuple[str, ...]
    changes: tuple[SnapshotChange, ...] | None = None
    image_label: str = ""

    symbol: ClassVar[str] = "+"
    needs: ClassVar[tuple[Permission, ...]] = (
        _perm("ec2:DescribeImages"),
        _perm("ec2:ModifySnapshotAttribute", Resource.SNAPSHOT),
    )

    def describe(self) -> str:
        who = ", ".join(self.accounts) if len(self.accounts) <= 12 else f"{len(self.accounts)} account(s)"
        calls = -(-len(self.accounts) // MAX_SNAPSHOT_CHANGES)
        extra = f" ({calls} calls of at most {MAX_SNAPSHOT_CHANGES} per snapshot)" if calls > 1 else ""
        return (
            f"createVolumePermission on the snapshots of {image_label(self.image, self.image_label)} for {who}{extra}"
        )


@kind(ActionKind.UNSHARE_SNAPSHOTS)
@dataclass(frozen=True, kw_only=True)
class UnshareSnapshots(Action):
    """Take createVolumePermission away on the snapshots of an image."""

    image: str
    changes: tuple[SnapshotChange, ...]

    symbol: ClassVar[str] = "-"
    needs: ClassVar[tuple[Permission, ...]] = (_perm("ec2:ModifySnapshotAttribute", Resource.SNAPSHOT),)

    def describe(self) -> str:
        accounts = sorted({a for c in self.changes for a in c.accounts})
        return f"createVolumePermission on the snapshots of {self.image} for {', '.join(accounts)}"


MAX_SNAPSHOT_CHANGES = 500  # docs/aws-facts.md section 4: per ModifySnapshotAttribute call


# -- keys
@kind(ActionKind.PUT_KEY_POLICY)
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

    needs: ClassVar[tuple[Permission, ...]] = (
        _perm("kms:GetKeyPolicy", Resource.SOURCE_KEY),
        _perm("kms:PutKeyPolicy", Resource.SOURCE_KEY),
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


@kind(ActionKind.CREATE_GRANT)
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

    symbol: ClassVar[str] = "+"
    needs: ClassVar[tuple[Permission, ...]] = (_perm("kms:CreateGrant", Resource.SOURCE_KEY),)

    def describe(self) -> str:
        return self.purpose or f"grant on key {self.key_label or self.key_arn} for {self.grantee}"


@kind(ActionKind.REVOKE_GRANT)
@dataclass(frozen=True, kw_only=True)
class RevokeGrant(Action):
    """Revoke a grant amishare created on a key (a grant already gone is done)."""

    key_arn: str
    grant_id: str
    grantee: str = ""
    key_label: str = ""

    symbol: ClassVar[str] = "-"
    needs: ClassVar[tuple[Permission, ...]] = (_perm("kms:RevokeGrant", Resource.SOURCE_KEY),)

    def describe(self) -> str:
        return f"grant {self.grant_id} on key {self.key_label or self.key_arn} for {self.grantee}"


# -- a transfer's revocation, batched across destinations
@kind(ActionKind.REVOKE_DESTINATION)
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

    symbol: ClassVar[str] = "-"
    waits: ClassVar[bool] = True
    needs: ClassVar[tuple[Permission, ...]] = (
        _perm("ec2:DescribeImages"),
        _perm("ec2:ModifyImageAttribute", Resource.IMAGE),
        _perm("ec2:ModifySnapshotAttribute", Resource.SNAPSHOT),
        _perm("kms:GetKeyPolicy", Resource.SOURCE_KEY),
        _perm("kms:PutKeyPolicy", Resource.SOURCE_KEY),
        _perm("kms:ListGrants", Resource.SOURCE_KEY),
        _perm("kms:RevokeGrant", Resource.SOURCE_KEY),
    )

    def batch(self) -> tuple[str, str, str, str | None, bool, str | None]:
        """Revocations with the same batch are served by the same calls."""
        return (self.account, self.region, self.image, self.key_arn, self.image_access, self.grant_key_arn)

    def describe(self) -> str:
        return f"revoke {self.label or self.target}'s access to the source in {self.region}"


# ------------------------------------------------------------------------------ JSON values
def encode(value: Any) -> Any:
    """A field's value as JSON (tuples and sets as lists, dataclasses as objects)."""
    if isinstance(value, KeyAccess):
        return {
            "accounts": sorted(value.accounts),
            "organizations": sorted(value.organizations),
            "ous": [list(pair) for pair in sorted(value.ous)],
            "autoscaling": sorted(value.autoscaling),
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    if isinstance(value, frozenset | set):
        return sorted(encode(v) for v in value)
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, StrEnum):
        return value.value
    return value


def decode(hint: Any, value: Any) -> Any:
    """A JSON value back into the type of the field it came from."""
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        if value is None:
            return None
        for option in typing.get_args(hint):
            if option is type(None):
                continue
            try:
                return decode(option, value)
            except (TypeError, ValueError, KeyError):
                continue
        return value
    if hint is KeyAccess:
        return KeyAccess(
            accounts=frozenset(value.get("accounts", ())),
            organizations=frozenset(value.get("organizations", ())),
            ous=frozenset((o, u) for o, u in value.get("ous", ())),
            autoscaling=frozenset(value.get("autoscaling", ())),
        )
    if origin is tuple:
        (item, *_) = typing.get_args(hint)
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {value!r}")
        return tuple(decode(item, v) for v in value)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        sub = _hints(hint)
        return hint(**{k: decode(sub[k], v) for k, v in value.items()})
    if hint is float:
        if isinstance(value, str):
            raise TypeError("not a number")
        return float(value)
    if hint is str and not isinstance(value, str):
        raise TypeError("not a string")
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def map_refs(value: Any, replace: Callable[[str, str], Any]) -> Any:
    """``value`` with each ``"@<key>[#<name>]"`` string replaced by ``replace(key, name)`` (when that returns
    something else than ``None``), through tuples and dicts. The same object when nothing changes."""
    if isinstance(value, str):
        if value.startswith("@"):
            key, _, name = value[1:].partition("#")
            found = replace(key, name)
            return value if found is None else found
        return value
    if isinstance(value, tuple):
        items = tuple(map_refs(v, replace) for v in value)
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if isinstance(value, dict):
        mapped = {k: map_refs(v, replace) for k, v in value.items()}
        return value if all(mapped[k] is value[k] for k in value) else mapped
    return value


def resolve(value: Any, outputs: dict[str, dict[str, Any]]) -> Any:
    """``"@<key>"`` -> the image id that action produced; ``"@<key>#<name>"`` -> another of its outputs.

    Returns ``value`` itself (the same object) when nothing in it changes."""
    return map_refs(value, lambda key, name: outputs.get(key, {}).get(name or "image_id"))


def rekey(value: Any, renamed: dict[str, str]) -> Any:
    """``value`` with each ``@<key>`` reference to a key in ``renamed`` pointing at its new name."""
    return map_refs(
        value, lambda key, name: f"@{renamed[key]}" + (f"#{name}" if name else "") if key in renamed else None
    )


def _collect_refs(value: Any, found: set[str]) -> None:
    if isinstance(value, str) and value.startswith("@"):
        found.add(value[1:].partition("#")[0])
    elif isinstance(value, list | tuple):
        for item in value:
            _collect_refs(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _collect_refs(item, found)


def client_token(run_id: str, action_key: str, attempt: int = 0) -> str:
    """A CopyImage ClientToken (at most 64 ASCII characters) for an action of a run (and an attempt)."""
    seed = f"{run_id}|{action_key}" + (f"|{attempt}" if attempt else "")
    return "amishare-" + hashlib.sha256(seed.encode()).hexdigest()[:48]


# ------------------------------------------------------------------------------------ plans
@dataclass(frozen=True)
class Plan:
    """What a command will do: actions in dependency order, and what a reader should know.

    A plan may span many images and regions (``Plan.merge``); ``image_id`` and ``region`` name the
    first image and its region (what a one-image command was asked about)."""

    command: str  # "share", "revoke", "transfer", ...
    account: str
    region: str
    image_id: str
    targets: tuple[Target, ...]
    actions: tuple[Action, ...]
    subject: str  # the image that is shared: the image itself, a re-encrypted copy, or "@<action key>"
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # command-specific data (transfer: notification ...)

    @property
    def changes(self) -> bool:
        return bool(self.actions)

    def action(self, key: str) -> Action:
        for action in self.actions:
            if action.key == key:
                return action
        raise KeyError(key)

    def permissions(self) -> tuple[str, ...]:
        return tuple(sorted({p for a in self.actions for p in a.permissions}))

    @classmethod
    def merge(cls, command: str, plans: list[Plan]) -> Plan:
        """One plan doing what ``plans`` do (their actions' keys must be distinct: they name their images)."""
        if not plans:
            raise ValueError("nothing to merge")
        keys = [a.key for p in plans for a in p.actions]
        if len(keys) != len(set(keys)):
            raise ValueError("plans to merge share action keys")
        first = plans[0]
        return cls(
            command=command,
            account=first.account,
            region=first.region,
            image_id=first.image_id,
            targets=tuple(dict.fromkeys(t for p in plans for t in p.targets)),
            actions=tuple(a for p in plans for a in p.actions),
            subject=first.subject,
            notes=tuple(n for p in plans for n in p.notes),
            warnings=tuple(w for p in plans for w in p.warnings),
            extra={"images": [p.image_id for p in plans], **first.extra},
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls(
            command=data["command"],
            account=data["account"],
            region=data["region"],
            image_id=data["image_id"],
            subject=data["subject"],
            targets=tuple(Target(TargetKind(t["kind"]), t["value"], t.get("label", "")) for t in data["targets"]),
            actions=tuple(Action.from_dict(a) for a in data["actions"]),
            notes=tuple(data["notes"]),
            warnings=tuple(data["warnings"]),
            extra=data.get("extra", {}),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "account": self.account,
            "region": self.region,
            "image_id": self.image_id,
            "subject": self.subject,
            "targets": [{"kind": t.kind.value, "value": t.value, "label": t.label} for t in self.targets],
            "actions": [a.to_dict() for a in self.actions],
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            "permissions": list(self.permissions()),
            "extra": self.extra,
        }


# What observation reads (every command, --dry-run included), by the principal that reads.
READ_NEEDS: tuple[Permission, ...] = (
    _perm("sts:GetCallerIdentity", principal=Principal.CALLER),
    _perm("ec2:DescribeImages", principal=Principal.SOURCE),
    _perm("ec2:DescribeImageAttribute", Resource.IMAGE, principal=Principal.SOURCE),
    _perm("ec2:DescribeSnapshots", principal=Principal.SOURCE),
    _perm("ec2:DescribeSnapshotAttribute", Resource.SNAPSHOT, principal=Principal.SOURCE),
    _perm("ec2:GetImageBlockPublicAccessState", principal=Principal.SOURCE),
    _perm("kms:DescribeKey", Resource.SOURCE_KEY, principal=Principal.SOURCE),
    _perm("kms:ListAliases", principal=Principal.SOURCE),
    _perm("kms:GetKeyPolicy", Resource.SOURCE_KEY, principal=Principal.SOURCE),
    _perm("kms:ListGrants", Resource.SOURCE_KEY, principal=Principal.SOURCE),
    # a transfer's preflight, through each destination's role: its key, and its launch template when one is named
    _perm("kms:DescribeKey", Resource.DESTINATION_KEY, principal=Principal.DESTINATION),
    _perm("ec2:DescribeLaunchTemplates", principal=Principal.DESTINATION),
    # cleanup: what still uses an image, in its owner's account and the accounts it is shared with
    _perm("ec2:DescribeImageReferences", principal=Principal.SOURCE),
    _perm("autoscaling:DescribeLaunchConfigurations", principal=Principal.SOURCE),
    _perm("rbin:ListRules", principal=Principal.SOURCE),
    _perm("ec2:DescribeImageReferences", principal=Principal.DESTINATION),
    _perm("autoscaling:DescribeLaunchConfigurations", principal=Principal.DESTINATION),
)
READ_PERMISSIONS = tuple(p.action for p in READ_NEEDS)
