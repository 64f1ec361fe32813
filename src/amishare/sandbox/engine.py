"""amishare's serverless engine deployed in the sandbox: the local rehearsal of issue 18 (``Sandbox.deploy_engine``,
``amishare sandbox serve --engine``; docs/engine.md, "Local rehearsal").

What is deployed, in the engine's account and region, through the sandbox's own API (as a CloudFormation stack
would create it):

- the journal's DynamoDB table (``pk``/``sk``, on demand);
- the runner: a Lambda function (``amishare.api.runner.lambda_handler``, its environment ``AMISHARE_MANIFEST``,
  ``AMISHARE_JOURNAL`` and ``AMISHARE_CONFIG``) whose code never runs: moto's Lambda answers its invocations with
  ``amishare.api.runner.handle`` in this process (``moto_compat.lambda_in_process``), with settings read from that
  environment, pointed at the sandbox and signed as the engine account;
- the state machine ``generate.engine_asl.definition`` writes, executed by moto (``moto_compat.
  execute_state_machines``), its tasks signed as a session of its role (``identity.service_session``), which
  allows ``lambda:InvokeFunction`` on the runner (enforced with ``Sandbox(enforce_iam=True)``);
- the triggers: EventBridge rules on the default bus, ``EC2 AMI State Change`` to ``available`` (when a family
  selects by name, tags or id) and ``Parameter Store Change`` (Create, Update) of the families' parameters, each
  with an input transformer that writes the runner's plan input (``{"trigger": ID, "parameter": NAME}``,
  ``{"trigger": ID, "image": ID, "region": R}``). AWS would target the state machine; moto's EventBridge cannot,
  so the target is an SQS queue and a bridge thread starts one execution per message, named after the event's id:
  an event delivered twice starts one execution (``ExecutionAlreadyExists``, or the running one given back);
- waits on the sandbox's clock: the state machine's Wait states and retry intervals take no real time and move the
  sandbox's clock forward by what they wait (``moto_compat.warped_waits``): copies that would end during the wait
  have ended when it is over. Waits of concurrent Map children add up (the clock runs ahead of AWS's, never
  behind).

moto's hooks are process-wide: one engine is deployed per process at a time.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amishare.errors import SandboxError
from amishare.sandbox.identity import root_credentials, service_session
from amishare.sandbox.wire import moto_compat

if TYPE_CHECKING:
    from amishare.api.context import Settings
    from amishare.aws.session import Sessions
    from amishare.sandbox.server import Sandbox

LOG = logging.getLogger(__name__)
NAME = "amishare-engine"  # the state machine; the function, the roles, the queue and the rules start with it
FUNCTION = f"{NAME}-runner"
MACHINE_ROLE = f"{NAME}-machine"
HANDLER = "amishare.api.runner.lambda_handler"
DEFAULT_BUDGET = 5  # seconds per slice: short, so that slices pause and the machine's waits run on the clock
DEFAULT_CONCURRENCY = 4
POLL_SECONDS = 1  # the bridge's long poll of the triggers queue
Runner = Callable[[dict[str, Any], "Settings"], dict[str, Any]]
"""``runner(request, settings) -> answer``: what answers the function's invocations (``amishare.api.runner.handle``
by default; a test may wrap it to make a slice fail)."""

_DEPLOYED: list[EngineDeployment] = []  # moto's hooks are process-wide: at most one


class WarpedClock:
    """The sandbox's clock, moved forward by the waits of the state machines it runs (``advance``)."""

    def __init__(self, base: Callable[[], float]) -> None:
        self.base = base
        self.offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.base() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward (a wait that took no real time)."""
        with self._lock:
            self.offset += seconds


@dataclass(frozen=True)
class Trigger:
    """A message the bridge took from the triggers queue: the event's id, the execution it started (None: one of that
    name existed already: the event was delivered before), and the execution's input."""

    event_id: str
    execution_arn: str | None
    input: dict[str, Any]


