"""Step Functions calls of the serverless engine (issue 18): starting a run's execution, and its successor."""

from __future__ import annotations

import json
from typing import Any

from amishare.aws.session import Sessions
from amishare.errors import AwsError


def start_execution(sessions: Sessions, state_machine: str, name: str, payload: dict[str, Any]) -> str | None:
    """Start an execution of ``state_machine`` named ``name`` (at most 80 characters kept) with ``payload``; its
    ARN, or None when one of that name exists already (names are unique for 90 days: a start delivered twice
    starts one execution)."""
    region = state_machine.split(":")[3]
    client = sessions.client("stepfunctions", region)
    try:
        started = client.start_execution(stateMachineArn=state_machine, name=name[:80], input=json.dumps(payload))
    except AwsError as exc:
        if exc.code == "ExecutionAlreadyExists":
            return None
        raise
    return str(started["executionArn"])
