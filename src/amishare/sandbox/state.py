"""The overlay's world: keys, snapshots, images, organizations and sessions.

One ``World`` per sandbox, guarded by one re-entrant lock (the HTTP server is threaded).
Time-dependent states (a copy that is ``pending`` until its duration has passed) are
computed from a monotonic clock when read, so nothing runs in the background.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from amishare.policy.evaluate import Caller

AMI_COPY_LIMIT_DEFAULT = 100  # docs/aws-facts.md section 4: the documented figure moved (50, 100, now 300); a knob
SNAPSHOT_COPY_LIMIT = 20  # docs/aws-facts.md section 4: not adjustable


# Identifiers need to be unique, not secret: a seeded PRNG makes them without a system call (os.urandom
# releases the GIL, and a thread that must take it back while holding the world's lock stalls every
# request behind it: at fleet scale that capped the sandbox at a few dozen copies a second).
RANDOM = random.Random(secrets.randbits(128))


def new_id(prefix: str, length: int = 17) -> str:
    return f"{prefix}-{RANDOM.getrandbits(4 * length):0{length}x}"


def random_text(alphabet: str, length: int) -> str:
    return "".join(RANDOM.choices(alphabet, k=length))


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Grant:
    grant_id: str
    key_arn: str
    grantee: str
    operations: list[str]
    issuing_account: str
    name: str | None = None
    retiring: str | None = None
    constraints: dict[str, Any] | None = None
    created: dt.datetime = field(default_factory=utcnow)
    token: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    effective_at: float = 0.0  # sandbox clock: authorizes nothing before it without its token (grant_delay_seconds)


@dataclass
class Key:
    key_id: str
    account: str
    region: str
    policy: str
    manager: str = "CUSTOMER"  # or "AWS" for alias/aws/ebs
    description: str = ""
    state: str = "Enabled"  # Enabled | Disabled | PendingDeletion
    created: dt.datetime = field(default_factory=utcnow)
    deletion_date: dt.datetime | None = None
    grants: list[Grant] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:kms:{self.region}:{self.account}:key/{self.key_id}"


@dataclass
class Transition:
    """A copy in flight: pending from ``started`` for ``duration`` seconds, then done or failed."""

    started: float
    duration: float
    failure: str | None = None  # the reason it will fail, decided when the copy started

    def progress(self, now: float) -> int:
        if self.duration <= 0:
            return 100
        return max(0, min(100, int(100 * (now - self.started) / self.duration)))

    def done(self, now: float) -> bool:
        return now - self.started >= self.fail_after if self.failure else now - self.started >= self.duration

    @property
    def fail_after(self) -> float:
        # A bad key is not rejected at call time (docs/aws-facts.md section 2): the copy starts,
        # then fails a little later.
        return min(self.duration, max(0.0, self.duration * 0.25))


@dataclass
class Snapshot:
    snapshot_id: str
    account: str
    region: str
    size_gib: int
    kms_key_arn: str | None
    description: str = ""
    start_time: dt.datetime = field(default_factory=utcnow)
    transition: Transition | None = None
    volume_id: str = field(default_factory=lambda: new_id("vol"))
    shared_with: set[str] = field(default_factory=set)  # createVolumePermission UserIds
    public: bool = False  # createVolumePermission Group all
    tags: dict[str, str] = field(default_factory=dict)
    source_snapshot_id: str | None = None
    via_copy_snapshot: bool = False  # counts against the concurrent CopySnapshot limit
    completion_minutes: int | None = None  # a time-based copy: completes within this many minutes

    @property
    def encrypted(self) -> bool:
        return self.kms_key_arn is not None


@dataclass
class Image:
    image_id: str
    account: str
    region: str
    name: str
    mappings: list[dict[str, Any]]  # boto3-shaped BlockDeviceMappings (Ebs.SnapshotId ...)
    description: str = ""
    architecture: str = "x86_64"
    root_device_name: str = "/dev/xvda"
    virtualization_type: str = "hvm"
    ena_support: bool = True
    boot_mode: str | None = None
    created: dt.datetime = field(default_factory=utcnow)
    transition: Transition | None = None
    launch_users: set[str] = field(default_factory=set)
    launch_orgs: set[str] = field(default_factory=set)
    launch_ous: set[str] = field(default_factory=set)
    public: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    deprecation_time: dt.datetime | None = None
    deregistration_protection: str = "disabled"
    protection_until: dt.datetime | None = None
    source_image_id: str | None = None
    source_region: str | None = None
    disabled: bool = False  # DisableImage: no launch, no listing without IncludeDisabled
    last_launched: dt.datetime | None = None  # LastLaunchedTime: set by RunInstances
    deregistered: bool = False  # DeregisterImage: described as such by id to its owner for a short while

    def snapshot_ids(self) -> list[str]:
        return [m["Ebs"]["SnapshotId"] for m in self.mappings if "Ebs" in m and m["Ebs"].get("SnapshotId")]

    def make_private(self) -> None:
        """No launch permission left: accounts, organizations, OUs, public."""
        self.launch_users.clear()
        self.launch_orgs.clear()
        self.launch_ous.clear()
        self.public = False


@dataclass
class Volume:
    """An EBS volume an instance was launched with (built from its image's block device mappings)."""

    volume_id: str
    account: str
    region: str
    size_gib: int
    snapshot_id: str | None
    kms_key_arn: str | None
    device: str
    instance_id: str
    created: dt.datetime = field(default_factory=utcnow)


@dataclass
class Instance:
    """An instance RunInstances started: running, stopped (StopInstances, or a start that failed), or terminated
    (TerminateInstances, or a launch that failed: a key it could not use)."""

    instance_id: str
    account: str
    region: str
    image_id: str
    instance_type: str
    launched_by: str  # the principal ARN that called RunInstances
    reservation_id: str
    volumes: list[Volume]
    failure: str | None = None  # why the launch failed: the instance is terminated
    terminated: bool = False  # TerminateInstances
    stopped: bool = False  # StopInstances (StartInstances clears it, unless the start fails)
    start_failure: str | None = None  # why the last StartInstances failed: the instance went back to stopped
    tags: dict[str, str] = field(default_factory=dict)
    launched: dt.datetime = field(default_factory=utcnow)

    @property
    def state(self) -> str:
        if self.failure or self.terminated:
            return "terminated"
        return "stopped" if self.stopped else "running"


@dataclass
class OrgUnit:
    ou_id: str
    name: str
    parent_id: str
    arn: str


@dataclass
class Organization:
    org_id: str
    master: str
    root_id: str
    units: dict[str, OrgUnit] = field(default_factory=dict)
    parents: dict[str, str] = field(default_factory=dict)  # account -> parent (root or OU) id
    policies: dict[str, tuple[str, str]] = field(default_factory=dict)  # SCP id -> (name, content)
    attached: dict[str, set[str]] = field(default_factory=dict)  # root, OU or account id -> SCP ids
    without_full_access: set[str] = field(default_factory=set)  # levels FullAWSAccess was detached from
    suspended: set[str] = field(default_factory=set)  # accounts closed (CloseAccount): SUSPENDED

    @property
    def arn(self) -> str:
        return f"arn:aws:organizations::{self.master}:organization/{self.org_id}"

    @property
    def root_arn(self) -> str:
        return f"arn:aws:organizations::{self.master}:root/{self.org_id}/{self.root_id}"

    def path_ids(self, account: str) -> list[str]:
        """Root first, then each OU down to the account's parent."""
        chain: list[str] = []
        node = self.parents.get(account)
        while node is not None and node != self.root_id:
            chain.append(node)
            node = self.units[node].parent_id
        return [self.root_id, *reversed(chain)]

    def org_paths(self, account: str) -> list[str]:
        """``aws:PrincipalOrgPaths`` of an account: ``o-x/r-x/ou-a/ou-b/``."""
        return [f"{self.org_id}/" + "".join(f"{p}/" for p in self.path_ids(account))]


@dataclass
class Call:
    """One request the sandbox served (``Sandbox.calls()``)."""

    account: str | None
    region: str
    service: str
    action: str
    mutating: bool
    status: int = 200
    error: str | None = None
    user_agent: str = ""  # as sent (amishare adds ``amishare-step/<what>``: the step that made the call)
    at: float = 0.0  # when the request arrived (time.time(), before any latency the sandbox adds)
    request_id: str = ""  # the x-amzn-RequestId of the answer (the overlay's answers; moto's own are moto's)


@dataclass
class AfterCall:
    """``Sandbox.after``: run ``do`` once, right after the first call of ``action`` (``service:Action``) that
    ``when`` accepts (given the call and its decoded parameters) has been answered, before its response is sent."""

    action: str
    do: Callable[[], None]
    when: Callable[[Call, dict[str, Any]], bool]


@dataclass
class Settings:
    copy_seconds_per_gib: float = 0.0
    latency_ms: float = 0.0
    throttle: bool = False
    ami_copy_limit: int = AMI_COPY_LIMIT_DEFAULT
    snapshot_copy_limit: int = SNAPSHOT_COPY_LIMIT
    block_public_access_default: str = "unblocked"
    deregistered_visible_seconds: float = 60.0  # DescribeImages by id shows a deregistered image this long
    deregistered_empty_seconds: float = 3600.0  # then answers it with an empty list this long, then NotFound
    grant_delay_seconds: float = 0.0  # a new grant authorizes nothing this long, unless its grant token is passed
    enforce_iam: bool = False  # identity policies of assumed roles are enforced (sandbox/authz.py)
    # KMS request quotas (requests per second per account and region) that differ from the documented defaults
    # (sandbox/wire/throttle.py: by operation, or "Cryptographic operations (symmetric)"); with throttle only
    kms_request_quotas: dict[str, float] = field(default_factory=dict)


class World:
    """Everything the overlay knows. Methods here are the shared vocabulary of the handlers."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self.lock = threading.RLock()
        self.keys: dict[str, Key] = {}  # key id -> key
        self.aliases: dict[tuple[str, str, str], str] = {}  # (account, region, alias) -> key id
        self.snapshots: dict[str, Snapshot] = {}
        self.images: dict[str, Image] = {}
        self.deregistered: dict[str, tuple[Image, float]] = {}  # image id -> (image, clock when deregistered)
        self.client_tokens: dict[tuple[str, str, str], tuple[str, str]] = {}  # -> (fingerprint, image)
        self.encryption_by_default: dict[tuple[str, str], bool] = {}
        self.default_key: dict[tuple[str, str], str] = {}  # (account, region) -> key arn
        self.block_public_access: dict[tuple[str, str], str] = {}
        self.allowed_images: dict[tuple[str, str], Any] = {}  # (account, region) -> allowed.AllowedImages
        self.organizations: dict[str, Organization] = {}
        self.instances: dict[str, Instance] = {}
        self.parameters: dict[tuple[str, str, str], Any] = {}  # (account, region, name) -> ssm.Parameter
        self.launch_templates: dict[str, Any] = {}  # template id -> ec2_templates.Template
        self.rbin_rules: dict[str, Any] = {}  # rule id -> rbin.Rule
        self.recycle_bin: dict[str, Any] = {}  # image id -> rbin.Binned
        self.launch_configurations: dict[tuple[str, str, str], dict[str, str]] = {}  # (account, region, name)
        self.autoscaling_groups: dict[tuple[str, str, str], Any] = {}  # (account, region, name) -> autoscaling.Group
        self.volumes: dict[str, Volume] = {}
        self.sessions: dict[str, Caller] = {}  # access key id -> caller
        self.calls: list[Call] = []
        self.authorizations: list[Any] = []  # authz.Authorization of each identity check (enforce_iam only)
        self.after_calls: list[AfterCall] = []  # Sandbox.after: what runs once a matching call has been answered
        self.events: list[Any] = []  # events.Event: every event a service put on a default bus, in order
        self.outbox: list[Any] = []  # events.Event put but not yet delivered to the rules' targets
        self.copies_in_flight: list[tuple[float, str, str]] = []  # heap: (clock when done, image id, request id)
        self.delivery_lock = threading.Lock()  # one delivery at a time: targets receive events in order

    # ------------------------------------------------------------------ organizations
    def organization_of(self, account: str) -> Organization | None:
        for org in self.organizations.values():
            if account == org.master or account in org.parents:
                return org
        return None

    def principal_context(self, caller: Caller) -> dict[str, Any]:
        """Global condition keys describing the caller (IAM ``aws:Principal*`` keys) and a request it makes itself
        (``aws:ViaAWSService`` false: "always included in the request context"; a service's request on its behalf,
        EC2 using a key for its launch or copy, sets it true)."""
        context: dict[str, Any] = {
            "aws:PrincipalAccount": caller.account,
            "aws:PrincipalArn": caller.role_arn or caller.arn,
            "aws:ViaAWSService": "false",
        }
        org = self.organization_of(caller.account)
        if org is not None:
            context["aws:PrincipalOrgID"] = org.org_id
            context["aws:PrincipalOrgPaths"] = org.org_paths(caller.account)
        return context
