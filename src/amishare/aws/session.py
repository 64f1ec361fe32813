"""Credentials and clients: boto3's chain, profiles, assume-role with refreshable credentials,
and one client per account, region and service.

botocore's ``standard`` or ``adaptive`` retry mode absorbs throttling (AWS-RULES.md section 4).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.credentials import DeferredRefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError

from amishare import __version__
from amishare.aws.errors import translate
from amishare.errors import AwsError


@dataclass(frozen=True)
class Connection:
    """How to reach AWS: profile, default region, endpoint (a local AWS), retries."""

    region: str
    profile: str | None = None
    endpoint_url: str | None = None
    retry_mode: str = "standard"  # or "adaptive"
    max_attempts: int = 10
    max_pool_connections: int = 50


@dataclass(frozen=True)
class RoleRef:
    account: str
    role_arn: str
    external_id: str | None = None


class Sessions:
    """boto3 sessions and clients for the caller and for roles assumed in other accounts.

    Clients are cached per (account, region, service) on this object. botocore clients are
    thread-safe but sessions are not: each session creates its clients under a lock of its own,
    so that clients of different accounts are made in parallel, and a role is assumed once.
    """

    def __init__(self, connection: Connection, session_name: str = "amishare") -> None:
        self.connection = connection
        self.session_name = session_name
        self._lock = threading.Lock()  # guards the dictionaries below, never held during a call
        # One model loader for every session of this object: loading the EC2 model costs ~0.2 s,
        # which each assumed role's session would otherwise pay again.
        self._loader = botocore.loaders.create_loader()
        base = botocore.session.Session(profile=connection.profile)
        base.register_component("data_loader", self._loader)
        self._base = boto3.Session(botocore_session=base, region_name=connection.region)
        self._sessions: dict[str, boto3.Session] = {}
        self._session_locks: dict[str, threading.Lock] = {}
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._caller: str | None = None
        self._config = Config(
            retries={"mode": connection.retry_mode, "max_attempts": connection.max_attempts},
            user_agent_extra=f"amishare/{__version__}",
            max_pool_connections=connection.max_pool_connections,
        )

    def _session_lock(self, who: str) -> threading.Lock:
        with self._lock:
            return self._session_locks.setdefault(who, threading.Lock())

    # ---------------------------------------------------------------- identity
    def caller_account(self) -> str:
        """The account of the base credentials (one GetCallerIdentity, then cached)."""
        if self._caller is None:
            sts = self.client("sts")
            try:
                account = str(sts.get_caller_identity()["Account"])
            except (ClientError, BotoCoreError) as exc:
                raise translate(exc, "GetCallerIdentity", None, self.connection.region) from exc
            with self._lock:
                self._caller = account
        return self._caller

    def assume(self, role: RoleRef) -> None:
        """Act as ``role.account`` through ``role.role_arn`` from now on (credentials refresh themselves)."""
        with self._lock:
            if role.account in self._sessions:
                return
        with self._session_lock(f"assume:{role.account}"):
            with self._lock:
                if role.account in self._sessions:
                    return
            sts = self.client("sts")

            def fetch() -> dict[str, str]:
                params: dict[str, Any] = {"RoleArn": role.role_arn, "RoleSessionName": self.session_name}
                if role.external_id:
                    params["ExternalId"] = role.external_id
                try:
                    creds = sts.assume_role(**params)["Credentials"]
                except (ClientError, BotoCoreError) as exc:
                    raise translate(exc, "AssumeRole", role.account, self.connection.region) from exc
                return {
                    "access_key": creds["AccessKeyId"],
                    "secret_key": creds["SecretAccessKey"],
                    "token": creds["SessionToken"],
                    "expiry_time": creds["Expiration"].isoformat(),
                }

            fetch()  # fail now, before any change, when the role cannot be assumed
            core = botocore.session.get_session()
            core.register_component("data_loader", self._loader)
            # botocore has no public setter for refreshable credentials on a session.
            core._credentials = DeferredRefreshableCredentials(refresh_using=fetch, method="assume-role")
            session = boto3.Session(botocore_session=core, region_name=self.connection.region)
            with self._lock:
                self._sessions[role.account] = session

    # ----------------------------------------------------------------- clients
    def client(self, service: str, region: str | None = None, account: str | None = None) -> Any:
        """A client for ``service`` in ``region``, as ``account`` (None or the caller: base credentials)."""
        region = region or self.connection.region
        who = account or "caller"
        key = (who, region, service)
        with self._lock:
            found = self._clients.get(key)
            session = self._base if account is None or account == self._caller else self._sessions.get(account)
        if found is not None:
            return found
        if session is None:
            raise AwsError(
                f"no credentials for account {account}: configure a role to assume", account=account, region=region
            )
        with self._session_lock(who):
            with self._lock:
                found = self._clients.get(key)
            if found is None:
                found = self._new_client(session, service, region)
                with self._lock:
                    self._clients[key] = found
        return found

    def _new_client(self, session: boto3.Session, service: str, region: str) -> Any:
        kwargs: dict[str, Any] = {"region_name": region, "config": self._config}
        if self.connection.endpoint_url:
            kwargs["endpoint_url"] = self.connection.endpoint_url
        return session.client(service, **kwargs)


@cache
def known_regions() -> list[str]:
    """EC2 regions botocore knows (all partitions), read from its bundled endpoint data (cached: that data
    is part of the installed botocore)."""
    session = boto3.Session()
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions |= set(session.get_available_regions("ec2", partition_name=partition))
    return sorted(regions)


def default_region(profile: str | None) -> str | None:
    """The region to use when none is given: AWS_REGION, then what boto3 picks (AWS_DEFAULT_REGION, the
    profile's region)."""
    if os.environ.get("AWS_REGION"):
        return os.environ["AWS_REGION"]
    try:
        region = boto3.Session(profile_name=profile).region_name
        return str(region) if region else None
    except BotoCoreError as exc:
        raise translate(exc, "configure", None, None) from exc