@dataclass
class EngineDeployment:
    """The engine deployed in a sandbox (module docstring); ``close()`` stops it (``Sandbox.stop`` and ``reset`` do)."""

    account: str
    region: str
    table: str
    manifest: Path
    function_arn: str
    state_machine_arn: str
    machine_role_arn: str
    queue_url: str
    rule_arns: tuple[str, ...]
    settings: Settings  # the runner's
    clock: WarpedClock | None = None  # the sandbox's, that the waits move
    runs: moto_compat.StateMachineRuns | None = None
    _triggers: list[Trigger] = field(default_factory=list, repr=False)
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _sessions: Sessions | None = field(default=None, repr=False)

    @property
    def journal(self) -> str:
        """The runner's journal, as ``--journal`` and amishare.toml take it."""
        return f"dynamodb://{self.table}"

    def triggers(self) -> list[Trigger]:
        """The messages the bridge has taken from the queue, oldest first."""
        with self._lock:
            return list(self._triggers)

    def _client(self, service: str) -> Any:
        """A client of the engine's account and region, made once (a set of sessions costs ~0.1 s of CPU)."""
        with self._lock:
            if self._sessions is None:
                self._sessions = self.settings.sessions()
        return self._sessions.client(service, self.region)

    def executions(self) -> list[dict[str, Any]]:
        """The state machine's executions (``ListExecutions``), newest first."""
        sfn = self._client("stepfunctions")
        found: list[dict[str, Any]] = sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"]
        return found

    def wait(self, timeout: float = 60.0, started: int = 0) -> list[dict[str, Any]]:
        """The executions, once at least ``started`` have started, the triggers queue is empty and none of them
        runs; ``TimeoutError`` after ``timeout`` seconds. (``started``: an event still to come, e.g. a copy's that
        AWS puts when the copy ends, leaves the queue empty meanwhile.)"""
        sqs = self._client("sqs")
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        deadline = time.monotonic() + timeout
        while True:
            counts = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)["Attributes"]
            if not any(int(counts.get(n, 0)) for n in names):
                found = self.executions()
                if len(found) >= started and all(e["status"] != "RUNNING" for e in found):
                    return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"the engine is still busy after {timeout} s")
            time.sleep(0.5)  # the runs take seconds; a look costs the engine's process CPU

    def close(self) -> None:
        """Stop the bridge and the executions still running, and undo moto's hooks."""
        try:
            self._stack.close()
        finally:
            if self in _DEPLOYED:
                _DEPLOYED.remove(self)

    def _took(self, trigger: Trigger) -> None:
        with self._lock:
            self._triggers.append(trigger)


@dataclass(frozen=True)
class EngineOptions:
    """How to deploy: the table's name, a slice's budget, the Map's concurrency, the runner's amishare.toml (None:
    the one beside the manifest, if any) and what answers the function (None: the runner)."""

    table: str = "amishare-engine"
    budget: int = DEFAULT_BUDGET
    concurrency: int = DEFAULT_CONCURRENCY
    config: Path | None = None
    runner: Runner | None = None


def deploy(sandbox: Sandbox, manifest: Path, account: str, region: str, options: EngineOptions) -> EngineDeployment:
    """Deploy the engine for ``manifest`` in ``account`` and ``region`` of a running sandbox (module docstring)."""
    if _DEPLOYED:
        raise SandboxError("an engine is deployed in this process already (moto's hooks are process-wide): close it")
    manifest = manifest.resolve()
    if not manifest.is_file():
        raise SandboxError(f"no manifest at {manifest}")
    settings = _runner_settings(sandbox, manifest, account, region, options)
    selects = _selects(manifest, settings)  # a manifest that does not load is refused before anything is made
    clock = sandbox.world.clock if isinstance(sandbox.world.clock, WarpedClock) else WarpedClock(sandbox.world.clock)
    sandbox.world.clock = clock
    stack = contextlib.ExitStack()
    try:
        runs = stack.enter_context(
            moto_compat.execute_state_machines(sandbox.endpoint_url, _role_keys(sandbox))
        )  # before anything is created: moto keeps state machines and functions in the backends its config picks
        stack.enter_context(moto_compat.warped_waits(clock.advance))
        stack.enter_context(_quiet_choices())
        deployment = _create(sandbox, manifest, account, settings, options, selects)
        deployment.clock, deployment.runs, deployment._stack = clock, runs, stack
        stack.enter_context(moto_compat.lambda_in_process(_answerer(deployment, options.runner)))
        stack.enter_context(_bridge(deployment))
    except BaseException:
        stack.close()
        raise
    _DEPLOYED.append(deployment)
    return deployment


