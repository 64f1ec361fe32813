"""AWS Organizations: an organization with OUs (nested by ``/`` in names) and member accounts.

Membership feeds image visibility (launch permissions naming an organization or OU, docs/aws-facts.md
section 1) and the ``aws:PrincipalOrgID`` / ``aws:PrincipalOrgPaths`` condition keys.
Read calls are answered from the same data (Organizations API Reference).
"""

from __future__ import annotations

import string
from typing import Any

from amishare.policy.evaluate import Caller, PolicyError, parse_policy
from amishare.sandbox.scp import FULL_ACCESS_ID, policy_summary
from amishare.sandbox.state import Organization, OrgUnit, World, random_text
from amishare.sandbox.wire.protocol import AwsFault

_LOWER = string.ascii_lowercase + string.digits


def _token(length: int) -> str:
    return random_text(_LOWER, length)


def create_organization(world: World, master: str, members: dict[str, list[str]]) -> tuple[str, dict[str, str]]:
    """Create an organization managed by ``master``; ``members`` maps OU paths to accounts.

    An OU path is a name, or names joined by ``/`` for nested OUs (``"prod/web"``); the
    empty path ``""`` means the root. Returns the organization ARN and each OU path's ARN.
    """
    with world.lock:
        if world.organization_of(master) is not None:
            raise ValueError(f"account {master} already belongs to an organization")
        org = Organization(org_id=f"o-{_token(10)}", master=master, root_id=f"r-{_token(4)}")
        org.parents[master] = org.root_id
        arns: dict[str, str] = {}
        for path, accounts in members.items():
            parent = org.root_id
            walked: list[str] = []
            for name in [n for n in path.split("/") if n]:
                walked.append(name)
                existing = next((u for u in org.units.values() if u.name == name and u.parent_id == parent), None)
                if existing is None:
                    ou_id = f"ou-{org.root_id[2:]}-{_token(8)}"
                    existing = OrgUnit(
                        ou_id=ou_id,
                        name=name,
                        parent_id=parent,
                        arn=f"arn:aws:organizations::{master}:ou/{org.org_id}/{ou_id}",
                    )
                    org.units[ou_id] = existing
                arns["/".join(walked)] = existing.arn
                parent = existing.ou_id
            for account in accounts:
                other = world.organization_of(account)
                if other is not None and other is not org:
                    raise ValueError(f"account {account} already belongs to organization {other.org_id}")
                org.parents[account] = parent
        world.organizations[org.org_id] = org
        return org.arn, arns


