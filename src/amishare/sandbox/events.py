"""Events AWS services put on an account's default EventBridge bus, and their delivery to the rules' targets.

* EC2 puts ``EC2 AMI State Change`` (source ``aws.ec2``) when an image enters ``available``, ``failed``,
  ``deregistered`` or ``disabled`` (EC2 User Guide, "Monitor AMI events using Amazon EventBridge"): a copy when it
  ends (available or failed, ``ErrorMessage`` the state reason), RegisterImage and EnableImage (available),
  DeregisterImage (deregistered), DisableImage (disabled). ``detail`` holds ``RequestId`` (the request that started
  the change), ``ImageId``, ``State`` and ``ErrorMessage``; ``resources`` the image's ARN.
* SSM puts ``Parameter Store Change`` (source ``aws.ssm``) for PutParameter (``operation`` Create or Update) and
  DeleteParameter (Delete) (SSM User Guide, "Monitoring Systems Manager events with Amazon EventBridge"; an
  ``aws:ec2:image`` parameter whose image check fails carries ``exception`` "Unable to Describe Resource": "Native
  parameter support for Amazon Machine Image IDs").

An event goes to the default bus of the account and region where the change happened. Every ``ENABLED`` rule of
that bus with an event pattern that matches it (rules, targets and the pattern matcher are moto's, through
``moto_compat``) sends it to each SNS topic and SQS queue target whose resource policy allows
``events.amazonaws.com`` to ``sns:Publish`` / ``sqs:SendMessage`` (with ``aws:SourceArn`` the rule and
``aws:SourceAccount`` its account: EventBridge User Guide, "Using resource-based policies for Amazon EventBridge"),
or that names a ``RoleArn`` (not checked: the sandbox's choice). ``Input``, ``InputPath`` and ``InputTransformer``
shape the message as EventBridge does; other kinds of target are not emulated. Each event keeps where it went and
why it did not (``Sandbox.events()``).

Time is read, not simulated: the end of a copy is noticed by the first request (or inspection) after it on the
sandbox's clock (``settle``), and its event's ``time`` is when it ended. Delivery runs outside the world's lock,
one batch at a time (``deliver``), so targets receive events in the order they were put.
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
import logging
import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from amishare.policy.evaluate import Caller, PolicyError, Request, evaluate, parse_policy
from amishare.sandbox.ec2.common import image_state
from amishare.sandbox.state import Image, World
from amishare.sandbox.wire import moto_compat
from amishare.sandbox.wire.protocol import new_request_id

LOG = logging.getLogger(__name__)
AMI_STATE_CHANGE = "EC2 AMI State Change"
PARAMETER_STORE_CHANGE = "Parameter Store Change"
EVENTBRIDGE = Caller(account="", arn="events.amazonaws.com", service="events.amazonaws.com")
TARGET_ACTIONS = {"sns": "sns:Publish", "sqs": "sqs:SendMessage"}
# The request being answered on this thread: an event's RequestId (set by the overlay for every request).
REQUEST_ID: ContextVar[str] = ContextVar("amishare_sandbox_request_id", default="")


@dataclass
class Event:
    """One event a service put on a default bus, where it was delivered, and why not elsewhere."""

    account: str
    region: str
    source: str
    detail_type: str
    resources: list[str]
    detail: dict[str, Any]
    time: dt.datetime
    event_id: str = field(default_factory=new_request_id)
    delivered: list[str] = field(default_factory=list)  # target ARNs that received it
    failed: list[tuple[str, str]] = field(default_factory=list)  # (target ARN, why it did not receive it)

    def document(self) -> dict[str, Any]:
        """The event as EventBridge delivers it."""
        return {
            "version": "0",
            "id": self.event_id,
            "detail-type": self.detail_type,
            "source": self.source,
            "account": self.account,
            "time": self.time.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": list(self.resources),
            "detail": dict(self.detail),
        }


def _put(world: World, event: Event) -> None:
    with world.lock:
        world.events.append(event)
        world.outbox.append(event)


# ------------------------------------------------------------------------------ EC2
def image_state_changed(
    world: World,
    image: Image,
    state: str,
    *,
    error: str = "",
    at: dt.datetime | None = None,
    request_id: str | None = None,
) -> None:
    """Put ``EC2 AMI State Change``: ``image`` entered ``state`` (available, failed, deregistered, disabled)."""
    _put(
        world,
        Event(
            account=image.account,
            region=image.region,
            source="aws.ec2",
            detail_type=AMI_STATE_CHANGE,
            resources=[f"arn:aws:ec2:{image.region}::image/{image.image_id}"],
            detail={
                "RequestId": request_id if request_id is not None else REQUEST_ID.get(),
                "ImageId": image.image_id,
                "State": state,
                "ErrorMessage": error,
            },
            time=at or dt.datetime.now(dt.UTC),
        ),
    )


def _ends_after(image: Image) -> float:
    """Seconds from the start of ``image``'s copy to its end (available, or failed)."""
    transition = image.transition
    if transition is None:
        return 0.0
    return transition.fail_after if transition.failure else transition.duration


def watch_copy(world: World, image: Image) -> None:
    """Put ``image``'s available or failed event when its copy ends (``settle`` notices it)."""
    if image.transition is None:
        return
    with world.lock:
        due = image.transition.started + _ends_after(image)
        heapq.heappush(world.copies_in_flight, (due, image.image_id, REQUEST_ID.get()))


