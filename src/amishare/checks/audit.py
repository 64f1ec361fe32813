"""Who can use which image, across accounts and regions, and what is wrong with it (pure; ``amishare audit``).

An image is usable by a principal only when three gates are open in its region (docs/aws-facts.md section 1):
launch permission, snapshot permission, key access. Tools that read launch permissions alone miss the
other two; this reads all three for every image the audited accounts own, plus the snapshots and keys
themselves, and reports findings with a stable code (docs/audit.md):

    PUBLIC_IMAGE                   critical  an image anyone can launch
    PUBLIC_SNAPSHOT                critical  a snapshot anyone can copy
    OUTSIDE_ALLOWLIST              high      a gate open to an account, organization or OU that is neither allowed
                                             (--allow, or [audit] allow) nor in the caller's organization
    KEY_ACCESS_UNSCOPED            high      a key statement for other principals without kms:ViaService, or with
                                             kms:* or key administration
    SNAPSHOT_SHARED_WITHOUT_IMAGE  medium    a snapshot shared with an account no image on it is shared with
    KEY_ACCESS_WITHOUT_SHARE       medium    a key admits an account no image on that key is shared with
    SHARE_UNUSABLE                 medium    a launch permission without the snapshot or key access it needs
    UNENCRYPTED_SHARED             medium    an unencrypted image or snapshot shared with others (named)
    IMAGE_BPA_OFF                  low       image block public access is off in the account and region
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from amishare.checks import gates
from amishare.checks.verify import encrypted_copy_name
from amishare.model import (
    ACCOUNT_ID,
    ImageInfo,
    KeyInfo,
    LaunchPermissions,
    Observation,
    SnapshotInfo,
    Target,
    TargetKind,
    account_target,
    arn_account,
)

SEVERITIES = ("critical", "high", "medium", "low")
CODES = {
    "PUBLIC_IMAGE": "critical",
    "PUBLIC_SNAPSHOT": "critical",
    "OUTSIDE_ALLOWLIST": "high",
    "KEY_ACCESS_UNSCOPED": "high",
    "SNAPSHOT_SHARED_WITHOUT_IMAGE": "medium",
    "KEY_ACCESS_WITHOUT_SHARE": "medium",
    "SHARE_UNUSABLE": "medium",
    "UNENCRYPTED_SHARED": "medium",
    "IMAGE_BPA_OFF": "low",
}
KEY_ADMINISTRATION = (
    "kms:*",
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
    "kms:DisableKey",
    "kms:CancelKeyDeletion",
    "kms:UpdateKeyDescription",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:TagResource",
    "kms:EnableKeyRotation",
    "kms:DisableKeyRotation",
    "kms:RevokeGrant",
    "kms:RetireGrant",
)
_ORG_ID = re.compile(r"o-[a-z0-9]{10,32}")
_OU_ID = re.compile(r"ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}")
EVERYONE = "*"


@dataclass(frozen=True)
class Finding:
    code: str
    image: str  # image id, or "" for a finding about a snapshot, key or the account
    account: str
    region: str
    principal: str  # who the finding is about: an account, organization, OU, "public", "*", or ""
    detail: str
    fix: str
    resource: str = ""  # the snapshot or key concerned, when not the image

    @property
    def severity(self) -> str:
        return CODES[self.code]

    def to_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "severity": self.severity,
            "image": self.image,
            "account": self.account,
            "region": self.region,
            "principal": self.principal,
            "resource": self.resource,
            "detail": self.detail,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class AccountRegion:
    """What was read in one account and region."""

    account: str
    region: str
    images: tuple[ImageInfo, ...]
    snapshots: tuple[SnapshotInfo, ...]  # every snapshot the account owns there (images' and others)
    keys: Mapping[str, KeyInfo]  # the keys of those snapshots, by ARN
    block_public_access: str | None  # image block public access state; None when not readable
    error: str | None = None  # why this account and region could not be read


@dataclass(frozen=True)
class Allowlist:
    """Who may be given access without a finding: what --allow (or ``[audit] allow``) names, and the caller's
    organization. Never an account only because the config names it: allowing is explicit."""

    accounts: frozenset[str] = frozenset()
    organizations: frozenset[str] = frozenset()  # organization ids (o-...)
    ous: frozenset[str] = frozenset()  # OU ids (ou-...)
    own_org: str | None = None  # the caller's organization id
    members: frozenset[str] | None = None  # its accounts, when the caller could list them

    def admits_account(self, account: str) -> bool:
        return account in self.accounts or (self.members is not None and account in self.members)

    def admits_org(self, org_id: str) -> bool:
        return org_id in self.organizations or org_id == self.own_org

    def admits_ou(self, ou_arn_or_path: str) -> bool:
        ou = _OU_ID.findall(ou_arn_or_path)
        org = _ORG_ID.findall(ou_arn_or_path)
        return bool(ou and ou[-1] in self.ous) or bool(org and org[0] == self.own_org)


@dataclass(frozen=True)
class Cell:
    """One image x principal: how many of the gates that apply are open."""

    open: int
    of: int
    launch: str
    snapshots: str
    key: str


@dataclass(frozen=True)
class AuditReport:
    findings: tuple[Finding, ...]
    scanned: Mapping[str, int]
    errors: tuple[str, ...]
    principals: tuple[str, ...]  # the matrix's columns
    matrix: Mapping[tuple[str, str], Mapping[str, Cell]]  # (account, image id) -> principal -> cell
    images: Mapping[tuple[str, str], ImageInfo]
    unread: tuple[tuple[str, str], ...] = ()  # (account, region) asked for and not read; ``errors`` says why

    @property
    def unread_accounts(self) -> tuple[str, ...]:
        """The accounts asked for of which at least one region could not be read."""
        return tuple(sorted({account for account, _ in self.unread}))

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)


def audit(reads: Iterable[AccountRegion], allow: Allowlist) -> AuditReport:
    """Findings and the who-can-use-what matrix of everything ``reads`` holds."""
    findings: list[Finding] = []
    matrix: dict[tuple[str, str], dict[str, Cell]] = {}
    images: dict[tuple[str, str], ImageInfo] = {}
    errors, unread = [], []
    scanned = {"accounts": 0, "regions": 0, "images": 0, "snapshots": 0, "keys": 0}
    accounts, regions = set(), set()
    for read in reads:
        if read.error:
            errors.append(f"{read.account} {read.region}: {read.error}")
            unread.append((read.account, read.region))
            continue
        accounts.add(read.account)
        regions.add(read.region)
        scanned["images"] += len(read.images)
        scanned["snapshots"] += len(read.snapshots)
        scanned["keys"] += len(read.keys)
        findings += _account_region(read, allow)
        for image in read.images:
            images[(read.account, image.image_id)] = image
            matrix[(read.account, image.image_id)] = _row(read, image)
    scanned["accounts"], scanned["regions"] = len(accounts), len(regions)
    principals = sorted({p for row in matrix.values() for p in row}, key=_principal_order)
    findings.sort(key=lambda f: (SEVERITIES.index(f.severity), f.code, f.account, f.region, f.image, f.principal))
    return AuditReport(tuple(findings), scanned, tuple(errors), tuple(principals), matrix, images, tuple(unread))


def _principal_order(principal: str) -> tuple[int, str]:
    return (0 if principal == "public" else 1 if ACCOUNT_ID.match(principal) else 2, principal)


# ------------------------------------------------------------------------------------ matrix
def _row(read: AccountRegion, image: ImageInfo) -> dict[str, Cell]:
    targets = [t for t in gates.known_targets(image, dict(read.keys)) if t.value != read.account]
    obs = Observation(read.account, read.region, image, dict(read.keys))
    row = {}
    for report in gates.report(obs, image, targets):
        applicable = [g for g in (report.launch, report.snapshots, report.key) if g.state != "n/a"]
        row[_principal(report.target)] = Cell(
            open=sum(1 for g in applicable if g.state == "open"),
            of=len(applicable),
            launch=report.launch.state,
            snapshots=report.snapshots.state,
            key=report.key.state,
        )
    return row


def _principal(target: Target) -> str:
    return "public" if target.kind is TargetKind.PUBLIC else target.value


# ---------------------------------------------------------------------------------- findings
def _account_region(read: AccountRegion, allow: Allowlist) -> list[Finding]:
    found: list[Finding] = []
    emit = _emitter(read, found)
    if read.block_public_access == "unblocked":
        emit(
            "IMAGE_BPA_OFF",
            "",
            "",
            f"image block public access is off in {read.account} {read.region}: any image can be made public",
            f"aws ec2 enable-image-block-public-access --image-block-public-access-state block-new-sharing "
            f"--region {read.region}",
        )
    for image in read.images:
        _image_findings(read, image, allow, emit)
    _snapshot_findings(read, allow, emit)
    for key in read.keys.values():
        _key_findings(read, key, allow, emit)
    return found


Emit = Callable[..., None]


def _emitter(read: AccountRegion, found: list[Finding]) -> Emit:
    seen: set[tuple[str, str, str, str]] = set()

    def emit(code: str, image: str, principal: str, detail: str, fix: str, resource: str = "") -> None:
        if (code, image, principal, resource) not in seen:
            seen.add((code, image, principal, resource))
            found.append(Finding(code, image, read.account, read.region, principal, detail, fix, resource))

    return emit


def _image_findings(read: AccountRegion, image: ImageInfo, allow: Allowlist, emit: Emit) -> None:
    iid = image.image_id

    def revoke(who: str) -> str:
        return f"`amishare revoke {iid} --region {read.region} --from {who}`"

    launch = image.launch
    if launch.public:
        emit("PUBLIC_IMAGE", iid, "public", f"{iid} ({image.name}) can be launched by anyone", revoke("public"))
    holders = _holders(read.account, launch)
    if holders and not image.encrypted:
        _unencrypted_image(read, image, holders, emit)
    for account in sorted(launch.accounts):
        if account != read.account and not allow.admits_account(account):
            emit("OUTSIDE_ALLOWLIST", iid, account, _outside("launch permission", iid, account), revoke(account))
    for org in sorted(launch.organizations):
        if not allow.admits_org(_org_of(org)):
            emit("OUTSIDE_ALLOWLIST", iid, org, _outside("launch permission", iid, org), revoke(org))
    for ou in sorted(launch.ous):
        if not allow.admits_ou(ou):
            emit("OUTSIDE_ALLOWLIST", iid, ou, _outside("launch permission", iid, ou), revoke(ou))
    _unusable(read, image, emit)


def _holders(owner: str, launch: LaunchPermissions) -> list[str]:
    """Who a launch permission admits besides its owner: accounts, organizations, OUs, and ``public``."""
    found = sorted(launch.accounts - {owner}) + sorted(launch.organizations) + sorted(launch.ous)
    return found + ["public"] * launch.public


def _unencrypted_image(read: AccountRegion, image: ImageInfo, holders: list[str], emit: Emit) -> None:
    """UNENCRYPTED_SHARED of an image: whom it is shared with, and how to move them to an encrypted copy
    (an encrypted image cannot be public: the public are only revoked)."""
    iid, region, who = image.image_id, read.region, ", ".join(holders)
    named = ",".join(h for h in holders if h != "public")
    copy = (
        f"encrypt a copy (aws ec2 copy-image --source-image-id {iid} --source-region {region} --region {region} "
        f"--name {encrypted_copy_name(image.name)} --encrypted --kms-key-id alias/YOUR-SHARE-KEY), share the copy "
        f"(`amishare share COPY --to {named} --region {region}`), then "
    )
    emit(
        "UNENCRYPTED_SHARED",
        iid,
        who,
        f"{iid} ({image.name}) is shared with {who} and its volumes are not encrypted",
        (copy if named else "")
        + f"revoke this one (`amishare revoke {iid} --from {','.join(holders)} --region {region}`)",
    )


def _outside(gate: str, resource: str, principal: str) -> str:
    return (
        f"the {gate} of {resource} admits {principal}, which is neither allowed (--allow, [audit] allow) "
        "nor in the caller's organization"
    )


def _org_of(arn: str) -> str:
    found = _ORG_ID.findall(arn)
    return found[0] if found else arn


def _unusable(read: AccountRegion, image: ImageInfo, emit: Emit) -> None:
    """SHARE_UNUSABLE: a launch permission whose holder cannot launch (key) or, for an account, copy (snapshots).
    An organization or OU is never given snapshots (AWS cannot): only its key access is judged."""
    launch = image.launch
    targets = [account_target(a) for a in sorted(launch.accounts) if a != read.account]
    targets += [Target(TargetKind.ORGANIZATION, o) for o in sorted(launch.organizations)]
    targets += [Target(TargetKind.OU, o) for o in sorted(launch.ous)]
    if not targets:
        return
    obs = Observation(read.account, read.region, image, dict(read.keys))
    for report in gates.report(obs, image, targets):
        account = report.target.kind is TargetKind.ACCOUNT
        closed = [("key", report.key)] + ([("snapshots", report.snapshots)] if account else [])
        missing = [f"{name}: {gate.reason}" for name, gate in closed if gate.state == "closed"]
        if not missing:
            continue
        who = report.target.value
        verb = "launch or copy" if report.key.state == "closed" else "copy"
        holder = who if account else f"the members of {who}"
        emit(
            "SHARE_UNUSABLE",
            image.image_id,
            who,
            f"{holder} have the launch permission of {image.image_id} but cannot {verb} it: {'; '.join(missing)}"
            if not account
            else f"{who} has the launch permission of {image.image_id} but cannot {verb} it: {'; '.join(missing)}",
            f"`amishare share {image.image_id} --to {who} --region {read.region}` (opens every gate it can), "
            f"or `amishare revoke {image.image_id} --from {who} --region {read.region}`",
        )


def _snapshot_findings(read: AccountRegion, allow: Allowlist, emit: Emit) -> None:
    users: dict[str, set[str]] = {}  # snapshot -> accounts that can launch an image on it
    for image in read.images:
        for snapshot in image.snapshots:
            users.setdefault(snapshot.snapshot_id, set()).update(image.launch.accounts)
            if image.launch.public or image.launch.organizations or image.launch.ous:
                users[snapshot.snapshot_id].add(EVERYONE)  # an org or OU may hold any account: not judged
    for snapshot in read.snapshots:
        sid = snapshot.snapshot_id
        revoke = (
            f"aws ec2 modify-snapshot-attribute --snapshot-id {sid} --attribute createVolumePermission "
            f"--operation-type remove --region {read.region} --user-ids"
        )
        if snapshot.public:
            emit(
                "PUBLIC_SNAPSHOT",
                "",
                "public",
                f"snapshot {sid} can be copied by anyone",
                f"{revoke[:-11]} --group-names all",
                sid,
            )
        if (snapshot.public or snapshot.shared_with) and snapshot.key_arn is None:
            holders = sorted(snapshot.shared_with - {read.account}) + ["public"] * snapshot.public
            fixes = [f"{revoke} {' '.join(sorted(snapshot.shared_with))}"] * bool(snapshot.shared_with)
            fixes += [f"{revoke[:-11]} --group-names all"] * snapshot.public
            emit(
                "UNENCRYPTED_SHARED",
                "",
                ", ".join(holders),
                f"snapshot {sid} is shared with {', '.join(holders)} and not encrypted",
                "; ".join(fixes),
                sid,
            )
        known = users.get(sid, set())
        for account in sorted(snapshot.shared_with):
            if not allow.admits_account(account) and account != read.account:
                emit(
                    "OUTSIDE_ALLOWLIST",
                    "",
                    account,
                    _outside("createVolumePermission", sid, account),
                    f"{revoke} {account}",
                    sid,
                )
            if account not in known and EVERYONE not in known:
                emit(
                    "SNAPSHOT_SHARED_WITHOUT_IMAGE",
                    "",
                    account,
                    f"snapshot {sid} is shared with {account}, which no image on it is shared with"
                    + ("" if sid in users else " (no image of this account uses it)"),
                    f"{revoke} {account}",
                    sid,
                )


# ---------------------------------------------------------------------------------------- keys
@dataclass
class _Admits:
    accounts: dict[str, str] = field(default_factory=dict)  # account -> how (statement Sid or grant)
    organizations: dict[str, str] = field(default_factory=dict)
    ous: dict[str, str] = field(default_factory=dict)
    everyone: str | None = None


def admitted(key: KeyInfo) -> _Admits:
    """Every principal other than the key's account that a statement or grant of ``key`` lets use it."""
    out = _Admits()
    for statement in _statements(key.policy or {}):
        if statement.get("Effect") != "Allow":
            continue
        sid = f"statement {statement.get('Sid', '(no Sid)')}"
        principals = _aws_principals(statement)
        condition = statement.get("Condition", {})
        callers = _condition_values(condition, "kms:calleraccount")
        orgs = _condition_values(condition, "aws:principalorgid")
        paths = _condition_values(condition, "aws:principalorgpaths")
        for principal in principals:
            account = principal if ACCOUNT_ID.match(principal) else arn_account(principal)
            if account and account != key.account:
                out.accounts.setdefault(account, sid)
        if EVERYONE in principals:
            for account in callers:
                out.accounts.setdefault(account, sid)
            for org in orgs:
                out.organizations.setdefault(org, sid)
            for path in paths:
                out.ous.setdefault(path, sid)
            if not (callers or orgs or paths):
                out.everyone = sid
    for grant in key.grants:
        account = arn_account(grant.grantee)
        if account and account != key.account:
            out.accounts.setdefault(account, f"grant {grant.name or grant.grant_id}")
    return out


