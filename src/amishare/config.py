"""The configuration file (``amishare.toml``) and its validation, before any AWS call.

```toml
[defaults]
region = "us-east-1"
profile = "build"                      # AWS profile of the image owner (optional)
role_name = "AmiShareRole"             # role assumed in accounts that name none (optional)
share_key = "alias/amishare-share"     # customer managed key to re-encrypt aws/ebs images with
share_keys = { eu-west-1 = "alias/amishare-share-eu" }   # per-region overrides (optional)
key_access = "policy"                  # or "grant"
journal = "~/.local/state/amishare/journal.sqlite3"   # a relative path is relative to this file
max_parallel = 8                       # 1 to 512
retry_mode = "standard"                # or "adaptive"
endpoint_url = "http://127.0.0.1:4566" # a local AWS (optional)
kms_request_quotas = { CreateGrant = 200 } # KMS quotas raised through Service Quotas (optional; paced to)

[accounts.dev]
id = "222222222222"
role = "AmiCopyRole"                   # role name or ARN to assume there (optional)
external_id = "golden-images"          # (optional)
keys = { us-east-1 = "alias/dev-amis" } # key per region for receiving copies (optional)

[audit]
allow = ["dev", "o-abcd123456"]        # who a share may name without an OUTSIDE_ALLOWLIST finding (optional)
```

Every error names the file, the key and the fix.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import tomllib
import types
import typing
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from amishare.errors import ConfigError
from amishare.model import (
    ACCOUNT_ID,
    KEY_REF,
    KMS_REQUEST_QUOTAS,
    ORG_ARN,
    OU_ARN,
    REGION,
    RoleRef,
    arn_account,
    arn_region,
    duration_seconds,
)

_R = TypeVar("_R")

DEFAULT_FILE = "amishare.toml"
KEY_ACCESS = ("policy", "grant")
RETRY_MODES = ("standard", "adaptive")
DEFAULT_KEYS = {
    "region",
    "profile",
    "role_name",
    "share_key",
    "share_keys",
    "key_access",
    "journal",
    "max_parallel",
    "retry_mode",
    "endpoint_url",
    "kms_request_quotas",
}
ACCOUNT_KEYS = {"id", "role", "external_id", "keys", "ssm_parameter", "launch_template"}
ROLE_ARN_PREFIX = "arn:aws:iam::"
MAX_PARALLEL = (1, 512)  # [defaults] max_parallel and --max-parallel: one range
AUDIT_KEYS = {"allow"}
ORG_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
OU_ID = re.compile(r"^ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}$")
ALLOW_FORMS = (
    "an account id (12 digits) or an account name from the config, an organization (ARN or o-...) or an OU "
    "(ARN or ou-...)"
)


@dataclass(frozen=True)
class AccountConfig:
    name: str
    id: str
    role: str | None = None
    external_id: str | None = None
    keys: dict[str, str] = field(default_factory=dict)
    ssm_parameter: str | None = None  # its own parameter for transfers (overrides [transfer])
    launch_template: str | None = None  # its own launch template for transfers

    def role_arn(self, default_role_name: str | None) -> str | None:
        role = self.role or default_role_name
        if role is None:
            return None
        return role if role.startswith(ROLE_ARN_PREFIX) else f"arn:aws:iam::{self.id}:role/{role}"


@dataclass(frozen=True)
class Defaults:
    region: str | None = None
    profile: str | None = None
    role_name: str | None = None
    share_key: str | None = None
    share_keys: dict[str, str] = field(default_factory=dict)
    key_access: str = "policy"
    journal: str | None = None
    max_parallel: int = 8
    retry_mode: str = "standard"
    endpoint_url: str | None = None
    kms_request_quotas: dict[str, float] = field(default_factory=dict)  # an account's raised KMS quotas

    def share_key_for(self, region: str) -> str | None:
        return self.share_keys.get(region, self.share_key)


@dataclass(frozen=True)
class TransferDefaults:
    """``[transfer]``: defaults of ``amishare transfer`` (each also a flag)."""

    source: str | None = None
    regions: tuple[str, ...] = ()
    dest_key: str | None = None
    allow_default_key: bool = False
    keep_share: bool = False
    keep_staging: bool = False
    grant_autoscaling: bool = False
    notify_email: str | None = None
    ses_sender: str | None = None
    notify_sns: str | None = None
    timeout: str = "24h"
    ssm_parameter: str | None = None
    launch_template: str | None = None
    set_default: bool = False
    deprecate_after: str | None = None
    deregistration_protection: bool = False
    copy_duration: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditDefaults:
    """``[audit]``: defaults of ``amishare audit``. ``allow``: the accounts (ids or config names),
    organizations and OUs a share may name without an ``OUTSIDE_ALLOWLIST`` finding; ``--allow`` replaces it.
    Naming an account in ``[accounts.NAME]`` does not allow it: allowing is said here or with ``--allow``."""

    allow: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    defaults: Defaults = Defaults()
    accounts: dict[str, AccountConfig] = field(default_factory=dict)
    transfer: TransferDefaults = TransferDefaults()
    audit: AuditDefaults = AuditDefaults()

    def account_named(self, name: str) -> AccountConfig | None:
        return self.accounts.get(name)

    def account_by_id(self, account_id: str) -> AccountConfig | None:
        return next((a for a in self.accounts.values() if a.id == account_id), None)

    def role_in(self, account_id: str) -> RoleRef | None:
        """The role ARN to assume in ``account_id`` and its external id: its ``[accounts.NAME] role``, else
        ``[defaults] role_name``; None when neither names one."""
        named = self.account_by_id(account_id)
        default_role = self.defaults.role_name
        if named is not None:
            arn = named.role_arn(default_role)
            return RoleRef(account_id, arn, named.external_id) if arn else None
        return RoleRef(account_id, f"arn:aws:iam::{account_id}:role/{default_role}") if default_role else None


def allowed_principal(value: str, accounts: Mapping[str, AccountConfig]) -> tuple[str, str] | None:
    """What an ``--allow`` value or an ``[audit] allow`` entry names: ``("account", id)`` (an id, or the name
    of an ``[accounts.NAME]``), ``("organization", "o-...")`` or ``("ou", "ou-...")`` (each an ARN or an id);
    None when it names none of them."""
    text = value.strip()
    if ACCOUNT_ID.match(text):
        return ("account", text)
    if text in accounts:
        return ("account", accounts[text].id)
    if ORG_ARN.match(text) or ORG_ID.match(text):
        return ("organization", text.rsplit("/", 1)[-1])
    if OU_ARN.match(text) or OU_ID.match(text):
        return ("ou", text.rsplit("/", 1)[-1])
    return None


def load(path: str | Path | None = None, cwd: Path | None = None) -> Config:
    """Read ``path``, or ``amishare.toml`` in ``cwd`` when it exists; no file is an empty config."""
    if path is None:
        candidate = (cwd or Path.cwd()) / DEFAULT_FILE
        if not candidate.exists():
            return Config()
        path = candidate
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {file} does not exist: check --config, or create {DEFAULT_FILE}")
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML ({exc}): fix the syntax at that line") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot be read ({exc})") from exc
    return parse(data, file)


def _unknown(file: Path, section: str, key: str, known: set[str]) -> ConfigError:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(sorted(known))}"
    return ConfigError(f"{file}: [{section}] has an unknown key {key!r}: {hint}")


def _string(file: Path, section: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f'{file}: [{section}] {key} = {value!r}: must be a non-empty string, e.g. {key} = "..."')
    return value


def _region(file: Path, section: str, key: str, value: Any) -> str:
    text = _string(file, section, key, value)
    if not REGION.match(text):
        raise ConfigError(f'{file}: [{section}] {key} = {text!r} is not an AWS region: write it like "us-east-1"')
    return text


def _key(file: Path, section: str, key: str, value: Any, region: str | None = None) -> str:
    """A KMS key reference; an ARN in a table of region = key must name that region (keys are regional)."""
    text = _string(file, section, key, value)
    if not KEY_REF.match(text):
        raise ConfigError(
            f"{file}: [{section}] {key} = {text!r} is not a KMS key reference: give a key id, key ARN, "
            'alias (e.g. "alias/amis") or alias ARN'
        )
    named = arn_region(text)
    if region is not None and named is not None and named != region:
        raise ConfigError(
            f"{file}: [{section}] {key} = {text!r} names a key in {named}, not {region}: KMS keys are regional; "
            f"give the key of {region} (or an alias that exists there)"
        )
    return text


def _key_table(file: Path, section: str, key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(
            f'{file}: [{section}] {key} must be a table of region = key, e.g. {key} = {{ us-east-1 = "alias/x" }}'
        )
    where = f"{section}.{key}"
    return {_region(file, where, r, r): _key(file, where, r, v, region=r) for r, v in value.items()}


def parse(data: dict[str, Any], file: Path) -> Config:
    known_sections = {"defaults", "accounts", "transfer", "audit"}
    for section in data:
        if section not in known_sections:
            raise _unknown(file, "top level", section, known_sections)
    accounts = _accounts(file, data.get("accounts", {}))
    return Config(
        path=file,
        defaults=_defaults(file, data.get("defaults", {})),
        accounts=accounts,
        transfer=_transfer(file, data.get("transfer", {})),
        audit=_audit(file, data.get("audit", {}), accounts),
    )


def _audit(file: Path, raw: Any, accounts: Mapping[str, AccountConfig]) -> AuditDefaults:
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: audit must be a table: write [audit] on its own line")
    for key in raw:
        if key not in AUDIT_KEYS:
            raise _unknown(file, "audit", key, AUDIT_KEYS)
    if "allow" not in raw:
        return AuditDefaults()
    values = raw["allow"]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConfigError(f'{file}: [audit] allow must be a list of strings, e.g. allow = ["222222222222", "dev"]')
    for value in values:
        if allowed_principal(value, accounts) is None:
            names = ", ".join(sorted(accounts)) or "none"
            raise ConfigError(
                f"{file}: [audit] allow has {value!r}, which is not {ALLOW_FORMS} (config names: {names})"
            )
    return AuditDefaults(allow=tuple(v.strip() for v in values))


def _defaults(file: Path, raw: Any) -> Defaults:
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: defaults must be a table: write [defaults] on its own line")
    for key in raw:
        if key not in DEFAULT_KEYS:
            raise _unknown(file, "defaults", key, DEFAULT_KEYS)
    return Defaults(**{key: _default_value(file, key, value) for key, value in raw.items()})


def _default_value(file: Path, key: str, value: Any) -> Any:
    if key == "region":
        return _region(file, "defaults", key, value)
    if key == "share_keys":
        return _key_table(file, "defaults", key, value)
    if key == "share_key":
        return _key(file, "defaults", key, value)
    if key == "key_access" and value not in KEY_ACCESS:
        raise ConfigError(f'{file}: [defaults] key_access = {value!r}: must be "policy" or "grant"')
    if key == "retry_mode" and value not in RETRY_MODES:
        raise ConfigError(f'{file}: [defaults] retry_mode = {value!r}: must be "standard" or "adaptive"')
    if key == "kms_request_quotas":
        return _kms_quotas(file, value)
    if key == "max_parallel":
        low, high = MAX_PARALLEL
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(
                f"{file}: [defaults] max_parallel = {value!r}: must be a whole number from {low} to {high} "
                "(as --max-parallel)"
            )
        return value
    text = _string(file, "defaults", key, value)
    if key == "journal" and text.startswith("dynamodb://"):  # a table every machine sees (aws/dynamodb_journal.py)
        return text
    if key == "journal":  # relative to the config file, wherever amishare runs from (~ is the home directory)
        path = Path(text).expanduser()
        return str(path if path.is_absolute() else file.parent / path)
    if key == "endpoint_url" and not text.startswith(("http://", "https://")):
        raise ConfigError(f"{file}: [defaults] endpoint_url = {text!r}: must start with http:// or https://")
    return text


def _kms_quotas(file: Path, value: Any) -> dict[str, float]:
    """``kms_request_quotas``: KMS operations amishare calls -> requests per second (a quota raised through Service
    Quotas; amishare paces its calls to it instead of the default)."""
    known = ", ".join(sorted(KMS_REQUEST_QUOTAS))
    if not isinstance(value, dict):
        raise ConfigError(
            f"{file}: [defaults] kms_request_quotas = {value!r}: must be a table of KMS operation = requests per "
            "second, e.g. kms_request_quotas = { CreateGrant = 200 }"
        )
    quotas: dict[str, float] = {}
    for operation, rate in value.items():
        if operation not in KMS_REQUEST_QUOTAS:
            raise ConfigError(
                f"{file}: [defaults] kms_request_quotas has {operation!r}, which is not a KMS operation amishare "
                f"calls: use one of {known}"
            )
        if isinstance(rate, bool) or not isinstance(rate, int | float) or rate < 1:
            raise ConfigError(
                f"{file}: [defaults] kms_request_quotas.{operation} = {rate!r}: must be the requests a second "
                f"the account's quota allows (1 or more; KMS's default is {KMS_REQUEST_QUOTAS[operation]:g})"
            )
        quotas[operation] = float(rate)
    return quotas


def _accounts(file: Path, raw_accounts: Any) -> dict[str, AccountConfig]:
    if not isinstance(raw_accounts, dict):
        raise ConfigError(f"{file}: accounts must be tables: write [accounts.NAME] sections")
    accounts: dict[str, AccountConfig] = {}
    seen: dict[str, str] = {}
    for name, raw in raw_accounts.items():
        account = _account(file, name, raw)
        if account.id in seen:
            raise ConfigError(
                f"{file}: [accounts.{name}] id {account.id} is also the id of [accounts.{seen[account.id]}]: "
                "give each account one name"
            )
        seen[account.id] = name
        accounts[name] = account
    return accounts


def _account(file: Path, name: str, raw: Any) -> AccountConfig:
    section = f"accounts.{name}"
    if not isinstance(raw, dict):
        raise ConfigError(f'{file}: [{section}] must be a table with at least id = "<12 digits>"')
    for key in raw:
        if key not in ACCOUNT_KEYS:
            raise _unknown(file, section, key, ACCOUNT_KEYS)
    if "id" not in raw:
        raise ConfigError(f'{file}: [{section}] has no id: add id = "<12-digit account id>"')
    account_id = str(raw["id"]) if isinstance(raw["id"], str) else None
    if account_id is None or not ACCOUNT_ID.match(account_id):
        raise ConfigError(
            f"{file}: [{section}] id = {raw['id']!r}: an account id is 12 digits, written as a "
            'string, e.g. id = "222222222222"'
        )
    role = _string(file, section, "role", raw["role"]) if "role" in raw else None
    if role and role.startswith("arn:") and not role.startswith(ROLE_ARN_PREFIX):
        raise ConfigError(
            f"{file}: [{section}] role = {role!r}: give a role name or an IAM role ARN "
            "(arn:aws:iam::<account>:role/<name>)"
        )
    if role and role.startswith(ROLE_ARN_PREFIX) and arn_account(role) != account_id:
        raise ConfigError(
            f"{file}: [{section}] role = {role!r} is a role of account {arn_account(role)}, but id = "
            f'"{account_id}": amishare acts in an account through a role of that account; fix id or the role '
            f'(or give only its name, e.g. role = "{role.rsplit("/", 1)[-1]}")'
        )
    return AccountConfig(
        name=name,
        id=account_id,
        role=role,
        external_id=_string(file, section, "external_id", raw["external_id"]) if "external_id" in raw else None,
        keys=_key_table(file, section, "keys", raw["keys"]) if "keys" in raw else {},
        ssm_parameter=_string(file, section, "ssm_parameter", raw["ssm_parameter"]) if "ssm_parameter" in raw else None,
        launch_template=(
            _string(file, section, "launch_template", raw["launch_template"]) if "launch_template" in raw else None
        ),
    )


TRANSFER_STRINGS = {
    "source",
    "dest_key",
    "notify_email",
    "ses_sender",
    "notify_sns",
    "timeout",
    "ssm_parameter",
    "launch_template",
    "deprecate_after",
    "copy_duration",
}
TRANSFER_FLAGS = {
    "allow_default_key",
    "keep_share",
    "keep_staging",
    "grant_autoscaling",
    "set_default",
    "deregistration_protection",
}


def _transfer(file: Path, raw: Any) -> TransferDefaults:
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: transfer must be a table: write [transfer] on its own line")
    known = TRANSFER_STRINGS | TRANSFER_FLAGS | {"regions", "tags"}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise _unknown(file, "transfer", key, known)
        if key in TRANSFER_FLAGS:
            if not isinstance(value, bool):
                raise ConfigError(f"{file}: [transfer] {key} = {value!r}: must be true or false")
            values[key] = value
        elif key == "regions":
            if not isinstance(value, list) or not value:
                raise ConfigError(f'{file}: [transfer] regions must be a list, e.g. regions = ["us-east-1"]')
            values[key] = tuple(_region(file, "transfer", "regions", r) for r in value)
        elif key == "dest_key":
            values[key] = _key(file, "transfer", key, value)
        elif key in ("timeout", "deprecate_after", "copy_duration"):
            values[key] = _duration(file, "transfer", key, value)
        elif key == "tags":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise ConfigError(
                    f'{file}: [transfer] tags must be a table of strings, e.g. tags = {{ team = "platform" }}'
                )
            values[key] = dict(value)
        else:
            values[key] = _string(file, "transfer", key, value)
    return TransferDefaults(**values)


def _duration(file: Path, section: str, key: str, value: Any) -> str:
    text = _string(file, section, key, value)
    seconds = duration_seconds(text)
    if seconds is None or seconds <= 0:
        why = "is not a duration" if seconds is None else "must be longer than zero"
        raise ConfigError(f'{file}: [{section}] {key} = {text!r} {why}: write it like "30m", "24h" or "1d12h"')
    return text


UNSET: tuple[object, ...] = (None, (), "")  # what a user leaves unset: no value, no item, an empty word


def with_defaults(request: _R, *tables: object, by_hand: Collection[str] = ()) -> _R:
    """``request`` (a dataclass) with each field the user left unset (``UNSET``) taken from the first of
    ``tables`` (a config table such as ``[transfer]``, or any object) that sets a field of the same name;
    everything else as it was. The one place where a command's defaults meet what was asked.

    A same-named field of another type (``[transfer] timeout = "24h"`` for a request's seconds) is a
    mistake unless the caller converts it itself and says so in ``by_hand``: ``TypeError``, never a default
    silently dropped."""
    hints = typing.get_type_hints(type(request))
    changes: dict[str, Any] = {}
    for item in dataclasses.fields(request):  # type: ignore[arg-type]
        if item.name in by_hand or getattr(request, item.name) not in UNSET:
            continue
        for table in tables:
            value = getattr(table, item.name, None)
            if value in UNSET:
                continue
            if not _is_of(value, hints[item.name]):
                raise TypeError(
                    f"{type(table).__name__}.{item.name} is {value!r}, not of {type(request).__name__}'s type"
                )
            changes[item.name] = value
            break
    return dataclasses.replace(request, **changes) if changes else request  # type: ignore[type-var]


def _is_of(value: object, hint: Any) -> bool:
    """Whether ``value`` is of the type ``hint`` names (``X | None``, ``tuple[str, ...]``, ``bool`` ...)."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for option in options:
        origin = typing.get_origin(option) or option
        if origin is type(None):
            continue
        if origin is float and isinstance(value, int | float) and not isinstance(value, bool):
            return True
        if isinstance(origin, type) and isinstance(value, origin):
            return True
    return False
