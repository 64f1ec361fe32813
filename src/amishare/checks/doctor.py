"""Why can't this account see, launch or copy this image? (pure; ``amishare doctor``)

From the owner's view (the image, its launch and snapshot permissions, its keys' policies and grants)
and, when the target has a configured role, the target's view (what it sees of the image and its
snapshots, its Allowed AMIs setting, its own key for copies, a dry run of the launch and the copy), each
capability gets a verdict and, when it does not work, every cause with a stable code and the fix.
docs/aws-facts.md sections 1, 2, 5 and 7 are the rules; the codes are documented in docs/doctor.md:

    NOT_IN_REGION              no such image in the region (the regions where it does exist are named)
    DEREGISTERED               the image was deregistered
    DISABLED                   the image is disabled (DisableImage removed every launch permission)
    DEPRECATED                 past its deprecation time (a warning: it still launches)
    NO_LAUNCH_PERMISSION       the launch permission names neither the account, its organization or OU, nor all
    SNAPSHOT_NOT_SHARED        a snapshot lacks createVolumePermission for the account (copy only)
    AWS_MANAGED_KEY            a volume is encrypted with aws/ebs: no other account can ever use it
    KEY_POLICY_MISSING_ACCOUNT no statement or grant of the key admits the account
    KEY_CONDITION_MISMATCH     a statement admits the account but a condition does not hold (which one, and why)
    KEY_EXPLICIT_DENY          a Deny statement of the key matches the account's use
    KEY_DISABLED               the key is disabled or pending deletion
    DEST_KEY_UNUSABLE          the target's own key for its copy is missing, disabled or not usable by it
    AUTOSCALING_GRANT_MISSING  no grant of the key to the account's Auto Scaling service-linked role
    ALLOWED_AMIS_BLOCKS        the account's Allowed AMIs criteria do not allow the image
    ROLE_PRINCIPAL_ID          the key policy names a principal by unique id (a deleted role): it admits no one
    NOT_VISIBLE_FROM_HERE      every gate amishare can see is open, yet the target's dry run is refused
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from amishare.model import ImageInfo, KeyInfo
from amishare.policy import key_policy
from amishare.policy.access import (
    AUTOSCALING_GRANT_OPERATIONS,
    AUTOSCALING_ROLE,
    LAUNCH_KEY_OPERATIONS,
    SOURCE_KEY_USED_OPERATIONS,
    account_root,
    via_ec2,
)
from amishare.policy.evaluate import Caller, Request, UnsupportedCondition, conditions_hold, statement_matches

CAPABILITIES = ("see", "launch", "copy", "autoscaling-launch")
DEFAULT_NEEDS = ("see", "launch", "copy")
CODES = (
    "NOT_IN_REGION",
    "DEREGISTERED",
    "DISABLED",
    "DEPRECATED",
    "NO_LAUNCH_PERMISSION",
    "SNAPSHOT_NOT_SHARED",
    "AWS_MANAGED_KEY",
    "KEY_POLICY_MISSING_ACCOUNT",
    "KEY_CONDITION_MISMATCH",
    "KEY_EXPLICIT_DENY",
    "KEY_DISABLED",
    "DEST_KEY_UNUSABLE",
    "AUTOSCALING_GRANT_MISSING",
    "ALLOWED_AMIS_BLOCKS",
    "ROLE_PRINCIPAL_ID",
    "NOT_VISIBLE_FROM_HERE",
)
WARNINGS = frozenset({"DEPRECATED"})
UNIQUE_ID = re.compile(r"^(AROA|AIDA|AGPA|ANPA)[A-Z0-9]{12,}$")  # IAM unique ids (roles, users, groups)


@dataclass(frozen=True)
class Cause:
    """One reason a capability does not work (or, for a warning, a risk to it), and the fix."""

    code: str
    detail: str
    fix: str

    @property
    def warning(self) -> bool:
        return self.code in WARNINGS

    def to_dict(self) -> dict[str, Any]:
        out = {"code": self.code, "detail": self.detail, "fix": self.fix}
        if self.warning:
            out["severity"] = "warning"
        return out


@dataclass(frozen=True)
class Capability:
    name: str
    causes: tuple[Cause, ...]

    @property
    def ok(self) -> bool:
        return all(c.warning for c in self.causes)


@dataclass(frozen=True)
class TargetView:
    """What the target account itself observed, through its configured role."""

    sees_image: bool
    allowed_state: str = "disabled"  # its Allowed AMIs setting: disabled | audit-mode | enabled
    image_allowed: bool | None = None  # ImageAllowed, as the target's DescribeImages reports it
    visible_snapshots: frozenset[str] = frozenset()
    dest_key_ref: str | None = None  # the target's own key for its copy, when one is configured or given
    dest_key: KeyInfo | None = None
    dest_key_error: str | None = None
    refused: Mapping[str, str] = field(default_factory=dict)  # capability -> why its dry run was refused
    criteria: tuple[Mapping[str, Any], ...] = ()  # its Allowed AMIs image criteria


@dataclass(frozen=True)
class DoctorFacts:
    """What amishare observed, from the owner's side and (when it could) the target's."""

    image_id: str
    account: str  # the target
    region: str
    state: str  # available | pending | failed | disabled | deregistered | missing (not in the region)
    image: ImageInfo | None  # the owner's view, None when not in the region
    keys: Mapping[str, KeyInfo]
    elsewhere: tuple[str, ...] = ()  # regions where an image with this id exists, when not in ``region``
    deprecation_time: str | None = None
    created: str | None = None  # the image's CreationDate
    org_id: str | None = None  # the target's organization and OU path (o-x/r-x/ou-a/), when known
    org_paths: tuple[str, ...] = ()
    target: TargetView | None = None
    target_note: str = "no role is configured for the account"  # why there is no target view, when none


@dataclass(frozen=True)
class Diagnosis:
    image_id: str
    account: str
    region: str
    capabilities: dict[str, Capability]
    target_view: bool  # whether the target's own view was read
    target_note: str = ""  # why it was not

    def works(self, needs: Iterable[str]) -> bool:
        return all(self.capabilities[n].ok for n in needs)

    @property
    def codes(self) -> list[str]:
        return sorted({c.code for cap in self.capabilities.values() for c in cap.causes})

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.image_id,
            "account": self.account,
            "region": self.region,
            "target_view": self.target_view,
            **({"target_note": self.target_note} if self.target_note else {}),
            "capabilities": {
                name: {"ok": cap.ok, "causes": [c.to_dict() for c in cap.causes]}
                for name, cap in self.capabilities.items()
            },
        }


def diagnose(facts: DoctorFacts, now: dt.datetime) -> Diagnosis:
    """Each capability's verdict and causes for ``facts`` at ``now``."""
    blocking = _image_causes(facts)
    if blocking:
        stopped = {name: Capability(name, tuple(blocking)) for name in CAPABILITIES}
        return Diagnosis(facts.image_id, facts.account, facts.region, stopped, *_view(facts))
    assert facts.image is not None
    image = facts.image
    managed = _aws_managed(facts, image)
    if managed:  # no other account can ever use it: the other gates cannot even be opened
        stopped = {name: Capability(name, (managed,)) for name in CAPABILITIES}
        return Diagnosis(facts.image_id, facts.account, facts.region, stopped, *_view(facts))
    see = _deprecation(facts, now) + _launch_permission(facts, image) + _allowed_amis(facts, now)
    launch_keys = _key_causes(facts, image, LAUNCH_KEY_OPERATIONS, "launch")
    copy_keys = _key_causes(facts, image, SOURCE_KEY_USED_OPERATIONS, "copy")
    blocked_see = [c for c in see if not c.warning]
    launch = blocked_see + launch_keys
    copy = blocked_see + _snapshot_causes(facts, image) + copy_keys + _dest_key_causes(facts)
    autoscaling = launch + _autoscaling_causes(facts, image)
    found = {"see": see, "launch": launch, "copy": copy, "autoscaling-launch": autoscaling}
    caps = {name: _dedupe(causes) + _unseen(facts, name, causes) for name, causes in found.items()}
    return Diagnosis(
        facts.image_id,
        facts.account,
        facts.region,
        {name: Capability(name, tuple(causes)) for name, causes in caps.items()},
        *_view(facts),
    )


