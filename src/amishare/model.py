"""Frozen data: targets, and what amishare observed about an image, its snapshots and keys.

Pure: no boto3, no clock. Built by ``observe`` (which reads AWS), read by the planner,
the gate report and the renderers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

ACCOUNT_ID = re.compile(r"^\d{12}$")
IMAGE_ID = re.compile(r"^ami-[0-9a-f]{8}([0-9a-f]{9})?$")
ORG_ARN = re.compile(r"^arn:aws[a-z-]*:organizations::(\d{12}):organization/(o-[a-z0-9]{10,32})$")
OU_ARN = re.compile(
    r"^arn:aws[a-z-]*:organizations::(\d{12}):ou/(o-[a-z0-9]{10,32})/(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32})$"
)
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
KEY_REF = re.compile(  # a key id, key ARN, alias or alias ARN
    r"^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key/[0-9a-f-]{36}|key/mrk-[0-9a-f]{32}|alias/[a-zA-Z0-9/_-]+)"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}|alias/[a-zA-Z0-9/_-]+)$"
)


def arn_region(ref: str) -> str | None:
    """The region an ARN names (``arn:aws:kms:<region>:...``), None for an id or alias (resolved per region)."""
    parts = ref.split(":")
    return parts[3] if ref.startswith("arn:") and len(parts) > 4 and parts[3] else None


_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def duration_seconds(text: str) -> float | None:
    """``90``, ``45s``, ``30m``, ``24h``, ``1d12h`` -> seconds; None when ``text`` is not a duration."""
    value = text.strip()
    if value.isdigit():
        return float(value)
    match = _DURATION.match(value)
    if not value or not match or not any(match.groups()):
        return None
    days, hours, minutes, secs = (int(g or 0) for g in match.groups())
    return float(((days * 24 + hours) * 60 + minutes) * 60 + secs)


def arn_account(ref: str) -> str | None:
    """The account an ARN names, None for an id or alias."""
    parts = ref.split(":")
    return parts[4] if ref.startswith("arn:") and len(parts) > 4 and parts[4] else None


# KMS Developer Guide, "Request quotas" (requests per second, per account and region; throttling is charged to the
# calling account; every one adjustable through Service Quotas): the defaults of the operations amishare calls, which
# it paces its KMS calls to (aws/pacer.py); ``[defaults] kms_request_quotas`` names an account's raised ones.
KMS_REQUEST_QUOTAS: dict[str, float] = {
    "CreateGrant": 50,
    "RevokeGrant": 50,
    "RetireGrant": 50,
    "ListGrants": 100,
    "GetKeyPolicy": 1000,
    "PutKeyPolicy": 15,
    "ListKeyPolicies": 100,
    "DescribeKey": 2000,
    "ListAliases": 500,
    "ListResourceTags": 2000,
    "CreateAlias": 5,
    "CreateKey": 5,
    "TagResource": 10,
}

# Tags amishare puts on what it creates (never delete what amishare did not create: the tags prove it).
TAG_SOURCE_IMAGE = "amishare:source-image"
TAG_RUN = "amishare:run"
TAG_MANAGED = "amishare:managed"
TAG_STAGING = "amishare:staging"
TAG_SOURCE_ACCOUNT = "amishare:source-account"
TAG_RETIRED = "amishare:retired"  # when a manifest's family retired this copy (planners/manifest/retention.py)


class TargetKind(StrEnum):
    ACCOUNT = "account"
    ORGANIZATION = "organization"
    OU = "ou"
    PUBLIC = "public"


@dataclass(frozen=True)
class RoleRef:
    """Which account a call is made in, through which role: the one value for "as whom" wherever amishare
    acts in or reads another account (actions, a transfer's parties, cleanup's accounts, the config's roles).
    ``None`` in its place means the caller's own credentials."""

    account: str
    role_arn: str
    external_id: str | None = None


@dataclass(frozen=True, order=True)
class Target:
    """Someone an image is shared with: an account, an organization, an OU, or everyone."""

    kind: TargetKind
    value: str  # account id, organization ARN, OU ARN, or "all"
    label: str = field(default="", compare=False)  # the name the user gave (config account name)

    @property
    def org_id(self) -> str | None:
        if self.kind is TargetKind.ORGANIZATION:
            match = ORG_ARN.match(self.value)
            return match.group(2) if match else None
        if self.kind is TargetKind.OU:
            match = OU_ARN.match(self.value)
            return match.group(2) if match else None
        return None

    @property
    def ou_id(self) -> str | None:
        match = OU_ARN.match(self.value) if self.kind is TargetKind.OU else None
        return match.group(3) if match else None

    def __str__(self) -> str:
        if self.kind is TargetKind.PUBLIC:
            return "public"
        shown = self.value if self.kind is TargetKind.ACCOUNT else self.value.rsplit("/", 1)[-1]
        return f"{self.label} ({shown})" if self.label and self.label != self.value else shown


def account_target(account: str, label: str = "") -> Target:
    return Target(TargetKind.ACCOUNT, account, label)


PUBLIC = Target(TargetKind.PUBLIC, "all")


@dataclass(frozen=True)
class Distribution:
    """What a transfer leaves in each destination besides the copy (EC2 Image Builder's distribution settings)."""

    ssm_parameter: str | None = None  # an aws:ec2:image parameter set to the new image id
    launch_template: str | None = None  # a launch template (name or id) given a version with the new image
    set_default: bool = False  # ... made its default version
    deprecate_after: float | None = None  # seconds after the copy until it is deprecated
    deregistration_protection: bool = False
    tags: dict[str, str] = field(default_factory=dict)  # on the copies and their snapshots
    copy_minutes: int | None = None  # time-based copies (SnapshotCopyCompletionDurationMinutes)

    def template_for(self, destination: Any) -> str | None:
        """The launch template of ``destination`` (its own, from the config, else the run's)."""
        return getattr(destination, "launch_template", None) or self.launch_template

    def parameter_for(self, destination: Any) -> str | None:
        """The SSM parameter of ``destination`` (its own, from the config, else the run's)."""
        return getattr(destination, "ssm_parameter", None) or self.ssm_parameter


@dataclass(frozen=True)
class KeyInfo:
    """A KMS key as observed: who manages it, and its policy and grants when readable."""

    arn: str
    account: str
    region: str
    manager: str  # "AWS" or "CUSTOMER"
    state: str = "Enabled"
    aliases: tuple[str, ...] = ()
    policy: dict[str, Any] | None = None  # None: not readable by the caller
    policy_error: str | None = None
    grants: tuple[GrantInfo, ...] = ()
    spec: str = "SYMMETRIC_DEFAULT"  # EBS encrypts with symmetric keys only
    usage: str = "ENCRYPT_DECRYPT"

    @property
    def key_id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]

    @property
    def aws_managed(self) -> bool:
        return self.manager == "AWS"

    @property
    def display(self) -> str:
        return self.aliases[0] if self.aliases else self.arn


