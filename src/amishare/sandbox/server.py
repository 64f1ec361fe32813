"""``Sandbox``: a local AWS on loopback that tells the truth about AMI sharing.

Runs moto's WSGI application behind the overlay (``app.OverlayApp``) on a threaded HTTP/1.1
server with keep-alive (``http.Server``), and offers seeding helpers for tests, benchmarks and the demo.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from amishare.errors import SandboxError
from amishare.sandbox import events
from amishare.sandbox.events import Event
from amishare.sandbox.identity import root_credentials
from amishare.sandbox.kms import keys
from amishare.sandbox.organizations import create_organization
from amishare.sandbox.state import AfterCall, Call, Image, Settings, Snapshot, World, new_id, utcnow
from amishare.sandbox.wire import moto_compat

if TYPE_CHECKING:
    from amishare.sandbox.engine import EngineDeployment, Runner


class Sandbox:
    """A local AWS: ``with Sandbox() as sb: boto3 clients on sb.endpoint_url``."""

    def __init__(
        self,
        copy_seconds_per_gib: float = 0.0,
        latency_ms: float = 0,
        throttle: bool = False,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ami_copy_limit: int | None = None,
        snapshot_copy_limit: int | None = None,
        block_public_access_default: str = "unblocked",
        clock: Callable[[], float] = time.monotonic,
        enforce_iam: bool = False,
    ) -> None:
        moto_compat.check_moto_version()
        os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # docs/aws-facts.md section 8
        settings = Settings(
            copy_seconds_per_gib=copy_seconds_per_gib,
            latency_ms=latency_ms,
            throttle=throttle,
            block_public_access_default=block_public_access_default,
            enforce_iam=enforce_iam,
        )
        if ami_copy_limit is not None:
            settings.ami_copy_limit = ami_copy_limit
        if snapshot_copy_limit is not None:
            settings.snapshot_copy_limit = snapshot_copy_limit
        self.world = World(settings, clock)  # clock: seconds, monotonic (tests may drive it)
        self._host, self._port = host, port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._app: Any = None
        self._engine: EngineDeployment | None = None

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> Sandbox:
        from amishare.sandbox.wire.app import OverlayApp
        from amishare.sandbox.wire.http import Server

        moto_compat.install_account_header()
        self._app = OverlayApp(self.world, moto_compat.new_moto_app())
        try:
            self._server = Server(self._host, self._port, self._app)
        except OSError as exc:  # the port is taken, or not ours to bind
            raise SandboxError(
                f"cannot listen on {self._host}:{self._port}: {exc.strerror or exc}: choose another --port "
                "(0 takes any free one)"
            ) from exc
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="amishare-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._close_engine()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def settings(self) -> Settings:
        """The knobs (latency, throttling, copy speed, limits); changes apply to the next request."""
        return self.world.settings

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not running: use it as a context manager or call start()")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # ------------------------------------------------------------------- engine
    def deploy_engine(
        self,
        manifest_path: str | Path,
        *,
        account: str,
        region: str,
        table: str = "amishare-engine",
        budget: int = 5,
        chunk_concurrency: int = 4,
        config: str | Path | None = None,
        runner: Runner | None = None,
    ) -> EngineDeployment:
        """Deploy amishare's serverless engine for a manifest in ``account`` and ``region`` (sandbox/engine.py: the
        journal's table ``table``, the runner's function answered in this process by ``runner``, default
        ``amishare.api.runner.handle``, the state machine with slices of ``budget`` seconds and at most
        ``chunk_concurrency`` chunks at once, the triggers and their bridge, waits on this sandbox's clock); the
        runner reads ``config`` (default: the amishare.toml beside the manifest). Returns the
        ``engine.EngineDeployment``; stopping or resetting the sandbox closes it."""
        from amishare.sandbox import engine

        if self._engine is not None:
            raise SandboxError("this sandbox has an engine deployed already")
        options = engine.EngineOptions(
            table=table,
            budget=budget,
            concurrency=chunk_concurrency,
            config=Path(config) if config is not None else None,
            runner=runner,
        )
        self._engine = engine.deploy(self, Path(manifest_path), _account(account), region, options)
        return self._engine

    def _close_engine(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    # -------------------------------------------------------------- credentials
    def credentials(self, account: str) -> dict[str, str]:
        """Environment variables that make AWS SDKs and CLIs act as ``account`` on this sandbox."""
        return {**root_credentials(_account(account)), "AWS_ENDPOINT_URL": self.endpoint_url}

    def session(self, account: str, region: str = "us-east-1") -> Any:
        """A ``boto3.Session`` acting as ``account``, its clients pointed at the sandbox."""
        creds = root_credentials(_account(account))
        return sandbox_session(self.endpoint_url, region, creds["AWS_ACCESS_KEY_ID"], creds["AWS_SECRET_ACCESS_KEY"])

    # ------------------------------------------------------------------ seeding
    def create_key(
        self,
        account: str,
        region: str,
        alias: str | None = None,
        policy: str | dict[str, Any] | None = None,
        description: str = "",
    ) -> str:
        """Create a customer managed key (default key policy unless ``policy``); return its ARN."""
        text = json.dumps(policy) if isinstance(policy, dict) else policy
        key = keys.create_key(self.world, _account(account), region, text, description)
        if alias is not None:
            name = alias if alias.startswith("alias/") else f"alias/{alias}"
            with self.world.lock:
                if (key.account, region, name) in self.world.aliases:
                    raise ValueError(f"alias {name} already exists in {account} {region}")
                self.world.aliases[(key.account, region, name)] = key.key_id
        return key.arn

    def seed_image(
        self,
        account: str,
        region: str,
        name: str,
        volumes_gib: list[int] | tuple[int, ...] = (8,),
        kms_key: str | None = "aws/ebs",
        *,
        description: str = "",
        tags: dict[str, str] | None = None,
        architecture: str = "x86_64",
        created: dt.datetime | None = None,
    ) -> str:
        """Register an available image over completed snapshots; ``kms_key`` None = unencrypted; ``created``: its
        creation date (and its snapshots' start time), in the past for a world with history (default: now)."""
        account = _account(account)
        if not volumes_gib:
            raise ValueError("an image needs at least one volume")
        with self.world.lock:
            key_arn = None
            if kms_key is not None:
                ref = keys.EBS_ALIAS if kms_key in ("aws/ebs", keys.EBS_ALIAS) else kms_key
                key = keys.find_key(self.world, account, region, ref)
                if key is None:
                    raise ValueError(f"no key {kms_key!r} in account {account} region {region}")
                key_arn = key.arn
            mappings = []
            for index, size in enumerate(volumes_gib):
                snapshot = Snapshot(
                    snapshot_id=new_id("snap"),
                    account=account,
                    region=region,
                    size_gib=int(size),
                    kms_key_arn=key_arn,
                    description=f"volume {index} of {name}",
                    start_time=created or utcnow(),
                )
                self.world.snapshots[snapshot.snapshot_id] = snapshot
                device = "/dev/xvda" if index == 0 else f"/dev/xvd{chr(ord('b') + index - 1)}"
                mappings.append(
                    {
                        "DeviceName": device,
                        "Ebs": {
                            "SnapshotId": snapshot.snapshot_id,
                            "VolumeSize": int(size),
                            "DeleteOnTermination": True,
                            "VolumeType": "gp3",
                        },
                    }
                )
            image = Image(
                image_id=new_id("ami"),
                account=account,
                region=region,
                name=name,
                mappings=mappings,
                description=description,
                architecture=architecture,
                tags=dict(tags or {}),
                created=created or utcnow(),
            )
            self.world.images[image.image_id] = image
        return image.image_id

    def create_role(
        self,
        account: str,
        name: str,
        trusted_account: str,
        external_id: str | None = None,
        trust_policy: dict[str, Any] | None = None,
    ) -> str:
        """Create an IAM role in ``account`` that ``trusted_account`` may assume; return its ARN."""
        if trust_policy is None:
            statement: dict[str, Any] = {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{_account(trusted_account)}:root"},
                "Action": "sts:AssumeRole",
            }
            if external_id is not None:
                statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
            trust_policy = {"Version": "2012-10-17", "Statement": [statement]}
        return moto_compat.create_role(_account(account), name, trust_policy)

    def create_organization(
        self, management_account: str, members: dict[str, list[str]] | None = None
    ) -> tuple[str, dict[str, str]]:
        """Create an organization; ``members`` maps OU paths (``"dev"``, ``"prod/web"``) to accounts."""
        return create_organization(
            self.world, _account(management_account), {k: [_account(a) for a in v] for k, v in (members or {}).items()}
        )

    def set_default_ebs_encryption(
        self, account: str, region: str, enabled: bool = True, key: str | None = None
    ) -> None:
        with self.world.lock:
            self.world.encryption_by_default[(_account(account), region)] = enabled
            if key is not None:
                found = keys.find_key(self.world, account, region, key)
                self.world.default_key[(account, region)] = found.arn if found else key

    def verify_email(self, account: str, region: str, address: str) -> None:
        """Verify an SES identity (moto's SES sends only from verified identities, as SES does)."""
        self.session(account, region).client("ses").verify_email_identity(EmailAddress=address)

    def sent_emails(self, account: str, region: str = "us-east-1") -> list[dict[str, Any]]:
        """Emails sent through SES by ``account`` in ``region``: source, subject, body, destinations."""
        return moto_compat.sent_emails(_account(account), region)

    def published(self, topic_arn: str) -> list[dict[str, Any]]:
        """Messages published to an SNS topic: message_id, message, subject (the events rules sent it included)."""
        self._settle_events()
        return moto_compat.published(topic_arn)

    def events(self, account: str | None = None, region: str | None = None) -> list[Event]:
        """The events AWS services put on default buses (``EC2 AMI State Change``, ``Parameter Store Change``), oldest
        first, of ``account`` and ``region`` when given: each one's ``document()`` as EventBridge delivers it, the
        target ARNs it was ``delivered`` to and those it ``failed`` to reach, with why (sandbox/events.py)."""
        self._settle_events()
        with self.world.delivery_lock, self.world.lock:
            return [
                replace(e, delivered=list(e.delivered), failed=list(e.failed))
                for e in self.world.events
                if account in (None, e.account) and region in (None, e.region)
            ]

    def _settle_events(self) -> None:
        """Copies that have ended on the sandbox's clock put their events, and every event put is delivered."""
        events.settle(self.world)
        events.deliver(self.world)

    def after(
        self, action: str, do: Callable[[], None], *, when: Callable[[Call, dict[str, Any]], bool] | None = None
    ) -> None:
        """Run ``do()`` once, right after the sandbox has answered the next call of ``action``
        (``"ec2:DescribeImages"``) that ``when`` accepts (given the call, as ``calls()`` lists it, and its parameters
        as boto3 sent them), and before that answer leaves: what another writer does between two calls of the code
        under test, made deterministic. Only calls the overlay answers (not moto's)."""
        with self.world.lock:
            self.world.after_calls.append(AfterCall(action, do, when or (lambda call, params: True)))

    # --------------------------------------------------------------- inspection
    def calls(self) -> list[Call]:
        """Every request served so far: account, region, service, action, mutating, status."""
        with self.world.lock:
            return [replace(c) for c in self.world.calls]

    def clear_calls(self) -> None:
        with self.world.lock:
            self.world.calls.clear()

    def reset(self) -> None:
        """Forget everything: keys, images, snapshots, organizations, sessions, moto's state, calls (a deployed
        engine is closed first: its executions stopped)."""
        self._close_engine()
        settings = self.world.settings
        with self.world.lock:
            fresh = World(settings, self.world.clock)
            self.world.__dict__.update({k: v for k, v in fresh.__dict__.items() if k not in ("lock", "delivery_lock")})
        if self._app is not None:
            self._app.throttle.reset()
        moto_compat.reset_moto()


def sandbox_session(
    endpoint_url: str, region: str, access_key: str, secret_key: str, session_token: str | None = None
) -> Any:
    """A ``boto3.Session`` whose clients and resources default to ``endpoint_url``."""
    import boto3
    import botocore.session

    class SandboxSession(boto3.Session):  # type: ignore[misc]
        def client(self, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("endpoint_url", endpoint_url)
            return super().client(*args, **kwargs)

        def resource(self, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("endpoint_url", endpoint_url)
            return super().resource(*args, **kwargs)

    core = botocore.session.get_session()
    core.register_component("data_loader", model_loader())
    return SandboxSession(
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=session_token,
        region_name=region,
        botocore_session=core,
    )


@cache
def model_loader() -> Any:
    """One botocore model loader per process: service models are immutable, and loading the EC2
    model takes about 0.2 s, which every new session would otherwise pay again."""
    import botocore.loaders

    return botocore.loaders.create_loader()


def _account(account: str) -> str:
    if not (len(account) == 12 and account.isdigit()):
        raise ValueError(f"account id must be 12 digits, got {account!r}")
    return account
