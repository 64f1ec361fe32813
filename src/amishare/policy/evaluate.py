"""Evaluation of resource policies (KMS key policies, IAM role trust policies): pure.

Implements the parts of the IAM policy evaluation logic that key policies and trust
policies use (docs/aws-facts.md sections 2 and 7; IAM User Guide, "Policy evaluation logic"
and "IAM JSON policy elements: Condition operators"):

* an explicit ``Deny`` wins over any ``Allow``; no matching ``Allow`` is an implicit deny;
* ``Principal`` / ``NotPrincipal``: ``"*"``, ``{"AWS": "*"}``, an account id or
  ``arn:aws:iam::<account>:root`` (any principal of that account: identity policies are not
  emulated, so the account is taken to have delegated the permission), a role ARN (matches
  every session of that role), an assumed-role session ARN; ``Service`` principals match only
  callers acting as that service;
* ``Action`` / ``NotAction`` with ``*`` and ``?`` wildcards, case-insensitively;
* ``Resource`` / ``NotResource`` with wildcards;
* ``Condition`` operators ``StringEquals``, ``StringNotEquals``, ``StringEqualsIgnoreCase``,
  ``StringNotEqualsIgnoreCase``, ``StringLike``, ``StringNotLike``, ``ArnEquals``, ``ArnLike``,
  ``ArnNotEquals``, ``ArnNotLike``, ``Bool``, ``Null``, each with the ``...IfExists`` suffix and
  the ``ForAnyValue:`` / ``ForAllValues:`` set qualifiers. Several values for one key are ORed,
  several keys and operators are ANDed; condition keys are case-insensitive. A missing key makes
  a positive operator false and a negated operator true; ``IfExists`` makes it true.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

ContextValue = str | bool | Sequence[str]


@dataclass(frozen=True)
class Caller:
    """Who makes a request: the account, the principal ARN, and the role behind a session."""

    account: str
    arn: str
    role_arn: str | None = None
    service: str | None = None  # e.g. "autoscaling.amazonaws.com" when a service acts
    # Whether a resource policy naming the account (its id or root) covers this caller: true for the account's
    # users and roles (their identity policies may be given the permission), false for a service-linked role,
    # whose identity policy AWS writes and nobody can extend (Auto Scaling's has no KMS permission).
    delegated: bool = True


@dataclass(frozen=True)
class Request:
    caller: Caller
    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)


class PolicyError(ValueError):
    """The policy document is not valid JSON or not a policy."""


@lru_cache(maxsize=1024)
def parsed_policy(text: str) -> Mapping[str, Any]:
    """``parse_policy`` of a document, cached by its text (evaluation never changes the result)."""
    return parse_policy(text)


def parse_policy(document: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(document, str):
        try:
            policy = json.loads(document)
        except json.JSONDecodeError as exc:
            raise PolicyError(f"policy is not valid JSON: {exc}") from exc
    else:
        policy = dict(document)
    if not isinstance(policy, dict) or "Statement" not in policy:
        raise PolicyError("policy has no Statement")
    statements = policy["Statement"]
    if isinstance(statements, dict):
        policy["Statement"] = [statements]
    elif not isinstance(statements, list):
        raise PolicyError("Statement must be an object or a list")
    for statement in policy["Statement"]:
        if not isinstance(statement, dict) or statement.get("Effect") not in ("Allow", "Deny"):
            raise PolicyError("every statement needs Effect Allow or Deny")
        if "Action" not in statement and "NotAction" not in statement:
            raise PolicyError("every statement needs Action or NotAction")
    return policy


def evaluate(policy: Mapping[str, Any], request: Request) -> str:
    """Return ``"Deny"`` (explicit), ``"Allow"`` or ``"ImplicitDeny"``."""
    allowed = False
    for statement in policy["Statement"]:
        if not statement_matches(statement, request):
            continue
        if statement["Effect"] == "Deny":
            return "Deny"
        allowed = True
    return "Allow" if allowed else "ImplicitDeny"


def statement_matches(statement: Mapping[str, Any], request: Request) -> bool:
    if "Principal" in statement and not _principal_matches(statement["Principal"], request.caller):
        return False
    if "NotPrincipal" in statement and _principal_matches(statement["NotPrincipal"], request.caller):
        return False
    if "Action" in statement and not _any_like(_as_list(statement["Action"]), request.action, True):
        return False
    if "NotAction" in statement and _any_like(_as_list(statement["NotAction"]), request.action, True):
        return False
    if "Resource" in statement and not _any_like(_as_list(statement["Resource"]), request.resource, False):
        return False
    if "NotResource" in statement and _any_like(_as_list(statement["NotResource"]), request.resource, False):
        return False
    return conditions_hold(statement.get("Condition", {}), request)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _principal_matches(principal: Any, caller: Caller) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for kind, values in principal.items():
        if kind == "AWS" and caller.service is None:
            names = {"*", caller.arn, caller.role_arn}
            if caller.delegated:
                names |= {caller.account, f"arn:aws:iam::{caller.account}:root"}
            if any(str(value) in names for value in _as_list(values)):  # a set lookup per listed principal
                return True
        if kind == "Service" and caller.service is not None and caller.service in _as_list(values):
            return True
    return False


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{regex}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def like(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return bool(_wildcard(pattern, ignore_case).match(value))


def _any_like(patterns: Iterable[Any], value: str, ignore_case: bool) -> bool:
    return any(like(str(p), value, ignore_case) for p in patterns)


# ------------------------------------------------------------------------ conditions
def _str_eq(expected: str, actual: str) -> bool:
    return expected == actual


def _str_eq_ic(expected: str, actual: str) -> bool:
    return expected.lower() == actual.lower()


def _str_like(expected: str, actual: str) -> bool:
    return like(expected, actual)


def _bool_eq(expected: str, actual: str) -> bool:
    return expected.lower() == actual.lower()


# operator -> (comparison, negated)
_OPERATORS = {
    "StringEquals": (_str_eq, False),
    "StringNotEquals": (_str_eq, True),
    "StringEqualsIgnoreCase": (_str_eq_ic, False),
    "StringNotEqualsIgnoreCase": (_str_eq_ic, True),
    "StringLike": (_str_like, False),
    "StringNotLike": (_str_like, True),
    "ArnEquals": (_str_like, False),
    "ArnLike": (_str_like, False),
    "ArnNotEquals": (_str_like, True),
    "ArnNotLike": (_str_like, True),
    "Bool": (_bool_eq, False),
}


class UnsupportedCondition(PolicyError):
    """A condition operator the sandbox does not evaluate (reported, never guessed)."""


def conditions_hold(conditions: Mapping[str, Any], request: Request) -> bool:
    context = {k.lower(): v for k, v in request.context.items()}
    for operator, clauses in conditions.items():
        for key, expected in clauses.items():
            if not _condition_holds(operator, key.lower(), _as_list(expected), context):
                return False
    return True


def _condition_holds(operator: str, key: str, expected: list[Any], context: Mapping[str, ContextValue]) -> bool:
    qualifier = ""
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    present = key in context
    if base == "Null":
        wants_null = str(expected[0]).lower() == "true"
        return (not present) == wants_null
    if base not in _OPERATORS:
        raise UnsupportedCondition(f"condition operator {operator!r} is not emulated")
    compare, negated = _OPERATORS[base]
    if not present:
        if qualifier == "ForAllValues":
            return True
        return if_exists or negated
    raw = context[key]
    actual = [
        str(v).lower() if isinstance(v, bool) else str(v)
        for v in (_as_list(raw) if not isinstance(raw, str) else [raw])
    ]
    wanted = [str(e) for e in expected]
    exact = frozenset(wanted) if compare is _str_eq else None  # a list of 1,000 accounts: one lookup

    def one(value: str) -> bool:
        hit = value in exact if exact is not None else any(compare(e, value) for e in wanted)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(v) for v in actual)
    return any(one(v) for v in actual)
