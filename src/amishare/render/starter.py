"""A starter ``amishare.toml`` (``amishare init``): what was found of an organization, written as the config.

What is sure is written as keys; what is not (a role not assumable from here, no share key, several keys in an
account) is written as a commented key with the reason, for a person to decide. Pure: the reads are in
``api/starter.py``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field

SHARE_KEY_ALIAS = "alias/amishare-share"  # what amishare bootstrap's share-key.json names its key
RESERVED = frozenset({"public"})  # a target word, not an account name


@dataclass(frozen=True)
class FoundUnit:
    """An organizational unit: its path of names from the root (``prod/web``) and ARN."""

    path: str
    arn: str


@dataclass(frozen=True)
class FoundAccount:
    """A member account: its Organizations name, status and OU path; whether the role could be assumed
    (``role``: None when not tried, else the error or ``""`` for yes) and its keys' aliases (None: not read)."""

    id: str
    name: str
    status: str = "ACTIVE"
    ou: str = ""  # "" is the root
    role: str | None = None
    keys: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Found:
    """What ``amishare init`` read: the caller, the region, the organization (if any) and the keys here."""

    caller: str
    region: str
    role_name: str
    when: str  # ISO 8601 UTC
    organization: str | None = None  # o-...
    management: str | None = None
    unread: str = ""  # why the organization's accounts could not be listed
    units: tuple[FoundUnit, ...] = ()
    accounts: tuple[FoundAccount, ...] = ()
    keys: tuple[str, ...] = ()  # the caller's customer managed key aliases in the region
    external_id: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def slug(name: str) -> str:
    """An Organizations account name as a config name: lowercase ASCII words joined by ``-``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def account_names(accounts: tuple[FoundAccount, ...]) -> dict[str, str]:
    """Each account's ``[accounts.NAME]``: its name slugified, unique (a number added), never an account id's
    12 digits nor a reserved word (``account-<id>`` instead)."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for account in accounts:
        name = slug(account.name)
        if not name or name.isdigit() or name in RESERVED:
            name = f"account-{account.id}"
        unique, number = name, 2
        while unique in taken:
            unique, number = f"{name}-{number}", number + 1
        taken.add(unique)
        names[account.id] = unique
    return names


def _q(value: str) -> str:
    return json.dumps(value)  # a TOML basic string is a JSON string for these values


def starter_config(found: Found) -> str:
    """The amishare.toml text for ``found``."""
    lines = [
        f"# amishare.toml written by `amishare init` at {found.when}, as account {found.caller} in {found.region}.",
        "# Keys written are what was found; a commented key is what could not be confirmed: read its note.",
        *(f"# note: {note}" for note in found.notes),
        "",
        "[defaults]",
        f"region = {_q(found.region)}",
    ]
    if found.profile:
        lines.append(f"profile = {_q(found.profile)}")
    if found.endpoint_url:
        lines.append(f"endpoint_url = {_q(found.endpoint_url)}")
    lines += _role_lines(found)
    lines += _share_key_lines(found)
    lines += _organization_lines(found)
    names = account_names(found.accounts)
    for account in found.accounts:
        lines += ["", *_account_lines(found, account, names[account.id])]
    return "\n".join(lines) + "\n"


def _role_lines(found: Found) -> list[str]:
    members = [a for a in found.accounts if a.id != found.caller and a.status == "ACTIVE"]
    tried = [a for a in members if a.role is not None]
    assumable = [a for a in tried if a.role == ""]
    role = f"role_name = {_q(found.role_name)}"
    if assumable:
        return [f"{role}  # assumed in {len(assumable)} of {len(tried)} member accounts"]
    why = next((a.role for a in tried if a.role), "no member account to try it in")
    return [
        f"# {role}  # not assumed in any member account ({why}): deploy the destination role "
        "(amishare bootstrap), then uncomment"
    ]


def _share_key_lines(found: Found) -> list[str]:
    if SHARE_KEY_ALIAS in found.keys:
        return [f"share_key = {_q(SHARE_KEY_ALIAS)}  # found in {found.caller} {found.region}"]
    others = f"found: {', '.join(found.keys)}" if found.keys else "no customer managed key alias found"
    return [
        f"# share_key = {_q(SHARE_KEY_ALIAS)}  # {SHARE_KEY_ALIAS} not found in {found.caller} {found.region} "
        f"({others}): amishare bootstrap's share-key.json makes it, or name one of yours"
    ]


def _organization_lines(found: Found) -> list[str]:
    if found.organization is None:
        return ["", f"# not in an organization ({found.unread or 'DescribeOrganization said so'})"]
    lines = ["", f"# organization {found.organization}, management account {found.management}"]
    if found.unread:
        lines.append(f"# its accounts could not be listed: {found.unread}")
    for unit in found.units:
        members = sum(1 for a in found.accounts if a.ou == unit.path)
        lines.append(f"# OU {unit.path}: {unit.arn} ({members} account{'' if members == 1 else 's'} directly in it)")
    if found.units:
        lines.append("# an OU is a target by its ARN: amishare share IMAGE --to <the OU's ARN>")
    return lines


def _account_lines(found: Found, account: FoundAccount, name: str) -> list[str]:
    where = f"OU {account.ou}" if account.ou else "root"
    about = f"{account.name!r}, {where}"
    if account.id == found.caller:
        about += ", the account amishare runs as"
    if account.status != "ACTIVE":
        return [f"# [accounts.{name}]  # {about}: {account.status}, left out", f"# id = {_q(account.id)}"]
    lines = [f"[accounts.{name}]  # {about}", f"id = {_q(account.id)}"]
    if account.id == found.caller:
        return lines
    if found.external_id:
        lines.append(f"external_id = {_q(found.external_id)}")
    else:
        lines.append('# external_id = "..."  # the external id its role requires, if any')
    lines += _keys_lines(found, account)
    return lines


def _keys_lines(found: Found, account: FoundAccount) -> list[str]:
    if account.keys is None:
        why = f"{found.role_name} not assumed: {account.role}" if account.role else "its keys were not read"
        return [f'# keys = {{ {found.region} = "alias/..." }}  # the key its copies are encrypted with ({why})']
    if len(account.keys) == 1:
        return [f"keys = {{ {found.region} = {_q(account.keys[0])} }}  # its only customer managed key alias"]
    seen = ", ".join(account.keys) if account.keys else "none"
    return [f'# keys = {{ {found.region} = "alias/..." }}  # the key its copies are encrypted with (found: {seen})']