def _runner_settings(sandbox: Sandbox, manifest: Path, account: str, region: str, options: EngineOptions) -> Settings:
    """The settings the function's invocations run with: its environment's (the config, the journal), pointed at the
    sandbox, signed as the engine account."""
    from amishare.api.context import Flags, settings

    flags = Flags(
        config_path=options.config,
        region=region,
        endpoint_url=sandbox.endpoint_url,
        journal_path=f"dynamodb://{options.table}",
    )
    chosen = settings(flags, cwd=manifest.parent)
    keys = root_credentials(account)
    credentials = (keys["AWS_ACCESS_KEY_ID"], keys["AWS_SECRET_ACCESS_KEY"])
    return replace(chosen, connection=replace(chosen.connection, credentials=credentials)).reusing_sessions()


def _role_keys(sandbox: Sandbox) -> moto_compat.TaskCredentials:
    """A session per role the state machines' tasks act as, made once."""
    made: dict[str, tuple[str, str, str | None]] = {}
    lock = threading.Lock()

    def keys(role_arn: str) -> tuple[str, str, str | None]:
        with lock:
            if role_arn not in made:
                found = service_session(sandbox.world, role_arn, "states")
                made[role_arn] = (
                    found["AWS_ACCESS_KEY_ID"],
                    found["AWS_SECRET_ACCESS_KEY"],
                    found["AWS_SESSION_TOKEN"],
                )
            return made[role_arn]

    return keys


def _create(
    sandbox: Sandbox,
    manifest: Path,
    account: str,
    settings: Settings,
    options: EngineOptions,
    selects: tuple[tuple[str, ...], bool],
) -> EngineDeployment:
    from amishare.generate.engine_asl import definition

    region = settings.connection.region
    session = sandbox.session(account, region)
    _table(session, options.table)
    iam = session.client("iam")
    machine_arn = f"arn:aws:states:{region}:{account}:stateMachine:{NAME}"
    function_arn = _function(session, manifest, options, iam)
    role = iam.create_role(RoleName=MACHINE_ROLE, AssumeRolePolicyDocument=_trust("states.amazonaws.com"))["Role"]
    policy = _machine_policy(function_arn, machine_arn)
    iam.put_role_policy(RoleName=MACHINE_ROLE, PolicyName="run", PolicyDocument=policy)
    asl = definition(function_arn, budget=options.budget, concurrency=options.concurrency)
    created = session.client("stepfunctions").create_state_machine(
        name=NAME, definition=json.dumps(asl), roleArn=role["Arn"], type="STANDARD"
    )
    queue_url, rules = _triggers(session, *selects)
    return EngineDeployment(
        account=account,
        region=region,
        table=options.table,
        manifest=manifest,
        function_arn=function_arn,
        state_machine_arn=str(created["stateMachineArn"]),
        machine_role_arn=str(role["Arn"]),
        queue_url=queue_url,
        rule_arns=rules,
        settings=settings,
    )


def _table(session: Any, table: str) -> None:
    session.client("dynamodb").create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )


