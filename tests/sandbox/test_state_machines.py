"""Rule: moto's Step Functions executor, with amishare's hooks (sandbox/wire/moto_compat.py), runs a state machine
as AWS does: Lambda tasks answered by a Python handler, its exceptions Task failures named after their type, Wait
states and Retry intervals on a test clock, distributed Map children each with a history of their own, and a Map
Run that fails past its tolerated failures. moto in-process (``mock_aws``), no sandbox."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from moto import mock_aws

from amishare.sandbox.wire import moto_compat
from tests.support.state_machines import (
    FUNCTION_ARN,
    REGION,
    Machines,
    client_as_account,
    history,
    moto_client,
    moto_machines,
    run,
    wait_for_execution,
)
from tests.support.world import error_of

SLICE = {
    "Type": "Task",
    "Resource": "arn:aws:states:::lambda:invoke",
    "Parameters": {"FunctionName": "slice", "Payload.$": "$"},
}


class Paused(Exception):
    """What a test's handler raises to fail a Task."""


_client = client_as_account


@pytest.fixture
def machines() -> Iterator[Machines]:
    with moto_machines() as found:
        yield found


def _sequence(*answers: Any) -> Callable[[str, Any], Any]:
    """A handler giving ``answers`` in turn (an exception instance is raised)."""
    pending = list(answers)

    def answer(name: str, payload: Any) -> Any:
        given = pending.pop(0)
        if isinstance(given, Exception):
            raise given
        return given

    return answer


LOOP: dict[str, Any] = {
    "StartAt": "Slice",
    "States": {
        "Slice": {
            **SLICE,
            "ResultSelector": {"status.$": "$.Payload.status", "wake_in.$": "$.Payload.wake_in"},
            "Next": "Done?",
        },
        "Done?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.status", "StringEquals": "done", "Next": "Done"}],
            "Default": "Sleep",
        },
        "Sleep": {"Type": "Wait", "SecondsPath": "$.wake_in", "Next": "Slice"},
        "Done": {"Type": "Succeed"},
    },
}


def test_lambda_invokes_run_the_handler(machines: Machines) -> None:
    """Lambda's Invoke, as any caller sees it: the handler's result; its exception a function error; ``Event``
    runs it and answers 202; ``DryRun`` does not run it; a function that does not exist is not found."""
    lam = _client("lambda")

    def answer(name: str, payload: Any) -> Any:
        if payload.get("raise"):
            raise Paused("later")
        return {"name": name, "payload": payload}

    machines.answer = answer
    called = lam.invoke(FunctionName="slice", Payload=b'{"n": 1}')
    assert "FunctionError" not in called
    assert json.loads(called["Payload"].read()) == {"name": "slice", "payload": {"n": 1}}
    failed = lam.invoke(FunctionName=FUNCTION_ARN, Payload=b'{"raise": true}')
    assert (failed["StatusCode"], failed["FunctionError"]) == (200, "Unhandled")
    assert json.loads(failed["Payload"].read()) == {"errorMessage": "later", "errorType": "Paused"}
    assert lam.invoke(FunctionName="slice", InvocationType="Event", Payload=b'{"raise": true}')["StatusCode"] == 202
    assert lam.invoke(FunctionName="slice", InvocationType="DryRun", Payload=b'{"n": 3}')["StatusCode"] == 204
    assert machines.calls == [("slice", {"n": 1}), (FUNCTION_ARN, {"raise": True}), ("slice", {"raise": True})]
    assert error_of(lam.invoke, FunctionName="missing", Payload=b"{}")["Code"] == "ResourceNotFoundException"


def test_a_lambda_loop_waits_on_the_test_clock(machines: Machines) -> None:
    paused = {"status": "paused", "wake_in": 3600}
    machines.answer = _sequence(paused, paused, {"status": "done", "wake_in": 0})
    started = time.monotonic()
    ended = run(machines.sfn, machines.create(LOOP), {"run": "r-1"})
    elapsed = time.monotonic() - started
    assert ended["status"] == "SUCCEEDED", ended
    assert machines.clock.waits == [3600, 3600]  # two hours of SecondsPath waits ...
    assert elapsed < 5  # ... in a fraction of a second (measured ~0.05 s; the bound leaves room for a loaded machine)
    assert machines.calls == [("slice", {"run": "r-1"}), ("slice", paused), ("slice", paused)]
    # Every state's events: 3 x Task (Entered, Scheduled, Started, Succeeded, Exited), 3 x Choice (Entered, Exited),
    # 2 x Wait (Entered, Exited), Succeed (Entered, Exited), and ExecutionStarted, ExecutionSucceeded: what AWS records.
    events = history(machines.sfn, ended["executionArn"])
    assert len(events) == 3 * 5 + 3 * 2 + 2 * 2 + 2 + 2 == 29
    assert [e["type"] for e in events[:6]] == [
        "ExecutionStarted",
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskSucceeded",
        "TaskStateExited",
    ]
    assert events[-1]["type"] == "ExecutionSucceeded"