@dataclass(frozen=True)
class GrantInfo:
    grant_id: str
    grantee: str
    operations: tuple[str, ...]
    name: str | None = None


@dataclass(frozen=True)
class SnapshotInfo:
    snapshot_id: str
    size_gib: int
    key_arn: str | None  # None: unencrypted
    shared_with: frozenset[str] = frozenset()
    public: bool = False


@dataclass(frozen=True)
class MappingInfo:
    """One block device mapping of an image, as DescribeImages shows it."""

    device: str
    snapshot_id: str | None = None  # None: not an EBS snapshot (instance store, or no device)
    encrypted: bool | None = None  # the mapping's Ebs.Encrypted
    key_arn: str | None = None  # the mapping's Ebs.KmsKeyId
    virtual_name: str | None = None  # ephemeral0 ...: an instance store volume


@dataclass(frozen=True)
class LaunchPermissions:
    accounts: frozenset[str] = frozenset()
    organizations: frozenset[str] = frozenset()
    ous: frozenset[str] = frozenset()
    public: bool = False

    def includes(self, target: Target) -> bool:
        if target.kind is TargetKind.ACCOUNT:
            return target.value in self.accounts
        if target.kind is TargetKind.ORGANIZATION:
            return target.value in self.organizations
        if target.kind is TargetKind.OU:
            return target.value in self.ous
        return self.public

    def targets(self) -> list[Target]:
        found = [account_target(a) for a in sorted(self.accounts)]
        found += [Target(TargetKind.ORGANIZATION, o) for o in sorted(self.organizations)]
        found += [Target(TargetKind.OU, o) for o in sorted(self.ous)]
        return found + ([PUBLIC] if self.public else [])


@dataclass(frozen=True)
class ImageInfo:
    image_id: str
    name: str
    owner: str
    region: str
    state: str
    snapshots: tuple[SnapshotInfo, ...]
    launch: LaunchPermissions = LaunchPermissions()
    tags: dict[str, str] = field(default_factory=dict)
    description: str = ""
    mappings: tuple[MappingInfo, ...] = ()

    @property
    def key_arns(self) -> tuple[str, ...]:
        return tuple(sorted({s.key_arn for s in self.snapshots if s.key_arn}))

    @property
    def encrypted(self) -> bool:
        return any(s.key_arn for s in self.snapshots)


@dataclass(frozen=True)
class Observation:
    """Everything the planner needs about one image in one region, read from AWS."""

    caller_account: str
    region: str
    image: ImageInfo
    keys: dict[str, KeyInfo]  # by key ARN: the image's keys, the share key, sibling images' keys
    share_key: KeyInfo | None = None  # the customer managed key to re-encrypt with, when configured
    reencrypted: ImageInfo | None = None  # an existing re-encrypted copy of an aws/ebs image
    siblings: tuple[ImageInfo, ...] = ()  # other images of the owner in the region (for revoke)
    block_public_access: str | None = None  # image block public access state, when public is asked

    def key(self, arn: str | None) -> KeyInfo | None:
        return self.keys.get(arn) if arn else None
