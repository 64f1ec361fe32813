"""The engine's generated state machine (generate/engine_asl.py), executed by moto in-process with a scripted runner
in place of amishare's Lambda: its control flow as docs/engine.md tells it. A run goes plan -> prepare loop -> the
chunks fanned out (a Distributed Map, each child a loop) -> finish loop -> report; every loop waits as long as its
slice asks (hours, on a warped clock); a slice that crashes is retried and the run goes on; one that keeps crashing
ends in the Crashed state; a loop at its limit hands over to a successor execution that skips planning; a child at
its limit leaves its chunk to the next Map round; a run that did not converge fails the execution."""

from __future__ import annotations

import json
from collections import Counter

from amishare.generate.engine_asl import definition
from tests.sandbox.test_state_machines import machines  # noqa: F401 (the fixture)
from tests.support.engine_script import HOUR, Runner
from tests.support.state_machines import FUNCTION_ARN, Machines, history, run, wait_for_execution

CHUNKS = ["chunk:eu-west-1:0", "chunk:us-east-1:0", "chunk:us-east-1:1"]


def _start(machines: Machines, runner: Runner) -> str:  # noqa: F811
    runner.sfn = machines.sfn
    machines.answer = runner
    return machines.create(definition(FUNCTION_ARN, budget=600, concurrency=2), name="amishare-engine")


def _phases(runner: Runner) -> list[str]:
    return [r.get("phase") or r["action"] for r in runner.requests]


def test_a_run_goes_through_its_phases_and_waits_hours_on_the_clock(machines: Machines) -> None:  # noqa: F811
    runner = Runner({"prepare": 2, CHUNKS[0]: 3, CHUNKS[1]: 1, CHUNKS[2]: 2, "finish": 2}, wake=4 * HOUR)
    ended = run(machines.sfn, _start(machines, runner), {"trigger": "e-1", "family": "base"})
    assert ended["status"] == "SUCCEEDED", ended
    asked = _phases(runner)
    assert asked[:3] == ["plan", "prepare", "prepare"]
    assert sorted(asked[3:9]) == sorted([CHUNKS[0]] * 3 + [CHUNKS[1]] + [CHUNKS[2]] * 2)  # the children, at once
    assert asked[9:] == ["left", "finish", "finish", "report"]
    assert runner.requests[0] == {"action": "plan", "input": {"trigger": "e-1", "family": "base"}}
    assert {r["budget"] for r in runner.requests if r["action"] == "slice"} == {600}
    # each loop waited as its slices asked: 1 + (2 + 0 + 1) + 1 waits of 4 h, no other wait
    assert machines.clock.waits == [4 * HOUR] * 5
    loops = [r["iteration"] for r in runner.requests if r.get("phase") == CHUNKS[0]]
    assert loops == [0, 1, 2]  # a child's loop counts its own slices


def test_a_plan_with_nothing_to_do_ends_the_execution_at_once(machines: Machines) -> None:  # noqa: F811
    runner = Runner({}, plan_status="nothing-to-do")
    ended = run(machines.sfn, _start(machines, runner), {"trigger": "e-2"})
    assert ended["status"] == "SUCCEEDED" and _phases(runner) == ["plan"]
    assert [e["type"] for e in history(machines.sfn, ended["executionArn"])][-2:] == [
        "SucceedStateExited",
        "ExecutionSucceeded",
    ]


def test_a_slice_that_crashes_is_retried_after_a_pause_and_the_run_goes_on(machines: Machines) -> None:  # noqa: F811
    runner = Runner({"prepare": 2, CHUNKS[0]: 2, "finish": 1}, crash={("prepare", 2), (CHUNKS[0], 1)})
    ended = run(machines.sfn, _start(machines, runner), {})
    assert ended["status"] == "SUCCEEDED", ended
    assert runner.seen == Counter({"prepare": 3, CHUNKS[0]: 3, "finish": 1})  # each crash tried again
    assert sorted(machines.clock.waits) == sorted([HOUR, 30, 30, HOUR])  # the retries' 30 s, the slices' hour


def test_a_slice_that_keeps_crashing_ends_the_execution_in_crashed(machines: Machines) -> None:  # noqa: F811
    runner = Runner({"prepare": 2}, crash={("prepare", n) for n in range(1, 10)})
    ended = run(machines.sfn, _start(machines, runner), {})
    assert ended["status"] == "FAILED" and ended["error"] == "amishare.RunnerFailed"
    assert runner.seen["prepare"] == 4  # the first try and three retries (30 s, 60 s, 120 s)
    assert machines.clock.waits == [30, 60, 120]