def test_a_raising_handler_is_a_task_failure_named_after_its_exception(machines: Machines) -> None:
    """moto's executor takes a function error's ``errorType`` as the Task's Error (not ``Lambda.Unknown``), for
    the optimized integration (``TaskFailed``) and a plain function ARN (``LambdaFunctionFailed``) alike; a Catch
    on ``States.ALL``, on ``States.TaskFailed`` or on the exception's name catches it, as in AWS. One execution,
    six Tasks, each raising and caught by one of them."""

    def refuse(name: str, payload: Any) -> Any:
        raise Paused(f"not yet: {len(machines.calls)}")

    machines.answer = refuse
    tasks = [
        (resource, matching)
        for resource in ("arn:aws:states:::lambda:invoke", FUNCTION_ARN)
        for matching in ("States.ALL", "States.TaskFailed", "Paused")
    ]
    states: dict[str, Any] = {"Caught 6": {"Type": "Pass", "End": True}}
    for index, (resource, matching) in enumerate(tasks, start=1):
        task: dict[str, Any] = {"Type": "Task", "Resource": resource, "End": True}
        if resource.startswith("arn:aws:states"):
            task["Parameters"] = {"FunctionName": "slice", "Payload.$": "$"}
        next_state = f"Task {index + 1}" if index < len(tasks) else "Caught 6"
        task["Catch"] = [{"ErrorEquals": [matching], "ResultPath": f"$.error{index}", "Next": next_state}]
        states[f"Task {index}"] = task
    ended = run(machines.sfn, machines.create({"StartAt": "Task 1", "States": states}), {})
    assert ended["status"] == "SUCCEEDED", ended
    errors = json.loads(ended["output"])
    for index in range(1, len(tasks) + 1):
        error = errors[f"error{index}"]
        assert error["Error"] == "Paused"
        assert json.loads(error["Cause"]) == {"errorMessage": f"not yet: {index}", "errorType": "Paused"}
    failed = [e["type"] for e in history(machines.sfn, ended["executionArn"]) if e["type"].endswith("Failed")]
    assert failed == ["TaskFailed"] * 3 + ["LambdaFunctionFailed"] * 3


def test_an_uncaught_task_failure_fails_the_execution_with_its_name(machines: Machines) -> None:
    machines.answer = _sequence(KeyError("chunk-9"))
    ended = run(machines.sfn, machines.create({"StartAt": "Slice", "States": {"Slice": {**SLICE, "End": True}}}), {})
    assert (ended["status"], ended["error"]) == ("FAILED", "KeyError")
    assert json.loads(ended["cause"])["errorMessage"] == "'chunk-9'"


def test_a_retry_waits_its_intervals_on_the_test_clock(machines: Machines) -> None:
    machines.answer = _sequence(Paused("1"), Paused("2"), {"status": "done"})
    retry = {"ErrorEquals": ["Paused"], "IntervalSeconds": 30, "BackoffRate": 2, "MaxAttempts": 3}
    definition = {"StartAt": "Slice", "States": {"Slice": {**SLICE, "Retry": [retry], "End": True}}}
    ended = run(machines.sfn, machines.create(definition), {})
    assert ended["status"] == "SUCCEEDED", ended
    assert machines.clock.waits == [30, 60]
    types = [e["type"] for e in history(machines.sfn, ended["executionArn"]) if e["type"].startswith("Task")]
    assert types.count("TaskFailed") == 2 and types.count("TaskSucceeded") == 1