def _view(facts: DoctorFacts) -> tuple[bool, str]:
    return (True, "") if facts.target is not None else (False, facts.target_note)


# ------------------------------------------------------------------------------ the image itself
def _image_causes(facts: DoctorFacts) -> list[Cause]:
    where = f"in {facts.region}"
    if facts.state == "missing":
        if facts.elsewhere:
            regions = ", ".join(facts.elsewhere)
            return [
                Cause(
                    "NOT_IN_REGION",
                    f"{facts.image_id} does not exist {where}; it exists in {regions} (AMIs are regional)",
                    f"copy it into {facts.region} and share the copy (amishare transfer {facts.image_id} "
                    f"--region {facts.elsewhere[0]} --regions {facts.region} ...), or look in {regions}",
                )
            ]
        return [
            Cause(
                "NOT_IN_REGION",
                f"{facts.image_id} does not exist {where} nor in any other region of the owner amishare looked in",
                "check the image id and --region",
            )
        ]
    if facts.state == "deregistered":
        return [
            Cause(
                "DEREGISTERED",
                f"{facts.image_id} was deregistered {where}",
                "share a current image (or restore this one from the Recycle Bin if a retention rule kept it)",
            )
        ]
    if facts.state == "disabled":
        return [
            Cause(
                "DISABLED",
                f"{facts.image_id} is disabled: DisableImage removed every launch permission",
                f"aws ec2 enable-image --image-id {facts.image_id} --region {facts.region}, then share it again "
                f"(amishare share {facts.image_id} --to {facts.account} --region {facts.region}): "
                "enabling does not restore the permissions",
            )
        ]
    if facts.state != "available":
        return [
            Cause(
                "DEREGISTERED",
                f"{facts.image_id} is {facts.state} {where}",
                "wait for a pending image; a failed one must be built or copied again",
            )
        ]
    return []


