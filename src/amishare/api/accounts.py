"""The accounts and regions a reading command covers: a named account and the role it is read through,
the caller's organization, the regions enabled for the caller."""

from __future__ import annotations

from amishare import inputs
from amishare.api.context import Settings
from amishare.aws.reads.estate import Party
from amishare.aws.session import Sessions
from amishare.errors import AwsError, UsageError


def party(settings: Settings, value: str, caller: str) -> Party:
    """The account ``value`` names (an id or a config name) and the role it is read through (none for the
    caller's own); refused when the config names no role for it."""
    target = inputs.target(value, settings.config)
    if target.kind.value != "account":
        raise UsageError(f"--accounts {value!r}: name accounts (ids or config names), not {target}")
    if target.value == caller:
        return Party(caller, None)
    role = settings.config.role_in(target.value)
    if role is None:
        raise UsageError(
            f'no role to read account {target.value} through: set role = "..." under [accounts.NAME] (with id = '
            f'"{target.value}") or role_name under [defaults]'
        )
    return Party(target.value, role)


def organization(sessions: Sessions) -> tuple[frozenset[str] | None, str | None]:
    """The caller's organization's active accounts (None when it cannot list them) and its id."""
    client = sessions.client("organizations", "us-east-1")
    try:
        org_id = str(client.describe_organization()["Organization"]["Id"])
    except AwsError:  # not in an organization (or not allowed to ask): nothing to add
        return None, None
    try:
        listed = [a for page in client.get_paginator("list_accounts").paginate() for a in page["Accounts"]]
    except AwsError:  # a member account: it cannot list the others
        return None, org_id
    return frozenset(a["Id"] for a in listed if a.get("Status", "ACTIVE") == "ACTIVE"), org_id


def enabled_regions(sessions: Sessions) -> list[str]:
    """The regions enabled for the caller's account."""
    found = sessions.client("ec2").describe_regions()["Regions"]
    return sorted(r["RegionName"] for r in found)
