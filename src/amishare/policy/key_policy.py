"""Key policy editing (pure): the statements amishare owns, merged into a policy it does not.

amishare recognises its statements by their ``Sid`` prefix ``amishare-`` and never touches
any other statement: they are kept exactly, in order. Its statements are rebuilt from the set
of targets they grant, one statement per kind of target, so that a policy scales to hundreds
of accounts within the 32 KB limit (docs/aws-facts.md section 2):

* ``amishare-accounts``: the accounts' roots as principals, scoped with ``kms:ViaService`` =
  ``ec2.<key region>.amazonaws.com`` and ``kms:CallerAccount`` in the same accounts;
* ``amishare-organizations``: any principal whose ``aws:PrincipalOrgID`` is listed, through EC2;
* ``amishare-ous``: any principal whose ``aws:PrincipalOrgPaths`` lies under a listed OU, through EC2.

The actions are the ones a target needs on the source key to copy or launch an encrypted
image, never ``kms:*`` nor key administration.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from amishare.policy.access import AUTOSCALING_ROLE, SOURCE_KEY_ACTIONS, via_ec2

SID_PREFIX = "amishare-"
SID_ACCOUNTS = "amishare-accounts"
SID_ORGANIZATIONS = "amishare-organizations"
SID_OUS = "amishare-ous"
SID_AUTOSCALING = "amishare-autoscaling"
MAX_POLICY_BYTES = 32_768  # docs/aws-facts.md section 2: not adjustable
TARGET_ACTIONS = SOURCE_KEY_ACTIONS  # what a target needs on the SOURCE key (access.py)
_OU_PATH = re.compile(r"^(o-[a-z0-9]{10,32})/\*/(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32})/\*$")


class KeyPolicyTooLarge(ValueError):
    """The edited policy would exceed KMS's 32,768-byte limit."""

    def __init__(self, size: int) -> None:
        super().__init__(
            f"the key policy would be {size} bytes, over KMS's limit of {MAX_POLICY_BYTES} bytes: "
            "share with an organization or OU instead of listing accounts, or use --key-access grant"
        )
        self.size = size


@dataclass(frozen=True)
class KeyAccess:
    """The targets amishare's statements in one policy grant."""

    accounts: frozenset[str] = frozenset()
    organizations: frozenset[str] = frozenset()  # organization ids (o-...)
    ous: frozenset[tuple[str, str]] = frozenset()  # (organization id, OU id)
    autoscaling: frozenset[str] = frozenset()  # accounts whose Auto Scaling role they may grant the key to

    def __or__(self, other: KeyAccess) -> KeyAccess:
        return KeyAccess(
            self.accounts | other.accounts,
            self.organizations | other.organizations,
            self.ous | other.ous,
            self.autoscaling | other.autoscaling,
        )

    def __and__(self, other: KeyAccess) -> KeyAccess:
        return KeyAccess(
            self.accounts & other.accounts,
            self.organizations & other.organizations,
            self.ous & other.ous,
            self.autoscaling & other.autoscaling,
        )

    def __sub__(self, other: KeyAccess) -> KeyAccess:
        return KeyAccess(
            self.accounts - other.accounts,
            self.organizations - other.organizations,
            self.ous - other.ous,
            self.autoscaling - other.autoscaling,
        )

    def __bool__(self) -> bool:
        return bool(self.accounts or self.organizations or self.ous or self.autoscaling)


NO_ACCESS = KeyAccess()


def is_amishare(statement: Any) -> bool:
    return isinstance(statement, dict) and str(statement.get("Sid", "")).startswith(SID_PREFIX)


def _statements(policy: dict[str, Any]) -> list[Any]:
    found = policy.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def granted(policy: dict[str, Any]) -> KeyAccess:
    """What amishare's own statements in ``policy`` grant."""
    accounts: set[str] = set()
    organizations: set[str] = set()
    ous: set[tuple[str, str]] = set()
    autoscaling: set[str] = set()
    for statement in _statements(policy):
        if not is_amishare(statement):
            continue
        condition = statement.get("Condition", {})
        if statement["Sid"] == SID_ACCOUNTS:
            accounts |= set(_as_list(condition.get("StringEquals", {}).get("kms:CallerAccount")))
        elif statement["Sid"] == SID_ORGANIZATIONS:
            organizations |= set(_as_list(condition.get("StringEquals", {}).get("aws:PrincipalOrgID")))
        elif statement["Sid"] == SID_AUTOSCALING:
            autoscaling |= set(_as_list(condition.get("StringEquals", {}).get("kms:CallerAccount")))
        elif statement["Sid"] == SID_OUS:
            for path in _as_list(condition.get("ForAnyValue:StringLike", {}).get("aws:PrincipalOrgPaths")):
                match = _OU_PATH.match(path)
                if match:
                    ous.add((match.group(1), match.group(2)))
    return KeyAccess(frozenset(accounts), frozenset(organizations), frozenset(ous), frozenset(autoscaling))


