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
    try:
        if target.kind is TargetKind.ORGANIZATION:
            org = client.describe_organization()["Organization"]
            if org["Id"] != target.org_id:
                raise PlanRefused(
                    f"--to {target.value}: the caller's organization is {org['Id']}, not {target.org_id}: run as "
                    "that organization's management account to expand it"
                )
            accounts = list(_pages(client, "list_accounts", "Accounts"))
        else:
            accounts = list(_under(client, str(target.ou_id)))
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


def _under(client: Any, parent: str) -> Iterator[dict[str, Any]]:
    yield from _pages(client, "list_accounts_for_parent", "Accounts", ParentId=parent)
    for unit in _pages(client, "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent):
        yield from _under(client, unit["Id"])


def _pages(client: Any, operation: str, field: str, **params: Any) -> Iterator[dict[str, Any]]:
    token = None
    while True:
        page = getattr(client, operation)(**params, **({"NextToken": token} if token else {}))
        yield from page[field]
        token = page.get("NextToken")
        if not token:
            return
