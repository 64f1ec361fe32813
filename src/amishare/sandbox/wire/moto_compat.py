"""The only place the overlay touches moto's internals.

moto has no public API for these needs, so the supported moto range is one minor version (pyproject's ``sandbox``
extra), checked when a sandbox starts: a moto outside it fails loudly with ``UnsupportedMoto`` instead of misbehaving
quietly. ``tests/sandbox/test_moto_compat.py`` exercises each hook below, ``tests/sandbox/test_state_machines.py``
the Step Functions ones (``tests/sandbox/test_engine_hooks.py`` them behind the overlay)."""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import types
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from amishare.errors import UnsupportedMoto

SUPPORTED_MOTO = (5, 2)
ACCOUNT_HEADER = "x-amishare-sandbox-account"


def moto_version() -> tuple[int, int]:
    try:
        import moto
    except ImportError as exc:
        raise UnsupportedMoto("amishare.sandbox needs moto: pip install 'amishare[sandbox]'") from exc

    major, minor = (int(part) for part in str(moto.__version__).split(".")[:2])
    return major, minor


def check_moto_version() -> None:
    found = moto_version()
    if found != SUPPORTED_MOTO:
        want = ".".join(map(str, SUPPORTED_MOTO))
        raise UnsupportedMoto(
            f"amishare.sandbox supports moto {want}.x, found {'.'.join(map(str, found))}; "
            f"install it with: pip install 'moto[server]>={want},<{SUPPORTED_MOTO[0]}.{SUPPORTED_MOTO[1] + 1}'"
        )


def install_account_header() -> None:
    """Make moto take the account from the overlay's header before ``MOTO_ACCOUNT_ID``: moto's
    ``BaseResponse.get_current_account`` prefers the environment variable ``MOTO_ACCOUNT_ID`` over the caller's
    credentials (docs/aws-facts.md section 8); the overlay knows the caller's account and passes it in
    ``ACCOUNT_HEADER``."""
    from moto.core.responses import BaseResponse

    original = BaseResponse.get_current_account
    if getattr(original, "_amishare", False):
        return

    def get_current_account(self: Any) -> str:
        account = self.headers.get(ACCOUNT_HEADER)
        return str(account) if account else str(original(self))

    get_current_account._amishare = True  # type: ignore[attr-defined]
    BaseResponse.get_current_account = get_current_account  # type: ignore[method-assign]


def role_trust_policy(account: str, role_name: str) -> tuple[dict[str, Any], int] | None:
    """The trust policy and maximum session duration of an IAM role held by moto."""
    from moto.iam.models import iam_backends

    try:
        role = iam_backends[account]["aws"].get_role(role_name)
    except Exception:  # moto raises its own IAMNotFoundException
        return None
    document = role.assume_role_policy_document
    policy = json.loads(document) if isinstance(document, str) else dict(document)
    return policy, int(role.max_session_duration or 3600)


def create_role(account: str, role_name: str, trust_policy: dict[str, Any]) -> str:
    """Create an IAM role in moto's backend directly (seeding: ~40x faster than a boto3 session and an IAM
    client per account, which a fleet of 1,000 accounts notices); return its ARN."""
    from moto.iam.models import iam_backends

    role = iam_backends[account]["aws"].create_role(
        role_name=role_name,
        assume_role_policy_document=json.dumps(trust_policy),
        path="/",
        permissions_boundary=None,
        description="",
        tags=[],
        max_session_duration="3600",
    )
    return str(role.arn)


# moto checks a DynamoDB condition and then writes, without a lock: two threads of the sandbox's server can
# both pass ``attribute_not_exists`` and both write. DynamoDB's conditional writes are atomic (Developer Guide,
# "Condition expressions"); serializing moto's DynamoDB requests makes them so here (the journal's leases and
# the key locks rely on it).
_SERIALIZED = {"dynamodb": threading.Lock()}