def settle(world: World) -> None:
    """Put the events of the copies that have ended by now on the sandbox's clock (oldest first)."""
    with world.lock:
        heap = world.copies_in_flight
        if not heap:
            return
        now = world.clock()
        while heap and heap[0][0] <= now:
            due, image_id, request_id = heapq.heappop(heap)
            image = world.images.get(image_id)
            if image is None or image.transition is None:  # deregistered meanwhile: its event was put then
                continue
            if not image.transition.done(now):  # the clock's rounding: not yet
                heapq.heappush(heap, (due, image_id, request_id))
                return
            state, reason = image_state(world, image)
            if state in ("available", "failed"):
                at = image.created + dt.timedelta(seconds=_ends_after(image))
                error = (reason or {}).get("Message", "")
                image_state_changed(world, image, state, error=error, at=at, request_id=request_id)


# ------------------------------------------------------------------------------ SSM
def parameter_changed(
    world: World,
    parameter: Any,
    operation: str,
    *,
    exception: str | None = None,
) -> None:
    """Put ``Parameter Store Change``: ``operation`` (Create, Update, Delete) on ``parameter`` (an ``ssm.Parameter``
    or one that was refused: name, account, region, type, data type, description)."""
    detail: dict[str, Any] = {"operation": operation, "name": parameter.name, "type": parameter.type}
    if parameter.description:
        detail["description"] = parameter.description
    if parameter.data_type != "text":
        detail["dataType"] = parameter.data_type
    if exception is not None:
        detail["exception"] = exception
    _put(
        world,
        Event(
            account=parameter.account,
            region=parameter.region,
            source="aws.ssm",
            detail_type=PARAMETER_STORE_CHANGE,
            resources=[parameter.arn],
            detail=detail,
            time=dt.datetime.now(dt.UTC),
        ),
    )


# ------------------------------------------------------------------------------ delivery
def deliver(world: World) -> None:
    """Send every event put and not yet delivered to the targets of the rules that match it."""
    if not world.outbox:  # read without the lock: a request that races it delivers next time
        return
    with world.delivery_lock:
        with world.lock:
            batch, world.outbox = world.outbox, []
        for event in batch:
            try:
                _deliver(event)
            except Exception:  # a bug here must not fail the request that happened to deliver it
                LOG.exception("event %s could not be delivered", event.event_id)


def _deliver(event: Event) -> None:
    document = event.document()
    for rule in moto_compat.default_bus_rules(event.account, event.region):
        if not rule.matches(document):
            continue
        for target in rule.targets:
            arn = str(target.get("Arn", ""))
            try:
                refused = _send(rule, target, document)
            except Exception as exc:  # moto refused it (a FIFO queue without a group id ...): a failed invocation
                LOG.warning("event %s not delivered to %s: %s", event.event_id, arn, exc)
                refused = f"the target refused it: {exc}"
            if refused is None:
                event.delivered.append(arn)
            else:
                event.failed.append((arn, refused))


def _send(rule: moto_compat.BusRule, target: dict[str, Any], document: dict[str, Any]) -> str | None:
    """Deliver to one target; None when delivered, else why not."""
    arn = str(target.get("Arn", ""))
    service = arn.split(":")[2] if arn.count(":") >= 5 else ""
    action = TARGET_ACTIONS.get(service)
    if action is None:
        return f"{service or 'this kind of'} target is not emulated by the sandbox"
    try:
        policy = moto_compat.target_policy(arn)
    except LookupError:
        return "the target does not exist"
    if not target.get("RoleArn") and not _allows(policy, action, arn, rule):
        return f"its resource policy does not allow events.amazonaws.com {action}"
    group = (target.get("SqsParameters") or {}).get("MessageGroupId")
    moto_compat.send_to_target(arn, _message(document, target, rule), group)
    return None


def _allows(policy: str | None, action: str, arn: str, rule: moto_compat.BusRule) -> bool:
    if not policy:
        return False
    try:
        parsed = parse_policy(policy)
    except PolicyError:
        return False
    context = {"aws:SourceArn": rule.arn, "aws:SourceAccount": rule.account}
    return evaluate(parsed, Request(EVENTBRIDGE, action, arn, context)) == "Allow"


# ------------------------------------------------------------------------------ message
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def _path(document: dict[str, Any], path: str) -> Any:
    """A JSON path of the forms ``$`` and ``$.a.b`` (what EventBridge's input paths use) in ``document``; None when
    it names nothing."""
    node: Any = document
    for part in [p for p in path.strip().removeprefix("$").split(".") if p]:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _message(document: dict[str, Any], target: dict[str, Any], rule: moto_compat.BusRule) -> str:
    """The message a target receives: the event, or ``Input`` (constant), ``InputPath`` (a part of it) or
    ``InputTransformer`` (a template filled from paths) (EventBridge User Guide, "Transforming target input")."""
    if target.get("Input") is not None:
        return str(target["Input"])
    if target.get("InputPath"):
        return json.dumps(_path(document, str(target["InputPath"])))
    transformer = target.get("InputTransformer")
    if not transformer:
        return json.dumps(document)
    values: dict[str, Any] = {
        name: _path(document, str(path)) for name, path in (transformer.get("InputPathsMap") or {}).items()
    }
    values.update({"aws.events.rule-arn": rule.arn, "aws.events.event": document, "aws.events.event.json": document})

    def fill(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            return match.group(0)
        value = values[match.group(1)]
        return value if isinstance(value, str) else json.dumps(value)

    return _PLACEHOLDER.sub(fill, str(transformer.get("InputTemplate", "")))