def _deprecation(facts: DoctorFacts, now: dt.datetime) -> list[Cause]:
    if not facts.deprecation_time:
        return []
    if _time(facts.deprecation_time) > now:
        return []
    return [
        Cause(
            "DEPRECATED",
            f"{facts.image_id} is deprecated since {facts.deprecation_time}: it still launches, but other accounts "
            "find it only by id (listings hide it)",
            f"move to a current image, or aws ec2 disable-image-deprecation --image-id {facts.image_id}",
        )
    ]


def _launch_permission(facts: DoctorFacts, image: ImageInfo) -> list[Cause]:
    launch = image.launch
    if launch.public or facts.account in launch.accounts:
        return []
    if facts.org_id and any(arn.endswith(f"/{facts.org_id}") for arn in launch.organizations):
        return []
    paths = "".join(facts.org_paths)
    if any(arn.rsplit("/", 1)[-1] in paths for arn in launch.ous):
        return []
    if facts.target is not None and facts.target.sees_image:
        return []  # shared through an organization or OU the owner's view could not place the account in
    shared = launch.targets()
    known = f"it is shared with {', '.join(str(t) for t in shared)}" if shared else "it is shared with no one"
    unsure = (
        " (amishare could not tell whether the account belongs to those organizations or OUs: neither the "
        "owner is the management account nor the target has a configured role)"
        if (launch.organizations or launch.ous) and not facts.org_id and facts.target is None
        else ""
    )
    return [
        Cause(
            "NO_LAUNCH_PERMISSION",
            f"the launch permission of {facts.image_id} does not include {facts.account}: {known}{unsure}",
            f"amishare share {facts.image_id} --to {facts.account} --region {facts.region}",
        )
    ]


def _allowed_amis(facts: DoctorFacts, now: dt.datetime) -> list[Cause]:
    view = facts.target
    if view is None or view.allowed_state != "enabled":
        return []
    allowed = view.image_allowed
    if allowed is None:  # hidden from the target (enabled hides what is not allowed): judge its criteria
        allowed = any(_criterion_allows(c, facts, now) for c in view.criteria)
    if allowed:
        return []
    return [
        Cause(
            "ALLOWED_AMIS_BLOCKS",
            f"account {facts.account}'s Allowed AMIs setting is enabled in {facts.region} and its criteria do not "
            f"allow {facts.image_id}: it is hidden and cannot be launched there",
            f"in account {facts.account}: add the owner {facts.image.owner if facts.image else ''} to its criteria "
            f"(aws ec2 replace-image-criteria-in-allowed-images-settings --image-criteria "
            f"ImageProviders={facts.image.owner if facts.image else 'OWNER'} ... keeping the criteria it has)",
        )
    ]