CHUNKS = {
    "StartAt": "Chunks",
    "States": {
        "Chunks": {
            "Type": "Map",
            "ItemsPath": "$.chunks",
            "MaxConcurrency": 2,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                **LOOP,
                "States": {
                    **LOOP["States"],
                    "Slice": {
                        **SLICE,
                        "ResultSelector": {
                            "status.$": "$.Payload.status",
                            "wake_in.$": "$.Payload.wake_in",
                            "chunk.$": "$.Payload.chunk",
                        },
                        "Next": "Done?",
                    },
                },
            },
            "End": True,
        }
    },
}


def _chunk_twice(name: str, payload: Any) -> Any:
    """A chunk (a name, then what its last slice said) pauses once for 60 s, then is done."""
    if isinstance(payload, str):
        return {"status": "paused", "wake_in": 60, "chunk": payload}
    if payload["chunk"] == "boom":
        raise Paused("boom")
    return {"status": "done", "wake_in": 0, "chunk": payload["chunk"]}


def test_a_distributed_map_runs_each_item_as_a_child_with_its_own_history(machines: Machines) -> None:
    machines.answer = _chunk_twice
    ended = run(machines.sfn, machines.create(CHUNKS), {"chunks": ["a", "b", "c"]})
    assert ended["status"] == "SUCCEEDED", ended
    assert json.loads(ended["output"]) == [{"status": "done", "wake_in": 0, "chunk": c} for c in "abc"]
    assert sorted(p for _, p in machines.calls if isinstance(p, str)) == ["a", "b", "c"]
    assert machines.clock.waits == [60, 60, 60]
    # moto keeps none of a child's events in the parent's history (nor does AWS) ...
    parent = history(machines.sfn, ended["executionArn"])
    assert [e["type"] for e in parent] == [
        "ExecutionStarted",
        "MapStateEntered",
        "MapStateStarted",
        "MapRunStarted",
        "MapRunSucceeded",
        "MapStateSucceeded",
        "MapStateExited",
        "ExecutionSucceeded",
    ]
    (map_run,) = machines.sfn.list_map_runs(executionArn=ended["executionArn"])["mapRuns"]
    assert machines.sfn.describe_map_run(mapRunArn=map_run["mapRunArn"])["itemCounts"]["succeeded"] == 3
    # ... and the hook keeps each child's: 2 x Task (5 events), 2 x Choice (2), 1 x Wait (2), Succeed (2) = 18; AWS's
    # child execution adds its ExecutionStarted and ExecutionSucceeded.
    children = machines.runs.children_of(map_run["mapRunArn"])
    assert [(c.index, c.item, c.status) for c in children] == [
        (0, "a", "SUCCEEDED"),
        (1, "b", "SUCCEEDED"),
        (2, "c", "SUCCEEDED"),
    ]
    assert [len(c.events) for c in children] == [18, 18, 18]
    assert max(c.event_count for c in children) == 20
    assert children[0].events[0]["type"] == "TaskStateEntered"


@pytest.mark.parametrize(
    ("tolerance", "status"),
    [({}, "FAILED"), ({"ToleratedFailureCount": 1}, "SUCCEEDED"), ({"ToleratedFailurePercentage": 30.0}, "FAILED")],
)
def test_a_failed_map_child_fails_the_map_run_past_its_tolerated_failures(
    machines: Machines, tolerance: dict[str, Any], status: str
) -> None:
    machines.answer = _chunk_twice
    definition = json.loads(json.dumps(CHUNKS))
    definition["States"]["Chunks"].update(tolerance)
    ended = run(machines.sfn, machines.create(definition), {"chunks": ["a", "boom", "c"]})
    assert ended["status"] == status, ended
    if status == "FAILED":  # 1 of 3 (33 %) is more than none, and more than 30 %
        assert (ended["error"], ended["cause"]) == (
            "States.ExceedToleratedFailureThreshold",
            "The specified tolerated failure threshold was exceeded",
        )
    (map_run,) = machines.sfn.list_map_runs(executionArn=ended["executionArn"])["mapRuns"]
    (failed,) = [c for c in machines.runs.children_of(map_run["mapRunArn"]) if c.status == "FAILED"]
    assert (failed.item, failed.events[-1]["type"]) == ("boom", "TaskFailed")


@pytest.mark.parametrize(
    ("failed", "total", "count", "percentage", "exceeded"),
    [
        (0, 3, 0, 0.0, False),
        (1, 3, 0, 0.0, True),  # no threshold given: any failure
        (1, 3, 1, 0.0, False),
        (2, 3, 1, 0.0, True),
        (1, 3, 0, 50.0, False),
        (2, 3, 0, 50.0, True),
        (1, 3, 5, 30.0, True),  # both given: either one
    ],
)
def test_tolerated_failures(failed: int, total: int, count: int, percentage: float, exceeded: bool) -> None:
    assert moto_compat._exceeds(failed, total, count, percentage) is exceeded


