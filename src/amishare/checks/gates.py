"""The three gates of a share, per target, open or closed and why (pure; ``amishare show``).

docs/aws-facts.md section 1: a target can use an image only when its launch permission, the
snapshot permission on every snapshot (needed to copy, not to launch) and access to the
key(s) are all open in the same region. Key access is judged by evaluating the key policy as
KMS would for a principal of the target acting through EC2, then the key's grants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amishare.model import ImageInfo, KeyInfo, Observation, Target, TargetKind
from amishare.policy import key_policy
from amishare.policy.access import SOURCE_KEY_USED_OPERATIONS, account_root, via_ec2
from amishare.policy.evaluate import Caller, Request, UnsupportedCondition, statement_matches

KEY_ACTIONS = SOURCE_KEY_USED_OPERATIONS  # what EC2 does with the source key for a target (access.py)
UNKNOWN_ACCOUNT = "000000000000"  # stands for "some member" of an organization or OU


@dataclass(frozen=True)
class Gate:
    """One gate for one target: its state and why."""

    state: str  # "open", "closed", "n/a" or "unknown"
    reason: str

    @property
    def blocks(self) -> bool:
        return self.state in ("closed", "unknown")


@dataclass(frozen=True)
class GateReport:
    """The three gates of one image for one target, and what they let it do."""

    image_id: str
    target: Target
    launch: Gate
    snapshots: Gate
    key: Gate
    image_state: str = "available"  # a pending (or failed) image cannot be launched or copied, gates open or not

    @property
    def can_launch(self) -> bool:
        """Launching needs an available image, the launch permission and key access, not the snapshot
        permission."""
        return self.image_state == "available" and not self.launch.blocks and not self.key.blocks

    @property
    def can_copy(self) -> bool:
        return self.can_launch and not self.snapshots.blocks

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_id": self.image_id,
            "image_state": self.image_state,
            "target": {"kind": self.target.kind.value, "value": self.target.value},
            "launch": vars(self.launch),
            "snapshots": vars(self.snapshots),
            "key": vars(self.key),
            "can_launch": self.can_launch,
            "can_copy": self.can_copy,
        }


def known_targets(image: ImageInfo, keys: dict[str, KeyInfo]) -> list[Target]:
    """Everyone the image is shared with through any gate."""
    found = set(image.launch.targets())
    for snapshot in image.snapshots:
        found |= {Target(TargetKind.ACCOUNT, a) for a in snapshot.shared_with}
    for arn in image.key_arns:
        key = keys.get(arn)
        if key and key.policy:
            found |= {Target(TargetKind.ACCOUNT, a) for a in key_policy.granted(key.policy).accounts}
    return sorted(found)


def report(obs: Observation, image: ImageInfo, targets: list[Target]) -> list[GateReport]:
    """The three gates of ``image`` for each of ``targets``."""
    return [
        GateReport(image.image_id, t, _launch(image, t), _snapshots(image, t), _key(obs, image, t), image.state)
        for t in targets
    ]


def _launch(image: ImageInfo, target: Target) -> Gate:
    if image.launch.includes(target):
        return Gate("open", "launch permission names it")
    if image.launch.public:
        return Gate("open", "the image is public")
    if target.kind is TargetKind.ACCOUNT and (image.launch.organizations or image.launch.ous):
        return Gate("unknown", "not named; shared with an organization or OU it may belong to")
    return Gate("closed", f"no launch permission (amishare share {image.image_id} --to {target.value})")


def _snapshots(image: ImageInfo, target: Target) -> Gate:
    if not image.snapshots:
        return Gate("n/a", "no EBS snapshots")
    if target.kind is not TargetKind.ACCOUNT:
        return Gate("closed", "snapshots cannot be shared with organizations or OUs: members can launch, not copy")
    missing = [s.snapshot_id for s in image.snapshots if target.value not in s.shared_with and not s.public]
    if not missing:
        return Gate("open", f"createVolumePermission on all {len(image.snapshots)} snapshot(s)")
    return Gate("closed", f"no createVolumePermission on {', '.join(missing)} (needed to copy, not to launch)")


def _key(obs: Observation, image: ImageInfo, target: Target) -> Gate:
    if not image.encrypted:
        return Gate("n/a", "unencrypted")
    reasons = []
    for arn in image.key_arns:
        key = obs.keys.get(arn)
        if key is None:
            return Gate("unknown", f"key {arn} was not observed")
        if key.aws_managed:
            return Gate(
                "closed",
                "encrypted with the AWS managed key aws/ebs, which cannot be shared: re-encrypt "
                "with a customer managed key (amishare share does it)",
            )
        gate = _one_key(key, image.region, target)
        if gate.state != "open":
            return gate
        reasons.append(gate.reason)
    return Gate("open", "; ".join(reasons))


def _one_key(key: KeyInfo, region: str, target: Target) -> Gate:
    """Whether ``target`` can use ``key`` through EC2 in ``region``: a grant of its own, else the key policy."""
    if key.state != "Enabled":
        return Gate("closed", f"key {key.display} is {key.state}")
    granted = _grant_gate(key, target)
    if granted is not None:
        return granted
    if key.policy is None:
        return Gate("unknown", f"policy of {key.display} not readable: {key.policy_error}")
    return _policy_gate(key, key.policy, region, target)


def _grant_gate(key: KeyInfo, target: Target) -> Gate | None:
    """An open gate when a grant of ``key`` gives an account target every operation EC2 needs (None: none does)."""
    if target.kind is not TargetKind.ACCOUNT:
        return None
    root = account_root(target.value)
    grants = [g for g in key.grants if g.grantee == root and set(KEY_ACTIONS) <= set(g.operations)]
    if not grants:
        return None
    return Gate("open", f"grant {grants[0].name or grants[0].grant_id} on {key.display}")


def _caller(target: Target, region: str) -> tuple[Caller, dict[str, Any]]:
    """The principal of ``target`` acting through EC2 in ``region``, and its request context (an organization or
    OU stands for some member of it)."""
    account = target.value if target.kind is TargetKind.ACCOUNT else UNKNOWN_ACCOUNT
    caller = Caller(account=account, arn=account_root(account))
    context: dict[str, Any] = {
        "kms:ViaService": via_ec2(region),
        "kms:CallerAccount": account,
        "kms:GrantIsForAWSResource": True,
        "aws:PrincipalAccount": account,
        "aws:PrincipalArn": caller.arn,
    }
    if target.kind in (TargetKind.ORGANIZATION, TargetKind.OU):
        context["aws:PrincipalOrgID"] = target.org_id or ""
        context["aws:PrincipalOrgPaths"] = [f"{target.org_id}/r-0000/" + (f"{target.ou_id}/" if target.ou_id else "")]
    return caller, context


def _policy_gate(key: KeyInfo, policy: dict[str, Any], region: str, target: Target) -> Gate:
    """The key policy evaluated as KMS would for each operation EC2 needs: closed at the first one denied or not
    allowed, unknown at a condition amishare cannot judge."""
    caller, context = _caller(target, region)
    sids: set[str] = set()
    for action in KEY_ACTIONS:
        request = Request(caller, f"kms:{action}", key.arn, context)
        try:
            matched = [s for s in _statements(policy) if statement_matches(s, request)]
        except UnsupportedCondition as exc:
            return Gate("unknown", f"policy of {key.display} uses a condition amishare cannot judge: {exc}")
        denied = [s for s in matched if s.get("Effect") == "Deny"]
        if denied:
            return Gate(
                "closed", f"kms:{action} denied by statement {denied[0].get('Sid', '(no Sid)')} of {key.display}"
            )
        allowed = [s for s in matched if s.get("Effect") == "Allow"]
        if not allowed:
            return Gate("closed", f"policy of {key.display} does not allow kms:{action} through EC2 in {region}")
        sids |= {str(s.get("Sid", "(no Sid)")) for s in allowed}
    return Gate("open", f"policy of {key.display} allows it ({', '.join(sorted(sids))})")


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    found = policy.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)