@contextlib.contextmanager
def serialized(service: str) -> Iterator[None]:
    """Hold the lock that makes moto's answers to ``service`` atomic (none for the other services)."""
    lock = _SERIALIZED.get(service)
    if lock is None:
        yield
        return
    with lock:
        yield


def new_moto_app() -> Any:
    """moto's WSGI application (the one its HTTP server serves)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return DomainDispatcherApplication(create_backend_app)


def reset_moto() -> None:
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()


def sent_emails(account: str, region: str) -> list[dict[str, Any]]:
    """Emails moto's SES accepted for ``account`` in ``region``."""
    from moto.ses.models import ses_backends

    return [
        {
            "source": m.source,
            "subject": getattr(m, "subject", ""),
            "body": getattr(m, "body", ""),
            "destinations": getattr(m, "destinations", {}),
        }
        for m in ses_backends[account][region].sent_messages
    ]


def published(topic_arn: str) -> list[dict[str, Any]]:
    """Messages moto's SNS accepted for a topic."""
    from moto.sns.models import sns_backends

    _, _, _, region, account, _ = topic_arn.split(":", 5)
    topic = sns_backends[account][region].topics.get(topic_arn)
    return [{"message_id": n[0], "message": n[1], "subject": n[2]} for n in (topic.sent_notifications if topic else [])]


def role_policies(account: str, role_name: str) -> list[tuple[str, str]]:
    """The identity policies of an IAM role held by moto, as (name, JSON document): inline (a dict when moto's
    CloudFormation made the role), then attached managed (default versions). Empty when the role does not exist."""
    from moto.iam.models import iam_backends

    try:
        role = iam_backends[account]["aws"].get_role(role_name)
    except Exception:  # moto raises its own IAMNotFoundException
        return []
    documents = [(str(name), d if isinstance(d, str) else json.dumps(d)) for name, d in role.policies.items()]
    for arn, policy in role.managed_policies.items():
        documents += [(str(arn), str(v.document)) for v in policy.versions if v.is_default]
    return documents


@dataclass(frozen=True)
class BusRule:
    """An enabled rule with an event pattern on a default event bus, as moto holds it."""

    arn: str
    account: str
    matches: Callable[[dict[str, Any]], bool]  # moto's event pattern matcher
    targets: tuple[dict[str, Any], ...]  # PutTargets' entries: Id, Arn, Input, InputPath, InputTransformer ...


def _existing(backends: Any, account: str, region: str) -> Any:
    """moto's backend of ``account`` and ``region`` when one was made, None otherwise: ``dict.get`` does not make one
    (moto's ``__getitem__`` creates backends on first use, which delivering an event must not do for every account)."""
    by_account = dict.get(backends, account)
    return dict.get(by_account, region) if by_account is not None else None


def default_bus_rules(account: str, region: str) -> list[BusRule]:
    """The enabled rules with an event pattern on the default event bus of ``account`` in ``region`` (schedule-only
    rules match no event)."""
    from moto.events.models import events_backends

    backend = _existing(events_backends, account, region)
    bus = backend.event_buses.get("default") if backend is not None else None
    if bus is None:
        return []
    return [
        BusRule(rule.arn, account, rule.event_pattern.matches_event, tuple(dict(t) for t in rule.targets))
        for rule in list(bus.rules.values())
        if rule.state == "ENABLED" and rule.event_pattern.get_pattern()
    ]


def _parts(arn: str) -> tuple[str, str, str, str]:
    """(service, region, account, resource) of an ARN."""
    _, _, service, region, account, resource = arn.split(":", 5)
    return service, region, account, resource


def target_policy(arn: str) -> str | None:
    """The resource policy of an SNS topic or SQS queue held by moto (None when it has none); ``LookupError`` when
    there is no such topic or queue."""
    service, region, account, resource = _parts(arn)
    if service == "sns":
        from moto.sns.models import sns_backends

        topic = sns_backends[account][region].topics.get(arn)
        if topic is None:
            raise LookupError(arn)
        return str(topic.policy)
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[account][region].queues.get(resource)
    if queue is None:
        raise LookupError(arn)
    return str(queue.policy) if queue.policy else None


