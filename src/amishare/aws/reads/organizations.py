"""Organization and OU targets resolved into member accounts, at the time a plan is made (read-only).

An organization's accounts come from ``ListAccounts``; an OU's from ``ListAccountsForParent`` on it and, down
the tree, on every OU under it (``ListOrganizationalUnitsForParent``). Accounts that are not ``ACTIVE``
(suspended, closing) are left out. Only the organization's management account (or a delegated administrator)
may list them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from amishare.aws.errors import aws_errors
from amishare.aws.session import Sessions
from amishare.errors import AwsError, PlanRefused
from amishare.model import Target, TargetKind

ORGANIZATIONS_REGION = "us-east-1"  # Organizations' endpoint (a global service)


@dataclass(frozen=True)
class Members:
    """The accounts an organization or OU holds now."""

    target: Target
    active: tuple[str, ...]
    inactive: tuple[str, ...]  # suspended or closing: left out


def members(sessions: Sessions, target: Target) -> Members:
    """The member accounts of an organization or OU (nested OUs included)."""
    client = sessions.client("organizations", ORGANIZATIONS_REGION)
    caller = sessions.caller_account()
    try:
        if target.kind is TargetKind.ORGANIZATION:
            with aws_errors("DescribeOrganization", caller, ORGANIZATIONS_REGION):
                org = client.describe_organization()["Organization"]
            if org["Id"] != target.org_id:
                raise PlanRefused(
                    f"--to {target.value}: the caller's organization is {org['Id']}, not {target.org_id}: run as "
                    "that organization's management account to expand it"
                )
            accounts = list(_pages(client, "list_accounts", "Accounts", caller))
        else:
            accounts = list(_under(client, str(target.ou_id), caller))
    except AwsError as exc:
        if exc.code not in ("AccessDeniedException", "AWSOrganizationsNotInUseException"):
            raise
        raise PlanRefused(
            f"--to {target.value}: amishare cannot list its accounts ({exc.code}): expanding an organization or OU "
            "needs its management account (or a delegated administrator); or name the accounts with --to"
        ) from exc
    active = tuple(sorted(a["Id"] for a in accounts if a.get("Status") == "ACTIVE"))
    inactive = tuple(sorted(a["Id"] for a in accounts if a.get("Status") != "ACTIVE"))
    return Members(target, active, inactive)


def _under(client: Any, parent: str, caller: str) -> Iterator[dict[str, Any]]:
    yield from _pages(client, "list_accounts_for_parent", "Accounts", caller, ParentId=parent)
    for unit in _pages(client, "list_organizational_units_for_parent", "OrganizationalUnits", caller, ParentId=parent):
        yield from _under(client, unit["Id"], caller)


def _pages(client: Any, operation: str, field: str, caller: str, **params: Any) -> Iterator[dict[str, Any]]:
    name = "".join(p.title() for p in operation.split("_"))
    token = None
    while True:
        with aws_errors(name, caller, ORGANIZATIONS_REGION):
            page = getattr(client, operation)(**params, **({"NextToken": token} if token else {}))
        yield from page[field]
        token = page.get("NextToken")
        if not token:
            return