def _trust(service: str) -> str:
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _machine_policy(function_arn: str, machine_arn: str) -> str:
    """The state machine's role: invoke the runner; start, describe and stop its own executions (a Distributed
    Map's children: Step Functions Developer Guide, "IAM policies for using Distributed Map states")."""
    executions = machine_arn.replace(":stateMachine:", ":execution:") + ":*"
    statements = [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": [function_arn, f"{function_arn}:*"]},
        {"Effect": "Allow", "Action": "states:StartExecution", "Resource": machine_arn},
        {"Effect": "Allow", "Action": ["states:DescribeExecution", "states:StopExecution"], "Resource": executions},
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _function(session: Any, manifest: Path, options: EngineOptions, iam: Any) -> str:
    """The runner's function (its code a placeholder: its invocations are answered in this process)."""
    role = iam.create_role(RoleName=FUNCTION, AssumeRolePolicyDocument=_trust("lambda.amazonaws.com"))["Role"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("README.txt", "amishare's sandbox answers this function's invocations in its own process\n")
    environment = {"AMISHARE_MANIFEST": str(manifest), "AMISHARE_JOURNAL": f"dynamodb://{options.table}"}
    if options.config is not None:
        environment["AMISHARE_CONFIG"] = str(Path(options.config).resolve())
    created = session.client("lambda").create_function(
        FunctionName=FUNCTION,
        Runtime="python3.12",
        Role=role["Arn"],
        Handler=HANDLER,
        Code={"ZipFile": code.getvalue()},
        Timeout=900,
        MemorySize=1024,
        Environment={"Variables": environment},
    )
    return str(created["FunctionArn"])


def _selects(manifest: Path, settings: Settings) -> tuple[tuple[str, ...], bool]:
    """The SSM parameters the manifest's families are selected by, and whether any is selected by an image's name,
    tags or id."""
    from amishare.aws.session import known_regions
    from amishare.planners.manifest import load_manifest
    from amishare.planners.manifest.model import BySsmParameter

    loaded = load_manifest(str(manifest), settings.config, known_regions())
    parameters = tuple(sorted({f.select.name for f in loaded.images if isinstance(f.select, BySsmParameter)}))
    return parameters, any(not isinstance(f.select, BySsmParameter) for f in loaded.images)


def _triggers(session: Any, parameters: tuple[str, ...], by_image: bool) -> tuple[str, tuple[str, ...]]:
    """The triggers queue and the rules that send it the runner's plan input; (queue URL, rule ARNs)."""
    sqs = session.client("sqs")
    queue_url = str(sqs.create_queue(QueueName=f"{NAME}-triggers")["QueueUrl"])
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = session.client("events")
    rules: list[str] = []
    if by_image:
        rules.append(_rule(events, f"{NAME}-image-available", IMAGE_PATTERN, IMAGE_INPUT, queue_arn))
    if parameters:
        pattern = {**PARAMETER_PATTERN, "detail": {"name": list(parameters), "operation": ["Create", "Update"]}}
        rules.append(_rule(events, f"{NAME}-parameter-changed", pattern, PARAMETER_INPUT, queue_arn))
    allow = {
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": rules}},
    }
    policy = json.dumps({"Version": "2012-10-17", "Statement": [allow]})
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": policy})
    return queue_url, tuple(rules)


IMAGE_PATTERN = {"source": ["aws.ec2"], "detail-type": ["EC2 AMI State Change"], "detail": {"State": ["available"]}}
PARAMETER_PATTERN = {"source": ["aws.ssm"], "detail-type": ["Parameter Store Change"]}
# The runner's plan input, written by the rule (quoted placeholders: a string inserted as it is, here and in AWS)
IMAGE_INPUT = {
    "InputPathsMap": {"id": "$.id", "image": "$.detail.ImageId", "region": "$.region"},
    "InputTemplate": '{"trigger": "<id>", "image": "<image>", "region": "<region>"}',
}
PARAMETER_INPUT = {
    "InputPathsMap": {"id": "$.id", "name": "$.detail.name"},
    "InputTemplate": '{"trigger": "<id>", "parameter": "<name>"}',
}


def _rule(events: Any, name: str, pattern: dict[str, Any], transformer: dict[str, Any], queue_arn: str) -> str:
    arn = str(events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED")["RuleArn"])
    events.put_targets(Rule=name, Targets=[{"Id": "triggers", "Arn": queue_arn, "InputTransformer": transformer}])
    return arn


# ---------------------------------------------------------------------------------------------- in the process
class _PathNotPresent(logging.Filter):
    """moto's executor logs an error for every JSONPath a Choice's ``IsPresent`` finds absent (the engine's Begin
    asks for ``$.run.run_id``, absent in a trigger's input): it is the answer false, not a failure. A failure
    proper is logged as a ``FailureEventException`` and recorded in the execution's history."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Exception=NoSuchJsonPathError" not in record.getMessage()


@contextlib.contextmanager
def _quiet_choices() -> Iterator[None]:
    logger = logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component")
    quiet = _PathNotPresent()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


class FunctionNotEmulated(Exception):
    """An invocation of a function whose code the sandbox does not run (a function error, as Lambda reports one)."""


def _answerer(deployment: EngineDeployment, runner: Runner | None) -> moto_compat.LambdaHandler:
    """The function's invocations: the runner, with the manifest its environment names (``AMISHARE_MANIFEST``)."""
    if runner is None:
        from amishare.api.runner import handle

        runner = handle
    chosen = runner

    def answer(function: str, payload: Any) -> Any:
        if function.rsplit(":function:", maxsplit=1)[-1].split(":", maxsplit=1)[0] != FUNCTION:
            raise FunctionNotEmulated(f"the sandbox runs the code of {FUNCTION} only, not of {function}")
        request = dict(payload)
        if request.get("action") == "plan" and not request.get("manifest"):
            request["manifest"] = str(deployment.manifest)
        return chosen(request, deployment.settings)

    return answer


@contextlib.contextmanager
def _bridge(deployment: EngineDeployment) -> Iterator[None]:
    """The bridge thread for the duration: each message of the triggers queue starts an execution."""
    stop = threading.Event()
    thread = threading.Thread(target=_drain, args=(deployment, stop), name="amishare-engine-bridge", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()  # its poll under way ends within POLL_SECONDS; what it received then is left in the queue


def _drain(deployment: EngineDeployment, stop: threading.Event) -> None:
    from amishare.aws.session import Sessions
    from amishare.aws.state_machines import start_execution

    sessions = Sessions(deployment.settings.connection)  # the bridge's own connections
    sqs = sessions.client("sqs", deployment.region)
    started: set[str] = set()
    while not stop.is_set():
        try:
            got = sqs.receive_message(
                QueueUrl=deployment.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=POLL_SECONDS
            )
        except Exception:  # the sandbox stopping, or a fault: try again unless stopped
            if not stop.wait(0.5):
                LOG.exception("the engine's bridge could not read its queue")
            continue
        for message in got.get("Messages", []) if not stop.is_set() else []:
            handle = message["ReceiptHandle"]
            try:
                body = json.loads(message["Body"])
                name = str(body["trigger"])
            except (ValueError, KeyError, TypeError):  # not a rule's message: nothing to start, ever
                LOG.warning("the engine's bridge dropped a message that names no trigger: %s", message.get("Body"))
                sqs.delete_message(QueueUrl=deployment.queue_url, ReceiptHandle=handle)
                continue
            try:
                arn = start_execution(sessions, deployment.state_machine_arn, name, body)
            except Exception:  # left in the queue: it is received again after its visibility timeout
                LOG.exception("the engine's bridge could not start an execution for %s", message.get("Body"))
                continue
            new = arn is not None and arn not in started
            if arn is not None:
                started.add(arn)
            deployment._took(Trigger(name, arn if new else None, body))
            sqs.delete_message(QueueUrl=deployment.queue_url, ReceiptHandle=handle)