def _criterion_allows(criterion: Mapping[str, Any], facts: DoctorFacts, now: dt.datetime) -> bool:
    """Whether one Allowed AMIs criterion admits the image (EC2 User Guide, "Allowed AMIs": every parameter of
    a criterion must match; Marketplace codes and the amazon/aws-marketplace providers cannot match it)."""
    assert facts.image is not None
    providers = criterion.get("ImageProviders") or []
    if providers and facts.image.owner not in providers:
        return False
    names = criterion.get("ImageNames") or []
    if names and not any(fnmatch.fnmatchcase(facts.image.name, n) for n in names):
        return False
    if criterion.get("MarketplaceProductCodes"):
        return False
    days = (criterion.get("CreationDateCondition") or {}).get("MaximumDaysSinceCreated")
    if days is not None and facts.created and now - _time(facts.created) > dt.timedelta(days=int(days)):
        return False
    days = (criterion.get("DeprecationTimeCondition") or {}).get("MaximumDaysSinceDeprecated")
    return not (
        days is not None
        and facts.deprecation_time
        and now - _time(facts.deprecation_time) > dt.timedelta(days=int(days))
    )


def _time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _aws_managed(facts: DoctorFacts, image: ImageInfo) -> Cause | None:
    for arn in image.key_arns:
        key = facts.keys.get(arn)
        if key is not None and key.aws_managed:
            return Cause(
                "AWS_MANAGED_KEY",
                f"{facts.image_id} is encrypted with the AWS managed key aws/ebs: AWS refuses to share it (launch "
                "or snapshot permission) and no other account can use the key",
                f"re-encrypt with a customer managed key and share the copy: amishare share {facts.image_id} "
                f"--to {facts.account} --region {facts.region} --share-key alias/YOUR-SHARE-KEY",
            )
    return None


def _snapshot_causes(facts: DoctorFacts, image: ImageInfo) -> list[Cause]:
    missing = [s.snapshot_id for s in image.snapshots if facts.account not in s.shared_with and not s.public]
    if not missing:
        return []
    return [
        Cause(
            "SNAPSHOT_NOT_SHARED",
            f"snapshot(s) {', '.join(missing)} have no createVolumePermission for {facts.account}: a copy fails "
            "(a launch does not need it)",
            f"amishare share {facts.image_id} --to {facts.account} --region {facts.region} (shares the snapshots "
            "with the image; organizations and OUs cannot be given snapshots, only accounts)",
        )
    ]


# ---------------------------------------------------------------------------------------- keys
def _key_causes(facts: DoctorFacts, image: ImageInfo, operations: tuple[str, ...], use: str) -> list[Cause]:
    causes: list[Cause] = []
    for arn in image.key_arns:
        key = facts.keys.get(arn)
        if key is None:
            continue
        causes += _one_key(facts, key, operations, use)
    return causes


def _one_key(facts: DoctorFacts, key: KeyInfo, operations: tuple[str, ...], use: str) -> list[Cause]:
    if key.aws_managed:
        return []  # diagnose() stops at aws/ebs before judging keys
    if key.state != "Enabled":
        return [
            Cause(
                "KEY_DISABLED",
                f"key {key.display} is {key.state}",
                f"aws kms enable-key --key-id {key.arn}"
                if key.state == "Disabled"
                else f"aws kms cancel-key-deletion --key-id {key.arn}, then aws kms enable-key --key-id {key.arn}",
            )
        ]
    root = account_root(facts.account)
    if any(g.grantee == root and set(operations) <= set(g.operations) for g in key.grants):
        return []
    if key.policy is None:
        return []
    return _policy_causes(facts, key, operations, use)


def _context(facts: DoctorFacts) -> dict[str, Any]:
    context: dict[str, Any] = {
        "kms:ViaService": via_ec2(facts.region),
        "kms:CallerAccount": facts.account,
        "kms:GrantIsForAWSResource": True,
        "aws:PrincipalAccount": facts.account,
        "aws:PrincipalArn": account_root(facts.account),
    }
    if facts.org_id:
        context["aws:PrincipalOrgID"] = facts.org_id
        context["aws:PrincipalOrgPaths"] = list(facts.org_paths)
    return context


def _policy_causes(facts: DoctorFacts, key: KeyInfo, operations: tuple[str, ...], use: str) -> list[Cause]:
    """One cause per key: the first kind of failure found, naming every operation it stops."""
    assert key.policy is not None
    statements = _statements(key.policy)
    caller = Caller(account=facts.account, arn=account_root(facts.account))
    context = _context(facts)
    denied: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for operation in operations:
        request = Request(caller, f"kms:{operation}", key.arn, context)
        try:
            matched = [s for s in statements if statement_matches(s, request)]
        except UnsupportedCondition:
            continue  # a condition amishare cannot judge: not a cause it can name
        deny = next((s for s in matched if s.get("Effect") == "Deny"), None)
        if deny is not None:
            denied[operation] = deny
        elif not any(s.get("Effect") == "Allow" for s in matched):
            missing.append(operation)
    if denied:
        return [_deny_cause(facts, key, denied, use)]
    if missing:
        request = Request(caller, f"kms:{missing[0]}", key.arn, context)
        return [_missing_cause(facts, key, statements, request, [f"kms:{m}" for m in missing], use)]
    return []


