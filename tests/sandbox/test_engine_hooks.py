"""Rule: behind the overlay (the sandbox serving HTTP), moto runs a state machine as AWS does: its tasks call the
sandbox's endpoint signed as a session of the machine's role (``moto_compat.execute_state_machines(endpoint_url,
credentials)``, sessions from ``identity.service_session``), so the call log names the role's account and an enforced
sandbox authorizes ``lambda:InvokeFunction`` against the role's identity policies (Step Functions Developer Guide,
"How Step Functions works with IAM"; Service Authorization Reference, "Actions defined by AWS Lambda"); a Wait runs
on a clock the sandbox's can follow (``warped_waits``); Lambda's REST calls are logged by their action's name
(``sandbox/functions.py``: botocore's model of Lambda's paths), reads as reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from amishare.aws.session import Connection, Sessions
from amishare.sandbox import Sandbox, functions
from amishare.sandbox.identity import root_credentials, service_session
from amishare.sandbox.wire import moto_compat
from tests.support.state_machines import TestClock, create_function, run
from tests.support.world import OTHER, OWNER, REGION

STATES_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{OWNER}:function:slice"


def test_lambda_routes_name_every_action_by_its_method_and_path() -> None:
    assert functions.route("POST", "/2015-03-31/functions/slice/invocations") == ("Invoke", {"FunctionName": "slice"})
    assert functions.route("GET", "/2015-03-31/functions/") == ("ListFunctions", {})
    assert functions.route("GET", f"/2015-03-31/functions/{FUNCTION_ARN}") == (
        "GetFunction",
        {"FunctionName": FUNCTION_ARN},
    )
    assert functions.route("GET", "/2015-03-31/functions/slice/configuration")[0] == "GetFunctionConfiguration"
    assert functions.route("DELETE", "/2015-03-31/functions/slice") == ("DeleteFunction", {"FunctionName": "slice"})
    assert functions.route("GET", "/no/such/path") == ("", {})
    assert functions.iam_action("Invoke") == "lambda:InvokeFunction"
    assert functions.function_arn("slice", REGION, OWNER, "live") == f"{FUNCTION_ARN}:live"
    assert functions.function_arn(f"{OWNER}:function:slice", REGION, OTHER) == FUNCTION_ARN


def test_a_service_session_acts_as_the_role_without_assuming_it(sb: Sandbox) -> None:
    """A role that trusts states.amazonaws.com only: no caller of the sandbox may assume it, the sandbox makes the
    session the service would have."""
    arn = sb.create_role(OWNER, "machine", trusted_account=OWNER, trust_policy=STATES_TRUST)
    keys = service_session(sb.world, arn, "states")
    sts = sb.session(OWNER, REGION).client(
        "sts",
        aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=keys["AWS_SESSION_TOKEN"],
    )
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:sts::{OWNER}:assumed-role/machine/states"
    with pytest.raises(ValueError, match="no role"):
        service_session(sb.world, f"arn:aws:iam::{OWNER}:role/missing", "states")


def test_fixed_credentials_sign_every_call_whatever_the_environment(
    sb: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Connection.credentials``: the engine's runner in the sandbox's process acts as the engine's account, not
    as whatever the process's environment holds."""
    for name, value in sb.credentials(OTHER).items():
        monkeypatch.setenv(name, value)
    keys = root_credentials(OWNER)
    fixed = (keys["AWS_ACCESS_KEY_ID"], keys["AWS_SECRET_ACCESS_KEY"])
    sessions = Sessions(Connection(REGION, endpoint_url=sb.endpoint_url, credentials=fixed))
    assert sessions.caller_account() == OWNER
    assert "SBOX" not in repr(Connection(REGION, credentials=fixed))  # the secret is not shown


@pytest.fixture
def machines(sb: Sandbox) -> Iterator[tuple[Sandbox, TestClock, list[Any]]]:
    """moto executing state machines behind the sandbox: tasks signed as their role's sessions, Lambda answered by a
    recording handler, waits on a test clock."""
    clock, calls = TestClock(), []

    def keys(role_arn: str) -> tuple[str, str, str | None]:
        made = service_session(sb.world, role_arn, "states")
        return made["AWS_ACCESS_KEY_ID"], made["AWS_SECRET_ACCESS_KEY"], made["AWS_SESSION_TOKEN"]

    def handler(name: str, payload: Any) -> Any:
        calls.append((name, payload))
        return {"done": True, **payload}

    with (
        moto_compat.execute_state_machines(sb.endpoint_url, keys),
        moto_compat.lambda_in_process(handler),
        moto_compat.warped_waits(clock.advance),
    ):
        yield sb, clock, calls


WAIT_THEN_INVOKE = {
    "StartAt": "Sleep",
    "States": {
        "Sleep": {"Type": "Wait", "Seconds": 3600, "Next": "Slice"},
        "Slice": {"Type": "Task", "Resource": FUNCTION_ARN, "End": True},
    },
}


@pytest.mark.slow  # ~1 s (moto's executor), and moto's Step Functions' first import in a process 3 s more
@pytest.mark.parametrize("allowed", [True, False], ids=["allowed", "denied"])
def test_a_task_calls_the_sandbox_as_a_session_of_the_machines_role(
    machines: tuple[Sandbox, TestClock, list[Any]], allowed: bool
) -> None:
    sb, clock, calls = machines
    sb.settings.enforce_iam = True
    session = sb.session(OWNER, REGION)
    iam = session.client("iam")
    role = iam.create_role(RoleName="machine", AssumeRolePolicyDocument=json.dumps(STATES_TRUST))["Role"]["Arn"]
    action = "lambda:InvokeFunction" if allowed else "lambda:GetFunction"
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": FUNCTION_ARN}]}
    iam.put_role_policy(RoleName="machine", PolicyName="run", PolicyDocument=json.dumps(policy))
    sb.clear_calls()
    lam = session.client("lambda")
    create_function(lam, "slice", role)
    lam.get_function(FunctionName="slice")
    lam.list_functions()
    logged = [(c.action, c.mutating, c.status) for c in sb.calls() if c.service == "lambda"]
    assert logged == [("CreateFunction", True, 201), ("GetFunction", False, 200), ("ListFunctions", False, 200)]
    sfn = session.client("stepfunctions")
    machine = sfn.create_state_machine(name="m", definition=json.dumps(WAIT_THEN_INVOKE), roleArn=role)
    sb.clear_calls()
    ended = run(sfn, machine["stateMachineArn"], {"run": 1})
    assert clock.waits == [3600]  # the hour waited on the test clock
    (invoke,) = [c for c in sb.calls() if c.service == "lambda"]
    assert (invoke.account, invoke.action, invoke.mutating) == (OWNER, "Invoke", True)  # the role's account
    if allowed:
        assert ended["status"] == "SUCCEEDED", ended
        assert json.loads(ended["output"]) == {"done": True, "run": 1}
        assert calls == [(FUNCTION_ARN, {"run": 1})]
        return
    assert ended["status"] == "FAILED" and calls == []
    assert invoke.error == "AccessDeniedException"
    assert "lambda:InvokeFunction" in ended["cause"] and "assumed-role/machine/states" in ended["cause"]