class OrganizationsHandlers:
    def __init__(self, world: World) -> None:
        self.world = world

    def _org(self, caller: Caller, management_only: bool = False) -> Organization:
        org = self.world.organization_of(caller.account)
        if org is None:
            raise AwsFault("AWSOrganizationsNotInUseException", "Your account is not a member of an organization.")
        if management_only and caller.account != org.master:
            raise AwsFault(
                "AccessDeniedException",
                "You don't have permissions to access this resource: only the management account can.",
            )
        return org

    def _account(self, org: Organization, account: str) -> dict[str, Any]:
        return {
            "Id": account,
            "Arn": f"arn:aws:organizations::{org.master}:account/{org.org_id}/{account}",
            "Email": f"{account}@sandbox.invalid",
            "Name": f"account-{account}",
            "Status": "SUSPENDED" if account in org.suspended else "ACTIVE",
            "JoinedMethod": "CREATED" if account != org.master else "INVITED",
        }

    def _unit(self, unit: OrgUnit) -> dict[str, Any]:
        return {"Id": unit.ou_id, "Arn": unit.arn, "Name": unit.name}

    def DescribeOrganization(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        org = self._org(caller)
        return {
            "Organization": {
                "Id": org.org_id,
                "Arn": org.arn,
                "FeatureSet": "ALL",
                "MasterAccountId": org.master,
                "MasterAccountArn": f"arn:aws:organizations::{org.master}:account/{org.org_id}/{org.master}",
                "MasterAccountEmail": f"{org.master}@sandbox.invalid",
            }
        }

    def ListRoots(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        org = self._org(caller, management_only=True)
        return {"Roots": [{"Id": org.root_id, "Arn": org.root_arn, "Name": "Root", "PolicyTypes": []}]}

    def ListAccounts(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        org = self._org(caller, management_only=True)
        return {"Accounts": [self._account(org, a) for a in sorted(org.parents)]}

    def _check_parent(self, org: Organization, parent: str) -> None:
        if parent != org.root_id and parent not in org.units:
            raise AwsFault("ParentNotFoundException", f"We can't find a root or OU with the ParentId {parent}.")

    def ListAccountsForParent(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        org = self._org(caller, management_only=True)
        parent = p.get("ParentId", "")
        self._check_parent(org, parent)
        return {"Accounts": [self._account(org, a) for a, par in sorted(org.parents.items()) if par == parent]}

    def ListOrganizationalUnitsForParent(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        org = self._org(caller, management_only=True)
        parent = p.get("ParentId", "")
        self._check_parent(org, parent)
        return {"OrganizationalUnits": [self._unit(u) for u in org.units.values() if u.parent_id == parent]}

    def DescribeOrganizationalUnit(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        org = self._org(caller, management_only=True)
        unit = org.units.get(p.get("OrganizationalUnitId", ""))
        if unit is None:
            raise AwsFault("OrganizationalUnitNotFoundException", "We can't find an OU with that id.")
        return {"OrganizationalUnit": self._unit(unit)}

    def ListParents(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        org = self._org(caller, management_only=True)
        child = p.get("ChildId", "")
        if child in org.parents:
            parent = org.parents[child]
        elif child in org.units:
            parent = org.units[child].parent_id
        else:
            raise AwsFault("ChildNotFoundException", f"We can't find the child {child}.")
        return {"Parents": [{"Id": parent, "Type": "ROOT" if parent == org.root_id else "ORGANIZATIONAL_UNIT"}]}

    def CloseAccount(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        """The account is closed: listed as SUSPENDED (AWS passes through PENDING_CLOSURE) and stays in its OU."""
        org = self._org(caller, management_only=True)
        account = str(p.get("AccountId", ""))
        if account not in org.parents or account == org.master:
            raise AwsFault("AccountNotFoundException", f"You specified an account that doesn't exist: {account}")
        with self.world.lock:
            org.suspended.add(account)
        return {}

    # ------------------------------------------------------------------ service control policies
    def CreatePolicy(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        org = self._org(caller, management_only=True)
        if p.get("Type") != "SERVICE_CONTROL_POLICY":
            raise AwsFault(
                "UnsupportedOperation", "The amishare sandbox emulates SERVICE_CONTROL_POLICY policies only."
            )
        content = str(p.get("Content", ""))
        try:
            parse_policy(content)
        except PolicyError as exc:
            raise AwsFault("MalformedPolicyDocumentException", str(exc)) from exc
        with self.world.lock:
            policy_id = f"p-{_token(8)}"
            org.policies[policy_id] = (str(p.get("Name", policy_id)), content)
        return {"Policy": {"PolicySummary": policy_summary(org, policy_id), "Content": content}}

    def AttachPolicy(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        org = self._org(caller, management_only=True)
        policy_id, target = p.get("PolicyId", ""), p.get("TargetId", "")
        if policy_id == FULL_ACCESS_ID:
            with self.world.lock:
                org.without_full_access.discard(target)
            return {}
        if policy_id not in org.policies:
            raise AwsFault("PolicyNotFoundException", f"We can't find a policy with the PolicyId {policy_id}.")
        if target != org.root_id and target not in org.units and target not in org.parents:
            raise AwsFault("TargetNotFoundException", f"We can't find a root, OU or account with the id {target}.")
        with self.world.lock:
            org.attached.setdefault(target, set()).add(policy_id)
        return {}

    def DetachPolicy(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        org = self._org(caller, management_only=True)
        with self.world.lock:
            if p.get("PolicyId") == FULL_ACCESS_ID:
                org.without_full_access.add(p.get("TargetId", ""))
                return {}
            found = org.attached.get(p.get("TargetId", ""), set())
            if p.get("PolicyId") not in found:
                raise AwsFault("PolicyNotAttachedException", "The policy is not attached to the target.")
            found.discard(p.get("PolicyId", ""))
        return {}