def _deny_cause(facts: DoctorFacts, key: KeyInfo, denied: dict[str, dict[str, Any]], use: str) -> Cause:
    sids = sorted({str(s.get("Sid", "(no Sid)")) for s in denied.values()})
    actions = ", ".join(f"kms:{o}" for o in denied)
    return Cause(
        "KEY_EXPLICIT_DENY",
        f"statement {', '.join(sids)} of key {key.display} denies {actions} to {facts.account} through EC2 in "
        f"{facts.region}: an explicit deny wins over every allow, so it cannot {use} the image",
        f"remove or narrow the Deny statement {', '.join(sids)} in the policy of {key.arn}",
    )


def _missing_cause(
    facts: DoctorFacts,
    key: KeyInfo,
    statements: list[dict[str, Any]],
    request: Request,
    actions: list[str],
    use: str,
) -> Cause:
    share = f"amishare share {facts.image_id} --to {facts.account} --region {facts.region}"
    wanted = ", ".join(actions)
    mismatches = []
    for statement in statements:
        if statement.get("Effect") != "Allow" or not _names_account(statement, facts):
            continue
        if not statement_matches({**statement, "Condition": {}}, request):
            continue
        failing = _failing_conditions(statement.get("Condition", {}), request)
        if failing:
            mismatches.append(f"statement {statement.get('Sid', '(no Sid)')}: {'; '.join(failing)}")
    if mismatches:
        return Cause(
            "KEY_CONDITION_MISMATCH",
            f"key {key.display} names {facts.account} for {wanted} but a condition does not hold when it "
            f"{'launches' if use == 'launch' else 'copies'} through EC2 in {facts.region}: {' | '.join(mismatches)}",
            f"fix the condition, or add amishare's scoped statement: {share}",
        )
    unique_ids = sorted({p for s in statements for p in _principals(s) if UNIQUE_ID.match(p)})
    if unique_ids:
        return Cause(
            "ROLE_PRINCIPAL_ID",
            f"key {key.display}'s policy names {', '.join(unique_ids)}: a unique id, as AWS shows a role (or user) "
            f"that was deleted; that statement admits no one, so {facts.account} has no {wanted}",
            f"rewrite the statement with the role's ARN (arn:aws:iam::{facts.account}:role/NAME), or {share}",
        )
    return Cause(
        "KEY_POLICY_MISSING_ACCOUNT",
        f"no statement or grant of key {key.display} lets {facts.account} {wanted} through EC2 in "
        f"{facts.region}: it cannot {use} the image",
        f"{share} (adds the account to amishare's statement), or add this statement to the policy of {key.arn}: "
        f"{_statement_for(facts)}",
    )


def _statement_for(facts: DoctorFacts) -> str:
    """The key policy statement that admits the target through EC2 in the region, as amishare writes it."""
    access = key_policy.KeyAccess(accounts=frozenset({facts.account}))
    (statement,) = key_policy.statements_for(facts.region, access)
    return json.dumps(statement, separators=(",", ":"))


def _names_account(statement: dict[str, Any], facts: DoctorFacts) -> bool:
    """Whether ``statement`` is about the target: its principal or a condition value names the account, its
    organization or one of its OUs (a statement for everyone in another organization is not)."""
    names = {facts.account, account_root(facts.account)} | ({facts.org_id} if facts.org_id else set())
    if any(p in names or p.startswith(f"arn:aws:iam::{facts.account}:") for p in _principals(statement)):
        return True
    paths = "".join(facts.org_paths)
    for clauses in statement.get("Condition", {}).values():
        for value in clauses.values():
            for item in value if isinstance(value, list) else [value]:
                text = str(item)
                if text in names or (paths and any(part in paths for part in re.findall(r"ou-[a-z0-9-]+", text))):
                    return True
    return False