def test_a_run_that_did_not_converge_fails_its_execution(machines: Machines) -> None:  # noqa: F811
    runner = Runner({"prepare": 1, CHUNKS[0]: 1}, verdict="partial")
    ended = run(machines.sfn, _start(machines, runner), {})
    assert ended["status"] == "FAILED" and ended["error"] == "amishare.RunNotConverged"


def test_a_loop_at_its_limit_hands_over_to_a_successor_that_skips_planning(machines: Machines) -> None:  # noqa: F811
    runner = Runner({"prepare": 5, CHUNKS[0]: 1, "finish": 1}, hand_over_at={"prepare": 3})
    first = run(machines.sfn, _start(machines, runner), {"trigger": "e-3"}, name="run-1")
    assert first["status"] == "SUCCEEDED"
    assert [e["type"] for e in history(machines.sfn, first["executionArn"])][-3:-1] == [
        "SucceedStateEntered",
        "SucceedStateExited",
    ]  # HandedOver
    assert runner.successors == ["run-1-h1"]
    arn = first["executionArn"].replace(":run-1", ":run-1-h1")
    second = wait_for_execution(machines.sfn, arn)
    assert second["status"] == "SUCCEEDED", second
    assert json.loads(second["input"]) == {"run": {"run_id": "run-1", "chunks": [CHUNKS[0]]}}
    assert _phases(runner).count("plan") == 1  # the successor went straight to its loops
    assert runner.seen == Counter({"prepare": 5, CHUNKS[0]: 1, "finish": 1})
    prepares = [r["iteration"] for r in runner.requests if r.get("phase") == "prepare"]
    assert prepares == [0, 1, 2, 0, 1]  # the successor's loop counts afresh


def test_a_child_at_its_limit_leaves_its_chunk_to_the_next_map_round(machines: Machines) -> None:  # noqa: F811
    runner = Runner({CHUNKS[0]: 4, CHUNKS[1]: 1}, hand_over_at={CHUNKS[0]: 2})
    ended = run(machines.sfn, _start(machines, runner), {})
    assert ended["status"] == "SUCCEEDED", ended
    assert runner.seen == Counter({CHUNKS[0]: 4, CHUNKS[1]: 1, "prepare": 1, "finish": 1})
    rounds = [r["action"] for r in runner.requests if r["action"] in ("left",)]
    assert rounds == ["left", "left"]  # the first round left one chunk; the second none
    assert len(machines.sfn.list_map_runs(executionArn=ended["executionArn"])["mapRuns"]) == 2


def test_a_long_copy_costs_its_chunk_nine_history_events_a_slice(machines: Machines) -> None:  # noqa: F811
    """A slice pauses once nothing is due for a minute (the runner's idle_exit), and its poller looks at a copy of
    hours every 5 minutes at most: a 2 h copy is 25 short slices of one chunk, 5 minutes apart, 9 history events
    each in the chunk's own execution (a 48 h copy: 577 slices, 5,197 events, far below Step Functions' 25,000:
    benchmarks/engine_machine.py runs it)."""
    copy_hours = 2
    slices = copy_hours * HOUR // 300 + 1
    runner = Runner({"prepare": 1, CHUNKS[0]: slices, "finish": 1}, wake=300)
    started = machines.sfn.start_execution(stateMachineArn=_start(machines, runner), input="{}")
    ended = wait_for_execution(machines.sfn, started["executionArn"], timeout=120)
    assert ended["status"] == "SUCCEEDED"
    (map_run,) = machines.sfn.list_map_runs(executionArn=ended["executionArn"])["mapRuns"]
    (child,) = machines.runs.children_of(map_run["mapRunArn"])
    parent = len(history(machines.sfn, ended["executionArn"]))
    # a slice costs 9 events (Task 5, Choice 2, Wait 2; the last waits not), plus the child's start, its Pass and
    # its Succeed (2 each)
    assert child.event_count == 9 * slices + 4 == 229
    assert sum(machines.clock.waits) >= copy_hours * HOUR
    assert max(child.event_count, parent) < 25_000 // 4