def test_an_execution_without_a_name_is_named_with_a_uuid(machines: Machines) -> None:
    """moto's executor names it None, and the next unnamed start of the machine is then the same execution."""
    arn = machines.create({"StartAt": "Pass", "States": {"Pass": {"Type": "Pass", "End": True}}})
    first = run(machines.sfn, arn, {"n": 1})
    second = run(machines.sfn, arn, {"n": 1})
    assert first["executionArn"] != second["executionArn"]
    assert len(first["name"]) == 36 and first["name"].count("-") == 4


def test_a_handler_hands_over_to_a_successor_execution(machines: Machines) -> None:
    """The Lambda handler calls StartExecution itself (moto's ``states:startExecution`` integration fails with a
    ``States.Runtime`` KeyError 'StateMachineArn'), from moto's executor thread, without a name (moto alone would
    name every such execution None: the second start would be ``ExecutionAlreadyExists``)."""
    arn = machines.create(
        {
            "StartAt": "Slice",
            "States": {
                "Slice": {**SLICE, "ResultSelector": {"status.$": "$.Payload.status"}, "Next": "Done?"},
                "Done?": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.status", "StringEquals": "done", "Next": "Done"}],
                    "Default": "Handed over",
                },
                "Handed over": {"Type": "Succeed"},
                "Done": {"Type": "Succeed"},
            },
        }
    )

    def hand_over(name: str, payload: Any) -> Any:
        if payload["generation"] == 3:
            return {"status": "done"}
        successor = json.dumps({"generation": 1 + payload["generation"]})
        _client("stepfunctions").start_execution(stateMachineArn=arn, input=successor)
        return {"status": "handed over"}

    machines.answer = hand_over
    run(machines.sfn, arn, {"generation": 1})
    ended: list[dict[str, Any]] = []
    while len(ended) < 3:  # each generation starts the next before it ends
        executions = machines.sfn.list_executions(stateMachineArn=arn)["executions"]
        ended = [wait_for_execution(machines.sfn, e["executionArn"]) for e in executions]
        assert len(ended) <= 3
    assert sorted(json.loads(e["input"])["generation"] for e in ended) == [1, 2, 3]
    assert {e["status"] for e in ended} == {"SUCCEEDED"}


def test_hooks_are_undone_on_exit() -> None:
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.core.config import default_user_config
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    def originals() -> list[Any]:
        return [
            LambdaSimpleBackend.invoke,
            WaitFunction._wait_interval,
            retrier_decl.time,
            lambda_eval_utils.boto_client_for,
            StepFunctionsParserBackend.start_execution,
            json.dumps(default_user_config, sort_keys=True),
        ]

    before = originals()
    with (
        moto_compat.execute_state_machines(),
        moto_compat.lambda_in_process(lambda n, p: p),
        moto_compat.warped_waits(lambda s: None),
    ):
        during = originals()
    assert all(a is not b for a, b in zip(before[:5], during[:5], strict=True))
    assert during[5] != before[5]
    assert originals() == before


def test_executions_still_running_at_the_end_are_stopped() -> None:
    """Without ``warped_waits`` a Wait sleeps for real: leaving ``execute_state_machines()`` stops the execution,
    so that its thread does not outlive the test's moto."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    with mock_aws():
        with moto_compat.execute_state_machines() as runs:
            sfn = moto_client("stepfunctions", REGION)
            role = "arn:aws:iam::123456789012:role/machine"  # moto's state machines need no such role
            wait = {"StartAt": "Sleep", "States": {"Sleep": {"Type": "Wait", "Seconds": 3600, "End": True}}}
            machine = sfn.create_state_machine(name="sleeper", definition=json.dumps(wait), roleArn=role)
            arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
            with pytest.raises(TimeoutError):
                wait_for_execution(sfn, arn, timeout=0.05)
        assert runs.stopped == [arn]
        backend = stepfunctions_parser_backends["123456789012"][REGION]
        deadline = time.monotonic() + 5
        while backend.describe_execution(arn).exec_status == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.005)
        assert backend.describe_execution(arn).exec_status == "ABORTED"