_CONTEXT_NAMES = {
    "kms:viaservice": "EC2 in the region",
    "kms:calleraccount": "the account",
    "aws:principalorgid": "the account's organization",
    "aws:principalorgpaths": "the account's OU path",
    "aws:principalarn": "the principal",
    "aws:principalaccount": "the account",
}


def _failing_conditions(conditions: Mapping[str, Any], request: Request) -> list[str]:
    """Each condition clause of a statement that does not hold for ``request``: operator, key, wanted, actual."""
    out = []
    context = {k.lower(): v for k, v in request.context.items()}
    for operator, clauses in conditions.items():
        for key, expected in clauses.items():
            try:
                holds = conditions_hold({operator: {key: expected}}, request)
            except UnsupportedCondition:
                continue
            if not holds:
                actual = context.get(key.lower())
                shown = "nothing (unknown to amishare)" if actual is None else _show(actual)
                whose = _CONTEXT_NAMES.get(key.lower(), "the request")
                out.append(f"{operator} {key} wants {_show(expected)}, {whose} gives {shown}")
    return out


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) if value else "(none)"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _principals(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if not isinstance(principal, dict):
        return []
    values = principal.get("AWS", [])
    return [str(v) for v in (values if isinstance(values, list) else [values])]


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    found = policy.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


# ------------------------------------------------------------------ the target's side of things
def _dest_key_causes(facts: DoctorFacts) -> list[Cause]:
    view = facts.target
    if view is None or not view.dest_key_ref:
        return []
    ref = view.dest_key_ref
    key = view.dest_key
    problem = None
    if key is None:
        problem = f"cannot be used: {view.dest_key_error or 'not found'}"
    elif key.state != "Enabled":
        problem = f"is {key.state}"
    elif key.region != facts.region:
        problem = f"lives in {key.region}, not {facts.region}"
    elif key.spec != "SYMMETRIC_DEFAULT":
        problem = f"is {key.spec}: EBS encrypts with symmetric keys only"
    if problem is None:
        return []
    return [
        Cause(
            "DEST_KEY_UNUSABLE",
            f"account {facts.account}'s own key for its copy, {ref}, {problem}: the copy would fail after it "
            "started (Given key ID is not accessible)",
            f"in account {facts.account}: create or enable a customer managed key in {facts.region} and name it "
            "(the account's keys in amishare.toml, or --dest-key)",
        )
    ]


def _autoscaling_causes(facts: DoctorFacts, image: ImageInfo) -> list[Cause]:
    role = AUTOSCALING_ROLE.format(account=facts.account)
    causes = []
    for arn in image.key_arns:
        key = facts.keys.get(arn)
        if key is None or key.aws_managed or key.policy is None:
            continue
        if any(g.grantee == role and set(AUTOSCALING_GRANT_OPERATIONS) <= set(g.operations) for g in key.grants):
            continue
        causes.append(
            Cause(
                "AUTOSCALING_GRANT_MISSING",
                f"key {key.display} has no grant for {facts.account}'s Auto Scaling service-linked role: "
                "Auto Scaling's launches fail (Client.InternalError) though a launch by hand works",
                f"in account {facts.account}: aws kms create-grant --region {facts.region} --key-id {key.arn} "
                f"--grantee-principal {role} --operations {' '.join(AUTOSCALING_GRANT_OPERATIONS)} "
                f"(the key policy must let {facts.account} kms:CreateGrant: amishare share --grant-autoscaling)",
            )
        )
    return causes


def _unseen(facts: DoctorFacts, capability: str, causes: list[Cause]) -> list[Cause]:
    """NOT_VISIBLE_FROM_HERE: every gate amishare sees is open, yet the target's own dry run was refused."""
    view = facts.target
    refused = view.refused.get(capability) if view is not None else None
    if refused is None or any(not c.warning for c in causes):
        return []
    return [
        Cause(
            "NOT_VISIBLE_FROM_HERE",
            f"every gate amishare can see is open, yet {facts.account}'s dry run of {capability} is refused: "
            f"{refused}. An SCP, a permissions boundary or the role's own policy in {facts.account} blocks it",
            f"in account {facts.account}: check the role's policies, its permissions boundary and the SCPs of its "
            "organization for the EC2 and KMS actions of this capability (amishare iam --role destination)",
        )
    ]


def _dedupe(causes: list[Cause]) -> list[Cause]:
    seen: set[tuple[str, str]] = set()
    out = []
    for cause in causes:
        if (cause.code, cause.detail) not in seen:
            seen.add((cause.code, cause.detail))
            out.append(cause)
    return out
