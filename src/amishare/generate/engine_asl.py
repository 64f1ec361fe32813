"""The engine's state machine in Amazon States Language (pure): Step Functions driving amishare's own steps in
Lambda, slice by slice (docs/engine.md). The same function writes the CloudFormation's definition
(``amishare engine template``) and the machine the tests execute.

```
Begin (a run id in the input: a successor, straight to Prepare) -> Plan -> Planned? (nothing to do: end)
Prepare: slice -> Choice -> Wait(wait_seconds) -> slice ...            the source's side
Chunks?: Map (Distributed) over the chunk phases, each child its own loop; then Left? runs it again over the
         chunks a child handed over (a child that reached its slice limit ends, its chunk unfinished)
Finish: slice -> Choice -> Wait -> slice ...                            staging deleted
Report: the verdict from the journal -> Succeed | Fail
```

Every loop counts its slices (the runner's ``iteration``) and hands over before Step Functions' 25,000-event history:
a loop of the parent that reaches the runner's limit starts a successor execution (the ``hand-over`` request) and
ends; Map children are executions of their own, each with its own history. A slice that raises (a crash, a
timeout) is retried after a pause; a retry resumes from the journal and AWS, like any slice.
"""

from __future__ import annotations

from typing import Any

DEFAULT_BUDGET = 600  # seconds per slice; Lambda stops an invocation at 900
DEFAULT_CONCURRENCY = 40  # chunk children at once (each drives at most 50 destinations of one region)
LAMBDA_TRANSIENT = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]  # Step Functions Developer Guide, "Handling errors in Step Functions workflows": retry these
CRASH_RETRY = {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 30, "MaxAttempts": 3, "BackoffRate": 2.0}
COMMENT = "amishare's engine: plan, prepare, the chunks at once, finish, report (docs/engine.md)"


def definition(
    function: str, *, budget: int = DEFAULT_BUDGET, concurrency: int = DEFAULT_CONCURRENCY
) -> dict[str, Any]:
    """The state machine, its Lambda tasks calling ``function`` (an ARN, or a substitution like ``${Runner}``)."""
    if not 1 <= budget <= 840:
        raise ValueError(f"a slice's budget must be 1..840 seconds (Lambda stops at 900), not {budget}")
    if not 1 <= concurrency <= 10_000:
        raise ValueError(f"chunk concurrency must be 1..10000 (Distributed Map's limit), not {concurrency}")
    states: dict[str, Any] = {
        "Begin": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.run.run_id", "IsPresent": True, "Next": "StartPrepare"}],
            "Default": "Plan",
        },
        "Plan": _task(function, {"action": "plan", "input.$": "$"}, "$.run", "Planned?"),
        "Planned?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.run.status", "StringEquals": "paused", "Next": "StartPrepare"}],
            "Default": "NothingToDo",
        },
        "NothingToDo": {"Type": "Succeed", "Comment": "no change to make, or a trigger delivered before"},
        **_loop(function, "prepare", "Prepare", "Chunks?", budget),
        "Chunks?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.run.chunks[0]", "IsPresent": True, "Next": "Chunks"}],
            "Default": "StartFinish",
        },
        "Chunks": _chunks(function, budget, concurrency),
        "Left": _task(function, {"action": "left", "run_id.$": "$.run.run_id"}, "$.left", "Left?"),
        "Left?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.left.chunks[0]", "IsPresent": True, "Next": "ChunksAgain"}],
            "Default": "StartFinish",
        },
        "ChunksAgain": {"Type": "Pass", "InputPath": "$.left.chunks", "ResultPath": "$.run.chunks", "Next": "Chunks"},
        **_loop(function, "finish", "Finish", "Report", budget),
        "Report": _task(function, {"action": "report", "run_id.$": "$.run.run_id"}, "$.report", "Verdict", False),
        "Verdict": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.report.status", "StringEquals": "succeeded", "Next": "Converged"}],
            "Default": "NotConverged",
        },
        "Converged": {"Type": "Succeed"},
        "NotConverged": {
            "Type": "Fail",
            "Error": "amishare.RunNotConverged",
            "Cause": "the run ended partial, failed or unfinished: `amishare runs show RUN_ID` names each action",
        },
        "HandOver": _task(
            function,
            {
                "action": "hand-over",
                "state_machine.$": "$$.StateMachine.Id",
                "execution.$": "$$.Execution.Name",
                "input": {"run": {"run_id.$": "$.run.run_id", "chunks.$": "$.run.chunks"}},
            },
            "$.handover",
            "HandedOver",
            False,
        ),
        "HandedOver": {"Type": "Succeed", "Comment": "a successor execution goes on with the run"},
        "Crashed": {
            "Type": "Fail",
            "Error": "amishare.RunnerFailed",
            "Cause": "a request to the runner failed after its retries: `amishare resume RUN_ID` goes on from the "
            "journal",
        },
    }
    return {"Comment": COMMENT, "StartAt": "Begin", "States": states}