def _key_findings(read: AccountRegion, key: KeyInfo, allow: Allowlist, emit: Emit) -> None:
    if key.aws_managed or key.policy is None or key.account != read.account:
        return
    admits = admitted(key)
    on_key = [i for i in read.images if key.arn in i.key_arns]
    shared_with = {a for i in on_key for a in i.launch.accounts}
    shared_widely = any(i.launch.public or i.launch.organizations or i.launch.ous for i in on_key)
    policy_fix = (
        f"remove it from the policy of {key.arn} (for amishare's own statements: "
        f"`amishare revoke IMAGE --from ACCOUNT --region {read.region}`)"
    )
    for account, how in sorted(admits.accounts.items()):
        if not allow.admits_account(account):
            emit(
                "OUTSIDE_ALLOWLIST",
                "",
                account,
                _outside(f"key access ({how})", key.display, account),
                policy_fix,
                key.arn,
            )
        if account not in shared_with and not shared_widely:
            emit(
                "KEY_ACCESS_WITHOUT_SHARE",
                "",
                account,
                f"key {key.display} admits {account} ({how}) but no image on it in {read.region} is shared with it",
                policy_fix,
                key.arn,
            )
    for org, how in sorted(admits.organizations.items()):
        if not allow.admits_org(org):
            emit("OUTSIDE_ALLOWLIST", "", org, _outside(f"key access ({how})", key.display, org), policy_fix, key.arn)
    for path, how in sorted(admits.ous.items()):
        if not allow.admits_ou(path):
            emit("OUTSIDE_ALLOWLIST", "", path, _outside(f"key access ({how})", key.display, path), policy_fix, key.arn)
    if admits.everyone:
        emit(
            "OUTSIDE_ALLOWLIST",
            "",
            EVERYONE,
            f"key {key.display} admits every AWS account ({admits.everyone}, Principal * without an account or "
            "organization condition)",
            policy_fix,
            key.arn,
        )
    _unscoped(read, key, emit)


