"""Who is calling: sandbox credentials, STS AssumeRole with enforced trust policies.

* Each account has fixed long-term credentials (``AKIA<account>SBOX``), acting as the
  account's root principal.
* ``AssumeRole`` succeeds only for a role that exists (in moto's IAM) and whose trust
  policy allows the caller, including its ``sts:ExternalId`` condition; otherwise
  ``AccessDenied`` (STS API Reference, "AssumeRole"; IAM User Guide, "How to use an
  external ID"). The session's account is the role's account, whatever ``MOTO_ACCOUNT_ID``
  says (docs/aws-facts.md section 8).
* Unknown credentials are refused as AWS refuses them.
"""

from __future__ import annotations

import datetime as dt
import re
import string
from typing import Any

from amishare.policy.evaluate import Caller, PolicyError, Request, evaluate, parse_policy
from amishare.sandbox.state import World, random_text, utcnow
from amishare.sandbox.wire import moto_compat
from amishare.sandbox.wire.protocol import AwsFault

_ROOT_KEY = re.compile(r"^AKIA(\d{12})SBOX$")
_ROLE_ARN = re.compile(r"^arn:aws:iam::(\d{12}):role/(?:[\w+=,.@/-]*/)?([\w+=,.@-]{1,64})$")
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")
_ALPHABET = string.ascii_uppercase + string.digits
_TOKEN = string.ascii_letters + string.digits + "-_"


def root_credentials(account: str) -> dict[str, str]:
    """Environment-style credentials acting as ``account``'s root principal."""
    return {
        "AWS_ACCESS_KEY_ID": f"AKIA{account}SBOX",
        "AWS_SECRET_ACCESS_KEY": f"sandbox-secret-{account}",
    }


def caller_for(world: World, access_key: str) -> Caller | None:
    with world.lock:
        session = world.sessions.get(access_key)
    if session is not None:
        return session
    match = _ROOT_KEY.match(access_key)
    if match:
        account = match.group(1)
        return Caller(account=account, arn=f"arn:aws:iam::{account}:root")
    return None


class StsHandlers:
    def __init__(self, world: World) -> None:
        self.world = world

    def GetCallerIdentity(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        user_id = caller.account if caller.arn.endswith(":root") else caller.arn.rsplit("/", 1)[-1]
        return {"UserId": user_id, "Account": caller.account, "Arn": caller.arn}

    def AssumeRole(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        role_arn = p.get("RoleArn", "")
        session_name = p.get("RoleSessionName", "")
        match = _ROLE_ARN.match(role_arn)
        if not match:
            raise AwsFault("ValidationError", f"{role_arn!r} is not a valid role ARN")
        if not _SESSION_NAME.match(session_name):
            raise AwsFault(
                "ValidationError", f"RoleSessionName {session_name!r} must be 2-64 characters of [\\w+=,.@-]"
            )
        account, role_name = match.groups()
        denied = AwsFault(
            "AccessDenied",
            f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            403,
        )
        found = moto_compat.role_trust_policy(account, role_name)
        if found is None:
            raise denied
        trust, max_duration = found
        context: dict[str, Any] = self.world.principal_context(caller)
        if p.get("ExternalId") is not None:
            context["sts:ExternalId"] = p["ExternalId"]
        try:
            decision = evaluate(parse_policy(trust), Request(caller, "sts:AssumeRole", role_arn, context))
        except PolicyError:
            decision = "ImplicitDeny"
        if decision != "Allow":
            raise denied
        duration = int(p.get("DurationSeconds", 3600))
        if not 900 <= duration <= max_duration:
            raise AwsFault("ValidationError", f"DurationSeconds {duration} must be between 900 and {max_duration}")
        access_key = "ASIA" + random_text(_ALPHABET, 16)
        session_arn = f"arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}"
        with self.world.lock:
            self.world.sessions[access_key] = Caller(
                account=account, arn=session_arn, role_arn=f"arn:aws:iam::{account}:role/{role_name}"
            )
        role_id = "AROA" + random_text(_ALPHABET, 17)
        return {
            "Credentials": {
                "AccessKeyId": access_key,
                "SecretAccessKey": random_text(_TOKEN, 40),
                "SessionToken": random_text(_TOKEN, 86),
                "Expiration": utcnow() + dt.timedelta(seconds=duration),
            },
            "AssumedRoleUser": {"AssumedRoleId": f"{role_id}:{session_name}", "Arn": session_arn},
            "PackedPolicySize": 0,
        }


def service_session(world: World, role_arn: str, session_name: str) -> dict[str, str]:
    """Credentials of a session of ``role_arn`` made for an AWS service that acts as the role (Step Functions with
    a state machine's role, Lambda with a function's execution role), as environment variables: the overlay takes
    their caller for ``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION``, subject to the role's identity policies
    when they are enforced. No ``AssumeRole``: such roles trust the service's principal (``states.amazonaws.com``),
    which no caller of the sandbox is. ``ValueError`` when the role does not exist; the session does not expire."""
    match = _ROLE_ARN.match(role_arn)
    if not match or not _SESSION_NAME.match(session_name):
        raise ValueError(f"not a role ARN and session name: {role_arn!r}, {session_name!r}")
    account, role_name = match.groups()
    if moto_compat.role_trust_policy(account, role_name) is None:
        raise ValueError(f"no role {role_arn}")
    access_key = "ASIA" + random_text(_ALPHABET, 16)
    with world.lock:
        world.sessions[access_key] = Caller(
            account=account,
            arn=f"arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}",
            role_arn=f"arn:aws:iam::{account}:role/{role_name}",
        )
    return {
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": random_text(_TOKEN, 40),
        "AWS_SESSION_TOKEN": random_text(_TOKEN, 86),
    }
