"""What stops a target at the image's keys (pure): a disabled key, a Deny, no statement or grant, a condition
that does not hold, a principal named by unique id; the Auto Scaling grant (docs/aws-facts.md sections 1 and 2).

The key policy is evaluated as KMS would for the target's root acting through EC2 in the region; a condition
amishare cannot judge is not named as a cause.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from amishare.checks.doctor.cause import Cause
from amishare.checks.doctor.facts import DoctorFacts
from amishare.model import ImageInfo, KeyInfo
from amishare.policy import key_policy
from amishare.policy.access import AUTOSCALING_GRANT_OPERATIONS, AUTOSCALING_ROLE, account_root, via_ec2
from amishare.policy.evaluate import Caller, Request, UnsupportedCondition, conditions_hold, statement_matches

UNIQUE_ID = re.compile(r"^(AROA|AIDA|AGPA|ANPA)[A-Z0-9]{12,}$")  # IAM unique ids (roles, users, groups)


def key_causes(facts: DoctorFacts, image: ImageInfo, operations: tuple[str, ...], use: str) -> list[Cause]:
    """What stops ``operations`` (a launch's or a copy's) on each key of ``image`` that was observed."""
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
        return [  # each command names the key's region: KMS finds no key of another region's ARN
            Cause(
                "KEY_DISABLED",
                f"key {key.display} is {key.state}",
                f"aws kms enable-key --key-id {key.arn} --region {key.region}"
                if key.state == "Disabled"
                else f"aws kms cancel-key-deletion --key-id {key.arn} --region {key.region}, then "
                f"aws kms enable-key --key-id {key.arn} --region {key.region}",
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
    share = f"`amishare share {facts.image_id} --to {facts.account} --region {facts.region}`"
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


def autoscaling_causes(facts: DoctorFacts, image: ImageInfo) -> list[Cause]:
    """A missing grant to the target's Auto Scaling role on each customer managed key of ``image``."""
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
                f"(the key policy must let {facts.account} kms:CreateGrant for that role: amishare writes that "
                f"statement in a transfer with --keep-share --grant-autoscaling, `amishare transfer {facts.image_id} "
                f"--from OWNER --to {facts.account} --region {facts.region} --keep-share --grant-autoscaling`; "
                "share does not, so add it to the policy by hand)",
            )
        )
    return causes
