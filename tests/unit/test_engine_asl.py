"""The engine's state machine as generated (pure): clean under cfn-lint's schema check and the statelint checks it
lacks (tests/support/statelint.py), and shaped as docs/engine.md says: plan, a prepare loop, a Distributed Map of
chunk loops, a finish loop, a report; every loop waits as long as its slice asks and hands over at its limit."""

from __future__ import annotations

import json
from typing import Any

import pytest

from amishare.generate.engine_asl import definition
from tests.support.statelint import problems

RUNNER = "arn:aws:lambda:us-east-1:111111111111:function:amishare-runner"


def _template(machine: dict[str, Any]) -> str:
    trust = {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
    return json.dumps(
        {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Resources": {
                "Role": {
                    "Type": "AWS::IAM::Role",
                    "Properties": {"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [trust]}},
                },
                "Machine": {
                    "Type": "AWS::StepFunctions::StateMachine",
                    "Properties": {
                        "StateMachineType": "STANDARD",
                        "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
                        "Definition": machine,
                        "DefinitionSubstitutions": {"Runner": RUNNER},
                    },
                },
            },
        }
    )


@pytest.mark.slow
def test_the_machine_passes_cfn_lint_and_cfn_lint_is_really_looking() -> None:
    from cfnlint.api import lint

    assert lint(_template(definition("${Runner}")), regions=["us-east-1"]) == []
    broken = definition("${Runner}")
    broken["States"]["Prepare"]["Type"] = "Tusk"
    assert lint(_template(broken), regions=["us-east-1"])


def test_the_machine_passes_the_statelint_checks_and_they_are_really_looking() -> None:
    assert problems(definition(RUNNER)) == []
    broken = definition(RUNNER)
    broken["States"]["Chunks"]["ItemProcessor"]["States"]["SliceWait"]["Next"] = "Gone"
    broken["States"]["PrepareWait"]["SecondsPath"] = 5
    broken["States"]["Orphan"] = {"Type": "Succeed"}
    assert problems(broken) == [
        "PrepareWait: SecondsPath is not a JSONPath: 5",
        "Chunks/SliceWait: goes to no state 'Gone'",
        "Orphan: unreachable from StartAt",
    ]


def _path(machine: dict[str, Any], start: str, answers: dict[str, str]) -> list[str]:
    """The states visited from ``start`` when each Choice takes the branch ``answers`` names (else its Default),
    stopping at a terminal state or a state seen twice (a loop)."""
    states, seen, name = machine["States"], [], start
    while name not in seen:
        seen.append(name)
        state = states[name]
        if state["Type"] in ("Succeed", "Fail"):
            return seen
        name = answers.get(name) or state.get("Next") or state.get("Default")
    return [*seen, name]


def test_a_planned_run_goes_plan_prepare_chunks_left_finish_report() -> None:
    machine = definition(RUNNER)
    visited = _path(machine, "Begin", {"Planned?": "StartPrepare", "Prepare?": "Chunks?", "Chunks?": "Chunks"})
    assert visited == [
        "Begin", "Plan", "Planned?", "StartPrepare", "Prepare", "Prepare?", "Chunks?", "Chunks", "Left", "Left?",
        "StartFinish", "Finish", "Finish?", "Report", "Verdict", "NotConverged",
    ]  # fmt: skip
    assert _path(machine, "Begin", {"Begin": "StartPrepare"})[:2] == ["Begin", "StartPrepare"]  # a successor
    assert _path(machine, "Planned?", {})[-1] == "NothingToDo"


def test_every_loop_waits_as_its_slice_asks_and_hands_over_at_its_limit() -> None:
    machine = definition(RUNNER, budget=300)
    child = machine["States"]["Chunks"]["ItemProcessor"]["States"]
    for states, loop, out in ((machine["States"], "Prepare", "HandOver"), (machine["States"], "Finish", "HandOver"),
                              (child, "Slice", "ChunkHandedOver")):  # fmt: skip
        task, choice, wait = states[loop], states[f"{loop}?"], states[f"{loop}Wait"]
        assert task["Parameters"]["budget"] == 300 and task["Parameters"]["iteration.$"] == "$.slice.iteration"
        assert {c["Next"] for c in choice["Choices"]} == {out, f"{loop}Wait"}
        assert wait == {"Type": "Wait", "SecondsPath": "$.slice.wait_seconds", "Next": loop}
        assert task["Retry"][-1]["ErrorEquals"] == ["States.ALL"]  # a slice that crashes is tried again
    assert child["Slice"]["Parameters"]["phase.$"] == "$.phase"
    assert machine["States"]["Prepare"]["Parameters"]["phase"] == "prepare"
    assert machine["States"]["Chunks"]["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"


@pytest.mark.parametrize(("budget", "concurrency"), [(0, 1), (841, 1), (600, 0), (600, 10_001)])
def test_a_budget_or_concurrency_aws_would_not_run_is_refused(budget: int, concurrency: int) -> None:
    with pytest.raises(ValueError, match=r"budget|concurrency"):
        definition(RUNNER, budget=budget, concurrency=concurrency)
