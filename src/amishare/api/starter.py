"""``init``: read what a starter amishare.toml needs (the caller, its organization's OUs and accounts, whether
the role can be assumed in each, the keys found) and write it (``render/starter.py``). Read-only on AWS."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from amishare.api.context import Settings
from amishare.aws.reads.organizations import ORGANIZATIONS_REGION
from amishare.aws.session import Sessions
from amishare.errors import AwsError, UsageError
from amishare.model import RoleRef
from amishare.render.starter import Found, FoundAccount, FoundUnit, starter_config

DEFAULT_ROLE_NAME = "AmiShareRole"  # amishare bootstrap's destination role
ROLE_CHECKS_IN_FLIGHT = 16
AWS = "alias/aws/"  # AWS managed keys' aliases: not a customer's to share


@dataclass(frozen=True)
class InitRequest:
    """``amishare init``: write a starter config to ``path`` (refused when it exists, unless ``force``);
    ``role_name`` (and ``external_id``) are tried in each member account unless not ``check_roles``."""

    path: str = "amishare.toml"
    force: bool = False
    role_name: str = DEFAULT_ROLE_NAME
    external_id: str | None = None
    check_roles: bool = True


def init(settings: Settings, request: InitRequest) -> tuple[Path, Found]:
    """Read the organization and write the starter config; the file written and what was found."""
    path = Path(request.path)
    if path.exists() and not request.force:
        raise UsageError(f"{path} exists: amishare init does not overwrite it; add --force, or --out another file")
    if path.is_dir():
        raise UsageError(f"{path} is a directory: name a file with --out")
    found = read_starter(settings, request)
    path.write_text(starter_config(found))
    return path, found


def read_starter(settings: Settings, request: InitRequest) -> Found:
    """What a starter config says, read as the caller."""
    sessions = settings.sessions()
    region = settings.region(None)
    caller = sessions.caller_account()
    found = Found(
        caller=caller,
        region=region,
        role_name=request.role_name,
        when=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        external_id=request.external_id,
        profile=settings.connection.profile,
        endpoint_url=settings.connection.endpoint_url,
        keys=_aliases(sessions, region, None) or (),
    )
    found = _organization(sessions, found)
    if request.check_roles:
        found = replace(found, accounts=_check_roles(sessions, found, request))
    return found


def _organization(sessions: Sessions, found: Found) -> Found:
    client = sessions.client("organizations", ORGANIZATIONS_REGION)
    alone = (FoundAccount(found.caller, "this account"),)
    try:
        organization = client.describe_organization()["Organization"]
    except AwsError as exc:
        return replace(found, accounts=alone, unread=exc.code or str(exc))
    found = replace(found, organization=organization["Id"], management=organization.get("MasterAccountId"))
    try:
        roots = client.list_roots()["Roots"]
        units: list[FoundUnit] = []
        accounts: list[FoundAccount] = []
        for root in roots:
            for path, parent in _parents(client, root["Id"], "", units):
                accounts += [
                    FoundAccount(a["Id"], a.get("Name", ""), a.get("Status", "ACTIVE"), path)
                    for a in _pages(client, "list_accounts_for_parent", "Accounts", ParentId=parent)
                ]
    except AwsError as exc:
        why = f"{exc.code or exc}: run amishare init as the management account (or a delegated administrator)"
        return replace(found, accounts=alone, unread=why)
    accounts.sort(key=lambda a: (a.id != found.caller, a.ou, a.name, a.id))
    return replace(found, units=tuple(units), accounts=tuple(accounts))


def _parents(client: Any, parent: str, path: str, units: list[FoundUnit]) -> Iterator[tuple[str, str]]:
    """``(path, parent id)`` of the root and every OU under it; each OU recorded in ``units``."""
    yield path, parent
    listed = _pages(client, "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent)
    for unit in sorted(listed, key=lambda u: str(u["Name"])):
        below = f"{path}/{unit['Name']}" if path else str(unit["Name"])
        units.append(FoundUnit(below, unit["Arn"]))
        yield from _parents(client, unit["Id"], below, units)


def _pages(client: Any, operation: str, field: str, **params: Any) -> list[dict[str, Any]]:
    return [item for page in client.get_paginator(operation).paginate(**params) for item in page[field]]


def _check_roles(sessions: Sessions, found: Found, request: InitRequest) -> tuple[FoundAccount, ...]:
    """Each active member account with whether the role could be assumed there, and its key aliases then."""

    def check(account: FoundAccount) -> FoundAccount:
        if account.id == found.caller or account.status != "ACTIVE":
            return account
        role = RoleRef(account.id, f"arn:aws:iam::{account.id}:role/{request.role_name}", request.external_id)
        try:
            sessions.assume(role)
        except AwsError as exc:
            return replace(account, role=exc.code or "refused")
        return replace(account, role="", keys=_aliases(sessions, found.region, account.id))

    with ThreadPoolExecutor(max_workers=ROLE_CHECKS_IN_FLIGHT) as pool:
        return tuple(pool.map(check, found.accounts))


def _aliases(sessions: Sessions, region: str, account: str | None) -> tuple[str, ...] | None:
    """The customer managed keys' aliases of ``account`` (None: the caller) in ``region``; None when unreadable."""
    try:
        listed = _pages(sessions.client("kms", region, account), "list_aliases", "Aliases")
    except AwsError:
        return None
    return tuple(sorted(a["AliasName"] for a in listed if "TargetKeyId" in a and not a["AliasName"].startswith(AWS)))
