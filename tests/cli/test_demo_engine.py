"""The demo's engine chapter tells an execution's path from its history (``demo_engine.steps_of``): the states in the
order they were first entered, a loop's slices and waits counted with its Task, each Task's last answer."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from amishare.cli.demo_engine import steps_of

START = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)


def _history(*states: tuple[str, str, dict[str, Any] | None]) -> list[dict[str, Any]]:
    """Each state entered and exited a second later (a Task's answer between), as GetExecutionHistory gives them."""
    events: list[dict[str, Any]] = []
    for n, (kind, name, answer) in enumerate(states):
        at = START + dt.timedelta(seconds=2 * n)
        events.append({"type": f"{kind}StateEntered", "timestamp": at, "stateEnteredEventDetails": {"name": name}})
        if answer is not None:
            output = {"output": json.dumps(answer)}
            events.append({"type": "LambdaFunctionSucceeded", "lambdaFunctionSucceededEventDetails": output})
        exited = at + dt.timedelta(seconds=1)
        events.append({"type": f"{kind}StateExited", "timestamp": exited, "stateExitedEventDetails": {"name": name}})
    return events


def test_a_path_counts_each_loops_slices_and_waits_and_keeps_the_last_answer() -> None:
    history = _history(
        ("Choice", "Begin", None),
        ("Task", "Plan", {"status": "paused", "run_id": "r-1", "chunks": ["chunk:us-east-1:0"]}),
        ("Pass", "StartPrepare", None),
        ("Task", "Prepare", {"status": "paused", "wait_seconds": 60}),
        ("Choice", "Prepare?", None),
        ("Wait", "PrepareWait", None),
        ("Task", "Prepare", {"status": "done"}),
        ("Map", "Chunks", None),
        ("Task", "Left", {"chunks": []}),
        ("Task", "Finish", {"status": "done"}),
        ("Task", "Report", {"status": "succeeded", "counts": {"succeeded": 3}}),
        ("Choice", "Verdict", None),
        ("Succeed", "Converged", None),
    )
    steps = steps_of(history)
    assert [(s.name, s.kind, s.entered, s.waits) for s in steps] == [
        ("Plan", "Task", 1, 0),
        ("Prepare", "Task", 2, 1),
        ("Chunks", "Map", 1, 0),
        ("Left", "Task", 1, 0),
        ("Finish", "Task", 1, 0),
        ("Report", "Task", 1, 0),
        ("Converged", "Succeed", 1, 0),
    ]
    prepare = steps[1]
    assert prepare.seconds == 2.0 and prepare.answer == {"status": "done"}  # two slices of 1 s; the last answer
    assert steps[0].answer["run_id"] == "r-1"
