"""Running Step Functions state machines on moto (in-process under ``mock_aws``, or a sandbox's): moto's executor
runs each execution on a thread of its own, so a test starts one and waits for it to end; and the helpers that
make and read them."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def moto_client(service: str, region: str) -> Any:
    """A boto3 client for moto in-process (``mock_aws``): every ``mock_aws`` starts a fresh default boto3 session,
    whose first client of a service loads its model again (0.1 to 0.4 s); this one reuses one model loader."""
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    core.register_component("data_loader", _loader())
    return boto3.Session(botocore_session=core).client(service, region_name=region)


@functools.cache
def _loader() -> Any:
    import botocore.loaders

    return botocore.loaders.create_loader()


def wait_for_execution(sfn: Any, execution_arn: str, timeout: float = 10.0, poll: float = 0.002) -> dict[str, Any]:
    """Poll ``DescribeExecution`` until the execution has ended; return its description. ``TimeoutError`` when it
    is still running after ``timeout`` seconds (a real Wait left unwarped, a handler that blocks)."""
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] in TERMINAL:
            return described
        if time.monotonic() > deadline:
            raise TimeoutError(f"{execution_arn} still {described['status']} after {timeout} s")
        time.sleep(poll)


def run(sfn: Any, state_machine_arn: str, payload: Any, name: str | None = None) -> dict[str, Any]:
    """Start an execution of ``state_machine_arn`` with ``payload`` as its input, wait for it to end; its
    description."""
    kwargs = {"name": name} if name else {}
    started = sfn.start_execution(stateMachineArn=state_machine_arn, input=json.dumps(payload), **kwargs)
    return wait_for_execution(sfn, started["executionArn"])


def history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every event of an execution's history, oldest first, all pages (AWS gives at most 1,000 a page; moto one)."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000, **kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            return events
        kwargs = {"nextToken": page["nextToken"]}


def create_function(lambda_client: Any, name: str, role_arn: str) -> str:
    """A Python Lambda function whose code never runs (``moto_compat.lambda_in_process`` answers its invokes);
    its ARN."""
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    created = lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role_arn,
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
    )
    return str(created["FunctionArn"])


class TestClock:
    """A clock that waits advance: ``advance(seconds)`` records each wait and moves ``now`` (thread-safe)."""

    __test__ = False  # not a test class

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)
            self.now += seconds


ACCOUNT = "111111111111"  # not moto's default account: tasks must call as the state machine's role
REGION = "us-east-1"
LAMBDA_TRUST = json.dumps(
    {"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
)
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:slice"


@dataclass
class Machines:
    """moto running state machines in ACCOUNT: ``answer`` is the Lambda handler, ``clock`` the waits."""

    sfn: Any
    role_arn: str
    runs: Any  # moto_compat.StateMachineRuns
    clock: TestClock
    answer: Callable[[str, Any], Any] = lambda name, payload: payload
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def create(self, definition: dict[str, Any], name: str = "machine") -> str:
        created = self.sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=self.role_arn)
        return str(created["stateMachineArn"])

    def handler(self, name: str, payload: Any) -> Any:
        self.calls.append((name, payload))
        return self.answer(name, payload)


def client_as_account(service: str) -> Any:
    """A boto3 client of moto in-process acting as ACCOUNT (moto's ``x-moto-account-id`` header)."""
    client = moto_client(service, REGION)

    def as_account(request: Any, **kwargs: Any) -> None:
        request.headers["x-moto-account-id"] = ACCOUNT

    client.meta.events.register_first("before-sign.*.*", as_account)
    return client


@contextlib.contextmanager
def moto_machines() -> Iterator[Machines]:
    """moto in-process executing state machines in ACCOUNT: a function ``slice`` whose invokes ``Machines.handler``
    answers, waits and retries on a ``TestClock``."""
    from moto import mock_aws

    from amishare.sandbox.wire import moto_compat

    clock = TestClock()
    with mock_aws(), moto_compat.execute_state_machines() as runs:
        iam = client_as_account("iam")
        role_arn = iam.create_role(RoleName="machine", AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
        create_function(client_as_account("lambda"), "slice", role_arn)
        found = Machines(client_as_account("stepfunctions"), role_arn, runs, clock)
        with moto_compat.lambda_in_process(found.handler), moto_compat.warped_waits(clock.advance):
            yield found
