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
from collections.abc import Iterator
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