def _unscoped(read: AccountRegion, key: KeyInfo, emit: Emit) -> None:
    for statement in _statements(key.policy or {}):
        if statement.get("Effect") != "Allow":
            continue
        others = [p for p in _aws_principals(statement) if p == EVERYONE or (arn_account(p) or p) != key.account]
        if not others:
            continue
        actions = [str(a) for a in _as_list(statement.get("Action", []))]
        admin = [a for a in actions if a in KEY_ADMINISTRATION or a.lower() in ("kms:*", "*")]
        condition = statement.get("Condition", {})
        via = _condition_values(condition, "kms:viaservice")
        if [a.lower() for a in actions] == ["kms:creategrant"] and _condition_values(condition, "kms:granteeprincipal"):
            continue  # a grant for a named principal (Auto Scaling's role): made through KMS, not EC2, by design
        why = []
        if admin:
            why.append(f"grants {', '.join(admin)}")
        if not via:
            why.append("has no kms:ViaService condition (usable outside EC2)")
        if why:
            sid = statement.get("Sid", "(no Sid)")
            emit(
                "KEY_ACCESS_UNSCOPED",
                "",
                ", ".join(others),
                f"statement {sid} of key {key.display} for {', '.join(others)} {' and '.join(why)}",
                f"limit it to the actions EC2 needs, with kms:ViaService ec2.{read.region}.amazonaws.com and "
                "kms:CallerAccount (the statements amishare's share writes are scoped so)",
                key.arn,
            )


def _statements(policy: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = policy.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _aws_principals(statement: Mapping[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if principal == EVERYONE:
        return [EVERYONE]
    if not isinstance(principal, dict):
        return []
    return [str(p) for p in _as_list(principal.get("AWS", []))]


def _condition_values(condition: Mapping[str, Any], name: str) -> list[str]:
    return [
        str(v)
        for clauses in condition.values()
        if isinstance(clauses, dict)
        for key, values in clauses.items()
        if key.lower() == name
        for v in _as_list(values)
    ]
