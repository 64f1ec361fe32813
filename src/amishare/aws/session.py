"""Credentials and clients: boto3's chain, profiles, assume-role with refreshable credentials,
and one client per account, region and service.

botocore's ``standard`` or ``adaptive`` retry mode absorbs throttling (docs/aws-facts.md section 4).
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials

from amishare import __version__
from amishare.aws.client import ACTING_AS, Client, log_calls
from amishare.aws.errors import configuring, error_context
from amishare.errors import AwsError
from amishare.model import RoleRef


@dataclass(frozen=True)
class Connection:
    """How to reach AWS: profile, default region, endpoint (a local AWS), retries."""

    region: str
    profile: str | None = None
    endpoint_url: str | None = None
    retry_mode: str = "standard"  # or "adaptive"
    max_attempts: int = 10
    max_pool_connections: int = 50
    # fixed keys (access key id, secret) instead of boto3's chain: a local AWS's, given by the code that serves it
    credentials: tuple[str, str] | None = field(default=None, repr=False)


# What amishare is doing when it calls AWS (an action kind, or "observe"): sent in the User-Agent as
# ``amishare-step/<what>``, so CloudTrail (and the sandbox's call log) tell which step made each call.
STEP: contextvars.ContextVar[str] = contextvars.ContextVar("amishare_step", default="observe")


def as_step(what: str, func: Callable[..., Any], *args: Any) -> Any:
    """Call ``func(*args)`` with its AWS calls labelled as made by the step ``what``."""
    token = STEP.set(what)
    try:
        return func(*args)
    finally:
        STEP.reset(token)


def _tag_step(request: Any, **_: Any) -> None:
    agent = request.headers.get("User-Agent", "")
    if isinstance(agent, bytes):
        agent = agent.decode()
    base = agent.split(" amishare-step/", 1)[0]  # a retried request is signed again
    request.headers["User-Agent"] = f"{base} amishare-step/{STEP.get()}"


def _routed_to() -> str | None:
    """The account a routed client's call is made as (the calling thread's)."""
    return ACTING_AS.get(None)


class RoutedCredentials:
    """The credentials of the account the current thread acts as (``ACTING_AS``).

    A fleet run acts in hundreds of accounts; a botocore client costs about 20 ms of CPU to build,
    and must otherwise be built once per account and region. Clients built on these credentials
    serve every assumed account of a region instead: botocore signs each request with the
    credentials it gets here, in the calling thread, so each call is signed as its own account.
    """

    method = "amishare-assume-role"

    def __init__(self, lookup: Callable[[str], RefreshableCredentials]) -> None:
        self._lookup = lookup

    def _current(self) -> RefreshableCredentials:
        account = ACTING_AS.get(None)
        if account is None:
            raise RuntimeError("a routed client was called outside Client")
        return self._lookup(account)

    def get_frozen_credentials(self) -> Any:
        return self._current().get_frozen_credentials()

    def get_deferred_property(self, name: str) -> Callable[[], Any]:
        return lambda: getattr(self._current(), name, None)

    @property
    def access_key(self) -> str:
        return str(self.get_frozen_credentials().access_key)

    @property
    def secret_key(self) -> str:
        return str(self.get_frozen_credentials().secret_key)

    @property
    def token(self) -> str | None:
        token = self.get_frozen_credentials().token
        return str(token) if token else None


class Sessions:
    """boto3 sessions and clients for the caller and for roles assumed in other accounts.

    The caller's clients are cached per (region, service). Every assumed account shares one routed
    client per (region, service) (``RoutedCredentials``), wrapped per account (``Client``). Every client
    handed out is a ``Client``: its calls raise amishare's errors.
    botocore clients are thread-safe, sessions are not: client creation holds a lock per session.
    """

    def __init__(self, connection: Connection, session_name: str = "amishare") -> None:
        self.connection = connection
        self.session_name = session_name
        self._lock = threading.Lock()  # guards the dictionaries below, never held during a call
        self._loader = model_loader()
        base = botocore.session.Session(profile=connection.profile)
        base.register_component("data_loader", self._loader)
        if connection.credentials is not None:
            base.set_credentials(*connection.credentials)
        self._base = boto3.Session(botocore_session=base, region_name=connection.region)
        routed = botocore.session.get_session()
        routed.register_component("data_loader", self._loader)
        # botocore has no public setter for a session's credential provider.
        routed._credentials = RoutedCredentials(self._credentials_of)
        self._routed = boto3.Session(botocore_session=routed, region_name=connection.region)
        self._assumed: dict[str, RefreshableCredentials] = {}
        self._session_locks: dict[str, threading.Lock] = {}
        self._clients: dict[tuple[str, str, str], Client] = {}  # by (account or "caller", region, service)
        self._botocore: dict[
            tuple[str, str, str], Any
        ] = {}  # the botocore clients they share, by (who, region, service)
        self._caller: str | None = None
        self._config = Config(
            retries={"mode": connection.retry_mode, "max_attempts": connection.max_attempts},
            user_agent_extra=f"amishare/{__version__}",
            max_pool_connections=connection.max_pool_connections,
        )

    def _session_lock(self, who: str) -> threading.Lock:
        with self._lock:
            return self._session_locks.setdefault(who, threading.Lock())

    def _credentials_of(self, account: str) -> RefreshableCredentials:
        with self._lock:
            return self._assumed[account]

    def prepare(self, services: tuple[str, ...], regions: tuple[str, ...]) -> str:
        """The caller's account, asked while the caller's clients for ``services`` in ``regions`` are built
        (building a client loads its service model and costs tens of ms of CPU; the identity call waits on the
        network meanwhile). A client that cannot be built is left for the call that uses it to report."""
        with ThreadPoolExecutor(max_workers=1 + len(regions) * len(services)) as pool:
            identity = pool.submit(self.caller_account)
            for region in regions:
                for service in services:
                    pool.submit(self.client, service, region)
        return identity.result()

    # ---------------------------------------------------------------- identity
    def caller_account(self) -> str:
        """The account of the base credentials (one GetCallerIdentity, then cached)."""
        if self._caller is None:
            account = str(self.client("sts").get_caller_identity()["Account"])
            with self._lock:
                self._caller = account
        return self._caller

    def assume(self, role: RoleRef) -> None:
        """Act as ``role.account`` through ``role.role_arn`` from now on (credentials refresh themselves)."""
        with self._lock:
            if role.account in self._assumed:
                return
        with self._session_lock(f"assume:{role.account}"):
            with self._lock:
                if role.account in self._assumed:
                    return
            sts = self.client("sts")

            def fetch() -> dict[str, str]:
                params: dict[str, Any] = {"RoleArn": role.role_arn, "RoleSessionName": self.session_name}
                if role.external_id:
                    params["ExternalId"] = role.external_id
                with error_context(f"assuming {role.role_arn} to act in account {role.account}", account=role.account):
                    creds = sts.assume_role(**params)["Credentials"]
                return {
                    "access_key": creds["AccessKeyId"],
                    "secret_key": creds["SecretAccessKey"],
                    "token": creds["SessionToken"],
                    "expiry_time": creds["Expiration"].isoformat(),
                }

            # The first AssumeRole happens now: a role that cannot be assumed fails before any change.
            credentials = RefreshableCredentials.create_from_metadata(fetch(), fetch, "assume-role")
            with self._lock:
                self._assumed[role.account] = credentials

    # ----------------------------------------------------------------- clients
    def _known_caller(self) -> str | None:
        return self._caller  # None until caller_account() has asked

    def client(self, service: str, region: str | None = None, account: str | None = None) -> Client:
        """A client for ``service`` in ``region``, as ``account`` (None or the caller: base credentials); its
        calls raise amishare's errors."""
        region = region or self.connection.region
        own = account is None or account == self._caller
        key = ("caller" if own else str(account), region, service)
        with self._lock:
            found = self._clients.get(key)
            assumed = own or account in self._assumed
        if found is not None:
            return found
        if not assumed:
            raise AwsError(
                f"no credentials for account {account}: configure a role to assume", account=account, region=region
            )
        if own:
            found = Client(
                self._shared_client(self._base, "caller", service, region), region, caller=self._known_caller
            )
        else:
            found = Client(self._shared_client(self._routed, "routed", service, region), region, str(account))
        with self._lock:
            return self._clients.setdefault(key, found)

    def _shared_client(self, session: boto3.Session, who: str, service: str, region: str) -> Any:
        key = (who, region, service)
        with self._lock:
            found = self._botocore.get(key)
        if found is not None:
            return found
        with self._session_lock(who):
            with self._lock:
                found = self._botocore.get(key)
            if found is None:
                kwargs: dict[str, Any] = {"region_name": region, "config": self._config}
                if self.connection.endpoint_url:
                    kwargs["endpoint_url"] = self.connection.endpoint_url
                with configuring(region):  # a missing --profile surfaces here
                    found = session.client(service, **kwargs)
                found.meta.events.register("before-sign.*.*", _tag_step)
                log_calls(found.meta.events, region, self._known_caller if who == "caller" else _routed_to, STEP.get)
                with self._lock:
                    self._botocore[key] = found
        return found


@cache
def model_loader() -> botocore.loaders.Loader:
    """One botocore model loader per process, for every ``Sessions`` (both of its sessions): service models are
    immutable, and loading the EC2 model costs ~0.2 s, which each ``Sessions`` a process makes (a command run by a
    test, a warm Lambda's invocation) would otherwise pay again."""
    return botocore.loaders.create_loader()


@cache
def known_regions() -> list[str]:
    """EC2 regions botocore knows (all partitions), read from its bundled endpoint data (cached: that data
    is part of the installed botocore). A session reads AWS_PROFILE's config: an unknown profile is amishare's
    error (exit 5), not a traceback."""
    regions: set[str] = set()
    with configuring():
        session = boto3.Session()
        for partition in session.get_available_partitions():
            regions |= set(session.get_available_regions("ec2", partition_name=partition))
    return sorted(regions)


def default_region(profile: str | None) -> str | None:
    """The region to use when none is given: AWS_REGION, then what boto3 picks (AWS_DEFAULT_REGION, the
    profile's region)."""
    if os.environ.get("AWS_REGION"):
        return os.environ["AWS_REGION"]
    with configuring():
        region = boto3.Session(profile_name=profile).region_name
    return str(region) if region else None