def _task(
    function: str, parameters: dict[str, Any], result: str | None, following: str, catch: bool = True
) -> dict[str, Any]:
    """A Lambda task calling the runner with ``parameters``, its answer at ``result``, retried when it fails."""
    task: dict[str, Any] = {
        "Type": "Task",
        "Resource": function,
        "Parameters": parameters,
        "ResultPath": result,
        "Retry": [
            {"ErrorEquals": LAMBDA_TRANSIENT, "IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2.0},
            CRASH_RETRY,
        ],
        "Next": following,
    }
    if catch:
        task["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Crashed"}]
    return task


def _slice_states(
    function: str, phase: str | None, name: str, after: str, budget: int, out: str, share: float = 1.0
) -> dict[str, Any]:
    """A loop of slices: ``name`` slices (of ``phase``; a Map child's phase is in its input), ``<name>?`` chooses,
    ``<name>Wait`` waits as long as the slice asked; ``out`` when the loop reached its slice limit."""
    where = "$.slice"
    request: dict[str, Any] = {
        "action": "slice",
        "run_id.$": "$.run_id" if phase is None else "$.run.run_id",
        "budget": budget,
        "iteration.$": f"{where}.iteration",
    }
    request.update({"phase.$": "$.phase"} if phase is None else {"phase": phase})
    if share < 1.0:  # chunks run at once: each paces its KMS calls to its part of the account's quotas
        request["kms_share"] = share
    return {
        name: _task(function, request, where, f"{name}?"),
        f"{name}?": {
            "Type": "Choice",
            "Choices": [
                {"Variable": f"{where}.hand_over", "BooleanEquals": True, "Next": out},
                {"Variable": f"{where}.status", "StringEquals": "paused", "Next": f"{name}Wait"},
                {"Variable": f"{where}.status", "StringEquals": "busy", "Next": f"{name}Wait"},
            ],
            "Default": after,
        },
        f"{name}Wait": {"Type": "Wait", "SecondsPath": f"{where}.wait_seconds", "Next": name},
    }


def _loop(function: str, phase: str, name: str, after: str, budget: int) -> dict[str, Any]:
    """The parent's loop over ``phase``: its slice count starts at 0; at the limit it hands over."""
    return {
        f"Start{name}": {
            "Type": "Pass",
            "Result": {"iteration": 0, "wait_seconds": 0, "status": "start"},
            "ResultPath": "$.slice",
            "Next": name,
        },
        **_slice_states(function, phase, name, after, budget, "HandOver"),
    }


def _chunks(function: str, budget: int, concurrency: int) -> dict[str, Any]:
    """The Map over the chunk phases: each child an execution of its own, looping over its chunk's slices."""
    child = {
        "Start": {
            "Type": "Pass",
            "Result": {"iteration": 0, "wait_seconds": 0, "status": "start"},
            "ResultPath": "$.slice",
            "Next": "Slice",
        },
        **_slice_states(function, None, "Slice", "ChunkDone", budget, "ChunkHandedOver", round(1 / concurrency, 6)),
        "ChunkDone": {"Type": "Succeed"},
        "ChunkHandedOver": {"Type": "Succeed", "Comment": "its slice limit: the parent's Left? runs the chunk again"},
    }
    for state in child.values():
        state.pop("Catch", None)  # a child that fails fails the Map: the parent's Catch reports it
    return {
        "Type": "Map",
        "ItemsPath": "$.run.chunks",
        "ItemSelector": {"run_id.$": "$.run.run_id", "phase.$": "$$.Map.Item.Value"},
        "MaxConcurrency": concurrency,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Start",
            "States": child,
        },
        "ResultPath": None,
        "Retry": [CRASH_RETRY],
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Crashed"}],
        "Next": "Left",
    }
