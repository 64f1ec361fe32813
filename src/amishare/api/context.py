"""Settings: the configuration file and the global flags, merged once (flags win), and what is derived
from them for every command (the region, the role amishare assumes in an account). The region is the AWS
CLI's: ``--region``, then ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, then amishare.toml, then the profile's."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from amishare import config as config_file
from amishare import inputs
from amishare.aws.dynamodb_journal import SCHEME, DynamoJournal
from amishare.aws.session import Connection, Sessions, default_region, known_regions
from amishare.config import Config
from amishare.engine import journal
from amishare.errors import UsageError


@dataclass(frozen=True)
class Flags:
    """The global flags of every command (``--config``, ``--profile``, ``--region`` ...); ``None`` leaves the
    value to amishare.toml, then to amishare's default."""

    config_path: str | Path | None = None
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    journal_path: str | Path | None = None
    max_parallel: int | None = None
    retry_mode: str | None = None
    key_access: str | None = None


@dataclass(frozen=True)
class Settings:
    """Configuration file and command-line flags, merged (flags win)."""

    config: Config
    connection: Connection
    key_access: str
    journal_path: Path
    max_parallel: int
    journal_url: str | None = None  # dynamodb://TABLE[?region=R]: the journal every machine sees
    shared: Sessions | None = field(default=None, compare=False, repr=False)  # ``reusing_sessions``

    def reusing_sessions(self) -> Settings:
        """These settings, with one set of AWS sessions every ``sessions()`` returns: for a long-lived process that
        serves many requests (a warm Lambda: building botocore's sessions costs ~0.1 s each)."""
        return self if self.shared is not None else replace(self, shared=Sessions(self.connection))

    @property
    def journal_location(self) -> str:
        """Where the runs are recorded, as a user writes it (a path, or dynamodb://TABLE)."""
        return self.journal_url or str(self.journal_path)

    def sessions(self) -> Sessions:
        """A fresh set of AWS sessions (one per account, credentials refreshed as needed), or the shared one."""
        return self.shared if self.shared is not None else Sessions(self.connection)

    def journal(self) -> journal.Journal | DynamoJournal:
        """The journal the runs are recorded in (open: close it when done): SQLite, or a DynamoDB table."""
        if self.journal_url:
            return DynamoJournal(self.sessions(), self.journal_url, self.connection.region)
        return journal.Journal(self.journal_path)

    def region(self, asked: str | None = None) -> str:
        """``asked`` validated, else the settings' region."""
        return inputs.region(asked, known_regions()) if asked else self.connection.region


def settings(flags: Flags | None = None, *, cwd: Path | None = None) -> Settings:
    """Load the config (``flags.config_path``, else ``amishare.toml`` in ``cwd``) and apply the flags."""
    flags = flags or Flags()
    cfg = config_file.load(flags.config_path, cwd)
    defaults = cfg.defaults
    profile = flags.profile or defaults.profile
    # the AWS CLI's order: the flag, the environment, then the files (amishare.toml before the profile's)
    chosen = flags.region or environment_region() or defaults.region or default_region(profile)
    if not chosen:
        raise UsageError("no region: pass --region, export AWS_REGION, or set region under [defaults] in amishare.toml")
    inputs.region(chosen, known_regions())
    access = flags.key_access or defaults.key_access
    check_key_access(access)
    endpoint = flags.endpoint_url or defaults.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise UsageError(f"--endpoint-url {endpoint!r}: must start with http:// or https://")
    chosen_journal = str(
        flags.journal_path or defaults.journal or os.environ.get("AMISHARE_JOURNAL") or journal.default_path()
    )
    url = chosen_journal if chosen_journal.startswith(SCHEME) else None
    path = journal.default_path() if url else Path(chosen_journal).expanduser()
    return Settings(
        config=cfg,
        connection=Connection(
            region=chosen,
            profile=profile,
            endpoint_url=endpoint,
            retry_mode=flags.retry_mode or defaults.retry_mode,
            kms_quotas=tuple(sorted(defaults.kms_request_quotas.items())),
        ),
        key_access=access,
        journal_path=path,
        max_parallel=flags.max_parallel or defaults.max_parallel,
        journal_url=url,
    )


def environment_region() -> str | None:
    """``AWS_REGION``, else ``AWS_DEFAULT_REGION`` (what the AWS SDKs and the AWS CLI read); None when neither
    is set. They outrank amishare.toml's region, as they outrank the AWS CLI's config file."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


def check_key_access(value: str) -> str:
    """``value`` when it is a key access mode amishare knows (``policy`` or ``grant``)."""
    if value not in config_file.KEY_ACCESS:
        raise UsageError(f"--key-access {value!r}: must be policy or grant")
    return value
