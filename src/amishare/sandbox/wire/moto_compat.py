"""The only place the overlay touches moto's internals.

moto has no public API for these needs, so the supported moto range is one minor version
(pyproject's ``sandbox`` extra), checked when a sandbox starts: a moto outside it fails
loudly with ``UnsupportedMoto`` instead of misbehaving quietly. ``tests/sandbox/
test_moto_compat.py`` exercises each hook below.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
    """Make moto take the account from the overlay's header before ``MOTO_ACCOUNT_ID``.

    moto's ``BaseResponse.get_current_account`` prefers the environment variable
    ``MOTO_ACCOUNT_ID`` over the caller's credentials (docs/aws-facts.md section 8); the overlay
    knows the caller's account and passes it in ``ACCOUNT_HEADER``.
    """
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
    """The identity policies of an IAM role held by moto, as (name, document): inline, then attached managed
    (default versions). Empty when the role does not exist."""
    from moto.iam.models import iam_backends

    try:
        role = iam_backends[account]["aws"].get_role(role_name)
    except Exception:  # moto raises its own IAMNotFoundException
        return []
    documents = [(str(name), str(d)) for name, d in role.policies.items()]
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