def send_to_target(arn: str, message: str, group_id: str | None = None) -> None:
    """Publish ``message`` to an SNS topic, or send it to an SQS queue (``group_id``: a FIFO queue's group)."""
    service, region, account, resource = _parts(arn)
    if service == "sns":
        from moto.sns.models import sns_backends

        sns_backends[account][region].publish(message, arn=arn)
        return
    from moto.sqs.models import sqs_backends

    sqs_backends[account][region].send_message(queue_name=resource, message_body=message, group_id=group_id)


# ---------------------------------------------------------------------------------------------- Step Functions
# moto 5.2 runs Amazon States Language in-process (moto/stepfunctions/parser) when its config says so; the hooks
# below make it run what a test needs: Lambda tasks answered by Python, waits on a test clock, and where moto's
# executor differs from AWS, made truthful (execution names, a task's account, distributed Map children).

STATE_MACHINE_CONFIG: dict[str, Any] = {
    "stepfunctions": {"execute_state_machine": True},  # moto.stepfunctions.responses.get_backend: the ASL executor
    "lambda": {"use_docker": False},  # moto.awslambda.utils.get_backend: LambdaSimpleBackend, no Docker
}
"""moto's config for running state machines: ``mock_aws(config=STATE_MACHINE_CONFIG)``, or the body of
``POST /moto-api/config`` to a moto server. ``execute_state_machines()`` sets it too, for its duration."""

TaskCredentials = Callable[[str], tuple[str, str, str | None]]
"""``credentials(role_arn) -> (access key id, secret, session token)``: what a task acting as a role signs with."""

LambdaHandler = Callable[[str, Any], Any]
"""``handler(function_name_or_arn, payload) -> result``: the payload and the result are JSON values (the payload
an object, as a dict, unless the caller sent another JSON value)."""


@contextlib.contextmanager
def _patched(owner: Any, name: str, value: Any) -> Iterator[None]:
    """``owner.name`` is ``value`` for the duration (a class's method, a module's global)."""
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


@contextlib.contextmanager
def _patched_item(mapping: Any, key: str, value: Any) -> Iterator[None]:
    """``mapping[key]`` is ``value`` for the duration."""
    missing = object()
    original = mapping.get(key, missing)
    mapping[key] = value
    try:
        yield
    finally:
        if original is missing:
            mapping.pop(key, None)
        else:
            mapping[key] = original