def statements_for(region: str, access: KeyAccess) -> list[dict[str, Any]]:
    """amishare's statements granting ``access`` on a key of ``region``, in canonical order."""
    out: list[dict[str, Any]] = []
    via = via_ec2(region)
    if access.accounts:
        accounts = sorted(access.accounts)
        out.append(
            {
                "Sid": SID_ACCOUNTS,
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::{a}:root" for a in accounts]},
                "Action": list(TARGET_ACTIONS),
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:ViaService": via, "kms:CallerAccount": accounts}},
            }
        )
    if access.organizations:
        out.append(
            {
                "Sid": SID_ORGANIZATIONS,
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": list(TARGET_ACTIONS),
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"kms:ViaService": via, "aws:PrincipalOrgID": sorted(access.organizations)}
                },
            }
        )
    if access.ous:
        out.append(
            {
                "Sid": SID_OUS,
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": list(TARGET_ACTIONS),
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"kms:ViaService": via},
                    "ForAnyValue:StringLike": {
                        "aws:PrincipalOrgPaths": [f"{o}/*/{u}/*" for o, u in sorted(access.ous)]
                    },
                },
            }
        )
    if access.autoscaling:
        accounts = sorted(access.autoscaling)
        out.append(
            {  # docs/aws-facts.md section 2: the target grants the key to its Auto Scaling role itself
                "Sid": SID_AUTOSCALING,
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::{a}:root" for a in accounts]},
                "Action": "kms:CreateGrant",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:CallerAccount": accounts,
                        "kms:GranteePrincipal": [AUTOSCALING_ROLE.format(account=a) for a in accounts],
                    }
                },
            }
        )
    return out


def with_access(policy: dict[str, Any], region: str, access: KeyAccess) -> dict[str, Any]:
    """``policy`` with amishare's statements granting what they granted plus ``access``."""
    return _rebuilt(policy, region, granted(policy) | access)


def without_access(policy: dict[str, Any], region: str, access: KeyAccess) -> dict[str, Any]:
    """``policy`` with ``access`` removed from amishare's statements (others untouched)."""
    return _rebuilt(policy, region, granted(policy) - access)


def edited(policy: dict[str, Any], region: str, add: KeyAccess, remove: KeyAccess) -> dict[str, Any]:
    """``policy`` with ``add`` granted and then ``remove`` taken away in amishare's statements (others untouched).

    The edit, not a document: applied to whatever the policy is when it runs, it keeps a change someone else
    made meanwhile, and applied twice it changes nothing the second time."""
    return _rebuilt(policy, region, (granted(policy) | add) - remove)


def _rebuilt(policy: dict[str, Any], region: str, access: KeyAccess) -> dict[str, Any]:
    result = copy.deepcopy(policy)
    others = [s for s in _statements(policy) if not is_amishare(s)]
    mine = statements_for(region, access)
    if not mine and not any(is_amishare(s) for s in _statements(policy)):
        return result  # nothing of amishare's before or after: the policy is returned as it was
    rebuilt = copy.deepcopy(others) + mine
    if _canonical(rebuilt) != _canonical(_statements(policy)):  # else the same statements, maybe in another order
        result["Statement"] = rebuilt  # (kept as they are: a rewrite would say nothing new)
    return result


def _canonical(statements: list[Any]) -> list[str]:
    """``statements`` as a sorted list of their JSON texts: two lists saying the same in any order are equal."""
    return sorted(json.dumps(s, sort_keys=True) for s in statements)


def compact(policy: dict[str, Any]) -> str:
    """``policy`` without any whitespace: the smallest document KMS accepts for it (KMS counts every byte)."""
    return json.dumps(policy, separators=(",", ":"))


def render(policy: dict[str, Any]) -> str:
    """The document sent to PutKeyPolicy: indented for the people who read it in the console while that fits
    the limit, else compact (an indented policy of ~440 accounts is a compact one of ~650)."""
    text = json.dumps(policy, indent=2)
    return text if len(text.encode()) <= MAX_POLICY_BYTES else compact(policy)


def fits(policy: dict[str, Any], region: str, add: KeyAccess) -> bool:
    """Whether ``policy`` with ``add`` stays within KMS's limit (in the document that would be sent)."""
    return len(compact(with_access(policy, region, add)).encode()) <= MAX_POLICY_BYTES


def check_size(policy: dict[str, Any]) -> str:
    """The document to send (``render``), refused before any call when even its compact form exceeds the limit."""
    text = render(policy)
    size = len(text.encode())
    if size > MAX_POLICY_BYTES:
        raise KeyPolicyTooLarge(size)
    return text