@contextlib.contextmanager
def lambda_in_process(handler: LambdaHandler) -> Iterator[None]:
    """Every Lambda ``Invoke`` that moto answers runs ``handler`` in this process, for the duration: replaces
    ``moto.awslambda_simple.models.LambdaSimpleBackend.invoke`` (which only echoes the payload); needs
    moto's ``{"lambda": {"use_docker": False}}`` (``STATE_MACHINE_CONFIG``). The function must exist in the
    account and region moto routes the call to (moto's ``ResourceNotFoundException`` otherwise, as Lambda's), and
    ``handler`` is given the name or ARN the caller sent. A handler that raises is a function error, as Lambda
    reports one: status 200, ``X-Amz-Function-Error: Unhandled``, body ``{"errorMessage": str(exc), "errorType":
    type(exc).__name__}``; a Step Functions Task sees it as a failure whose Error is ``errorType`` (moto's
    ``StateTaskServiceLambda._from_error`` and ``StateTaskLambda._from_error`` read it), which ``States.ALL`` and
    ``States.TaskFailed`` both match, as in AWS (not ``Lambda.Unknown``: AWS's name for a function that crashed
    without a reply). ``Event`` invocations run the handler and answer nothing (its error is dropped, as Lambda's
    asynchronous invocations return none); ``DryRun`` runs nothing.
    """
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def invoke(self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response: Any) -> bytes:
        self.get_function(function_name, qualifier)  # raises moto's UnknownFunctionException when there is none
        invocation = headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        if invocation == "DryRun":
            return b""
        payload = json.loads(body) if body else {}
        try:
            result = handler(function_name, payload)
        except Exception as exc:
            if invocation == "Event":
                return b""
            response["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__}).encode()
        return b"" if invocation == "Event" else json.dumps(result).encode()

    with _patched(LambdaSimpleBackend, "invoke", invoke):
        yield


@contextlib.contextmanager
def warped_waits(advance: Callable[[float], None]) -> Iterator[None]:
    """Wait states and Retry intervals of moto's executor call ``advance(seconds)`` instead of sleeping, for the
    duration: hours of waiting run in no time, and a test clock can follow them. ``advance`` is called only for a
    positive interval, possibly from several threads at once (a Map's iterations run on threads).

    Replaces ``moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function.WaitFunction.
    _wait_interval`` (Seconds, SecondsPath, Timestamp, TimestampPath: a timestamp's wait is its distance from the
    real ``datetime.now()``, moto's ``Timestamp._get_wait_seconds``) and the ``time`` module that
    ``moto.stepfunctions.parser.asl.component.common.retry.retrier_decl.RetrierDecl._eval_body`` sleeps with (the
    interval after BackoffRate, MaxDelaySeconds and JitterStrategy).
    """
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    def wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        if wait_seconds > 0:
            advance(wait_seconds)

    def sleep(seconds: float) -> None:
        if seconds > 0:
            advance(seconds)

    with (
        _patched(WaitFunction, "_wait_interval", wait_interval),
        _patched(retrier_decl, "time", types.SimpleNamespace(sleep=sleep)),
    ):
        yield


@dataclass(frozen=True)
class MapChild:
    """One iteration of a distributed Map, as moto ran it: in AWS a child workflow execution of its own, with its
    own history; moto runs it in the parent's process and keeps no history of it (``execute_state_machines()``
    records it here)."""

    map_run_arn: str
    index: int
    item: Any
    status: str  # SUCCEEDED, FAILED or ABORTED
    events: tuple[dict[str, Any], ...]  # its states' events; moto leaves out ExecutionStarted and the end event

    @property
    def event_count(self) -> int:
        """The length of the history AWS would keep for this child execution: its states' events, its
        ``ExecutionStarted`` and its end event (``ExecutionSucceeded``, ``ExecutionFailed`` ...)."""
        return len(self.events) + 2


@dataclass
class StateMachineRuns:
    """What ``execute_state_machines()`` saw: the distributed Map iterations that ran, in the order they ended, and
    the executions it stopped at its end (their ARNs)."""

    map_children: list[MapChild] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    _executions: list[Any] = field(default_factory=list, repr=False)  # moto's Execution objects it started
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def children_of(self, map_run_arn: str) -> list[MapChild]:
        """The iterations of one Map Run, by index."""
        with self._lock:
            return sorted((c for c in self.map_children if c.map_run_arn == map_run_arn), key=lambda c: c.index)


@contextlib.contextmanager
def execute_state_machines(
    endpoint_url: str | None = None, credentials: TaskCredentials | None = None
) -> Iterator[StateMachineRuns]:
    """moto runs the state machines it is asked to execute, for the duration, more truthfully than by its config
    alone; executions still running at the end are stopped (so that none outlives a test's moto). Inside
    ``mock_aws()`` give no argument; around a sandbox (in this process) its ``endpoint_url`` and the ``credentials``
    of the role each task acts as: moto's would call ``localhost:$MOTO_PORT`` as ``ak``, which the overlay refuses.

    - moto's config ``STATE_MACHINE_CONFIG`` (``moto.core.config.default_user_config``).
    - ``StartExecution`` without a name names the execution with a UUID, as AWS does: moto's
      ``moto.stepfunctions.parser.models.StepFunctionsParserBackend.start_execution`` names it ``None``, which makes
      the next unnamed start of the machine ``ExecutionAlreadyExists`` (or the same execution).
    - A task's service calls act as the account of the state machine's role (the task's ``Credentials`` role when
      it has one), as in AWS: moto's ``moto.stepfunctions.parser.asl.utils.boto_client.boto_client_for`` signs them
      with the access key ``ak``, which moto takes for its default account. The calls carry moto's
      ``x-moto-account-id`` header (``BaseResponse.get_current_account``); with ``credentials``, they are signed
      with the role's own (the overlay takes the caller from them) and sent to ``endpoint_url``.
    - Distributed Map: each iteration's events are kept (``StateMachineRuns.map_children``; moto's
      ``DistributedIterationComponent._eval_body`` gives all of a Map Run's iterations one ``EventManager`` and
      drops it) by ``DistributedItemProcessorWorker._eval_job``; and a Map Run fails with
      ``States.ExceedToleratedFailureThreshold`` when more iterations failed than ``ToleratedFailureCount`` /
      ``ToleratedFailurePercentage`` allow (default: none), as in AWS, where moto makes a failed iteration's result
      ``null`` and the Map succeed (``DistributedIterationComponent._map_run``). The threshold is checked once every
      iteration has ended (AWS stops the Map Run as soon as it is exceeded); a threshold of 0 beside a positive
      other one counts as not given.
    """
    from moto.core.config import default_user_config
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    runs = StateMachineRuns()
    original_start = StepFunctionsParserBackend.start_execution

    def start_execution(self: Any, state_machine_arn: str, name: str | None = None, *args: Any, **kw: Any) -> Any:
        execution = original_start(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kw)
        with runs._lock:
            runs._executions.append(execution)
        return execution

    with contextlib.ExitStack() as stack:
        for key, value in STATE_MACHINE_CONFIG.items():
            stack.enter_context(_patched_item(default_user_config, key, value))
        stack.enter_context(_patched(StepFunctionsParserBackend, "start_execution", start_execution))
        stack.enter_context(_tasks_call_as_their_role(endpoint_url, credentials))
        stack.enter_context(_distributed_map_children(runs))
        try:
            yield runs
        finally:
            _stop_running(runs)


def _stop_running(runs: StateMachineRuns) -> None:
    import datetime
    import time

    with runs._lock:
        running = [e for e in runs._executions if e.exec_status == "RUNNING" and e.exec_worker is not None]
    for execution in running:
        deadline = time.monotonic() + 2  # a worker just started sets its environment up on its own thread
        while execution.exec_worker.env is None and time.monotonic() < deadline:
            time.sleep(0.005)
        execution.stop(datetime.datetime.now(datetime.UTC), error=None, cause=None)
        runs.stopped.append(str(execution.execution_arn))


@contextlib.contextmanager
def _tasks_call_as_their_role(endpoint_url: str | None, credentials: TaskCredentials | None) -> Iterator[None]:
    """``boto_client_for``, wherever moto's executor imported it, gives clients that call as the role's account:
    moto's clients (``ak``/``sk``, no retries, no parameter validation, moto's endpoint unless moto is intercepting
    boto3 in-process) with the ``x-moto-account-id`` header, or signed with the role's ``credentials`` and sent to
    ``endpoint_url``. One client per region, service and role (moto makes one for every task: ~12 ms each, ~0.1 s
    more for the first one of a fresh boto3 session, which every ``mock_aws`` starts)."""
    import sys

    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    clients: dict[tuple[str, str, str, bool], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        role_arn = str(getattr(state_credentials, "role_arn", "") or "")
        key = (region, service, role_arn, bool(botocore_stubber.enabled))
        with lock:
            if key not in clients:
                moto = None if key[3] else f"http://localhost:{moto_server_port()}"
                keys = credentials(role_arn) if credentials is not None else None
                clients[key] = _task_client(region, service, role_arn, endpoint_url or moto, keys)
            return clients[key]

    def swap(old: Any, new: Any) -> None:
        for module in list(sys.modules.values()):
            name = getattr(module, "__name__", "") or ""
            if name.startswith("moto.stepfunctions.parser") and getattr(module, "boto_client_for", None) is old:
                setattr(module, "boto_client_for", new)  # noqa: B010

    swap(original, boto_client_for)
    try:
        yield
    finally:
        swap(boto_client_for, original)


def _task_client(
    region: str, service: str, role_arn: str, endpoint: str | None, keys: tuple[str, str, str | None] | None
) -> Any:
    """A client as moto's ``boto_client_for`` makes one, as ``role_arn``'s account (moto's keys), or with ``keys``."""
    import boto3
    import botocore.session
    from botocore.config import Config
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    core = botocore.session.get_session()
    core.register_component("data_loader", _botocore_loader())
    access_key, secret_key, token = keys or ("ak", "sk", None)
    client = boto3.Session(botocore_session=core).client(
        service,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=token,
        endpoint_url=endpoint,
        config=Config(
            parameter_validation=False,
            retries={"max_attempts": 0, "total_max_attempts": 1},
            connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
        ),
    )
    account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
    if account and keys is None:

        def tell_account(request: Any, **kwargs: Any) -> None:
            request.headers["x-moto-account-id"] = account

        client.meta.events.register_first("before-sign.*.*", tell_account)
    return client


@functools.cache
def _botocore_loader() -> Any:
    """One botocore model loader for the executor's clients (loading a service's model takes 0.1 to 0.4 s)."""
    import botocore.loaders

    return botocore.loaders.create_loader()


@contextlib.contextmanager
def _distributed_map_children(runs: StateMachineRuns) -> Iterator[None]:
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import distributed_iteration_component
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        distributed_item_processor_worker,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramEnded, ProgramStopped

    worker = distributed_item_processor_worker.DistributedItemProcessorWorker
    component = distributed_iteration_component.DistributedIterationComponent
    original_job, original_run = worker._eval_job, component._map_run

    def eval_job(self: Any, env: Any, job: Any) -> None:
        env.event_manager = EventManager()  # the iteration's own history (env is this job's frame)
        try:
            original_job(self, env, job)
        finally:
            state = env.program_state()
            ended = "SUCCEEDED" if isinstance(state, ProgramEnded) else "FAILED"
            status = "ABORTED" if isinstance(state, ProgramStopped) else ended
            child = MapChild(
                self._map_run_record.map_run_arn,
                int(job.job_index),
                job.job_input,
                status,
                tuple(json.loads(json.dumps(e, default=str)) for e in env.event_manager.get_event_history()),
            )
            with runs._lock:
                runs.map_children.append(child)

    def map_run(self: Any, env: Any, eval_input: Any) -> None:
        original_run(self, env, eval_input)
        items = eval_input.map_run_record.item_counter
        failed, total = items.failed.get() + items.timed_out.get(), items.total.get()
        if _exceeds(failed, total, eval_input.tolerated_failure_count, eval_input.tolerated_failure_percentage):
            env.stack.pop()  # the iterations' outputs
            raise _threshold_exceeded(env)

    with _patched(worker, "_eval_job", eval_job), _patched(component, "_map_run", map_run):
        yield


def _exceeds(failed: int, total: int, count: int, percentage: float) -> bool:
    """Whether ``failed`` of ``total`` iterations exceed a Map's tolerated failures (0 beside a positive other
    threshold: not given)."""
    by_count = (count > 0 or not percentage) and failed > count
    by_percentage = bool(percentage) and total > 0 and failed * 100 / total > percentage
    return by_count or by_percentage


def _threshold_exceeded(env: Any) -> Exception:
    from moto.stepfunctions.parser.api import HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    name = StatesErrorName(typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold)
    details = {"error": name.error_name, "cause": "The specified tolerated failure threshold was exceeded"}
    event = FailureEvent(
        env=env,
        error_name=name,
        event_type=HistoryEventType.MapRunFailed,
        event_details=EventDetails(mapRunFailedEventDetails=details),  # type: ignore[typeddict-item]
    )
    return FailureEventException(failure_event=event)
