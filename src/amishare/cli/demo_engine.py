"""The demo's chapter on the serverless engine (issue 18; docs/engine.md, "The state machine" and "Local
rehearsal"): the engine deployed in the local AWS for chapter 14's manifest; the pipeline publishes the family's next
version; its ``Parameter Store Change`` starts one execution, named after the event, that plans, prepares, fans the
chunks out, finishes and reports; the estate converged; the same event delivered again starts nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.padding import Padding
from rich.rule import Rule
from rich.table import Table

from amishare.cli.demo_manifest import FAMILY_PARAMETER
from amishare.render.plan import plan_text
from amishare.render.runs import runs_text
from amishare.sandbox import demo_world as story

if TYPE_CHECKING:
    from amishare.api import Settings
    from amishare.engine.journal import RunRecord
    from amishare.sandbox.engine import EngineDeployment
    from amishare.sandbox.wire.moto_compat import MapChild

VERSION = "base-2026.12.02"  # the family's next build (chapter 14 published base-2026.12.01)


def chapter(console: Console, sb: Any, world: story.DemoWorld, scratch: Path) -> None:
    """Print the chapter, running each step on the demo's sandbox (after chapter 14, whose manifest it uses)."""
    from amishare import api
    from amishare.api.converge import ConvergeRequest, plan_manifest

    say = console.print
    say(Rule("15. The serverless engine: a version published, one execution, converged"))
    engine = sb.deploy_engine(scratch / "estate.toml", account=world.builder, region=world.region)  # chapter 14's
    rules = ", ".join(r.rsplit("/", 1)[-1] for r in engine.rule_arns)
    say(
        f"Deployed in the local AWS for estate.toml, in {engine.account} ({engine.region}), as its stack would be on "
        f"AWS: the journal {engine.journal}; the runner {_name(engine.function_arn)} (answered in this process); the "
        f"state machine {_name(engine.state_machine_arn)} (run by the local AWS, waiting on its clock); the rule "
        f"{rules} on {FAMILY_PARAMETER} (its target a queue, whose messages a bridge turns into executions named "
        "after their events: the local AWS's EventBridge cannot target a state machine).",
        markup=False,
    )
    say(Rule(f"15a. The pipeline publishes {VERSION} to {FAMILY_PARAMETER}"))
    image = sb.seed_image(world.builder, world.region, VERSION, volumes_gib=[2], kms_key=story.SHARE_KEY_ALIAS)
    sb.session(world.builder, world.region).client("ssm").put_parameter(
        Name=FAMILY_PARAMETER, Value=image, Type="String", DataType="aws:ec2:image", Overwrite=True
    )
    executions = engine.wait(timeout=180, started=1)
    (trigger,) = engine.triggers()
    (event,) = [e for e in sb.events(world.builder, world.region) if e.event_id == trigger.event_id]
    say(
        f"{image} is the new version. SSM put the event {event.event_id} ({event.detail_type}: "
        f"{event.detail.get('operation')} of {event.detail.get('name')}); the rule sent the runner's input "
        f"{json.dumps(trigger.input)}.",
        markup=False,
    )
    say(f"executions of {_name(engine.state_machine_arn)}: {len(executions)}", markup=False)
    for execution in executions:
        named = " (the event's id)" if execution["name"] == trigger.event_id else ""
        say(f"  {execution['name']}{named}: {execution['status']}", markup=False)
    runner = engine.settings  # the runner's: the amishare.toml beside the manifest, the journal its table
    _path(console, engine, next(e for e in executions if e["name"] == trigger.event_id), runner)
    say(Rule(f"15c. `amishare runs --journal {engine.journal}`"))
    say(runs_text(api.runs(runner)), markup=False, soft_wrap=True)
    say(Rule("15d. `amishare plan -f estate.toml`"))
    say(plan_text(plan_manifest(runner, ConvergeRequest(str(engine.manifest))).plan).splitlines()[-1], markup=False)
    say(Rule("15e. EventBridge delivers at least once: the same event again"))
    _redelivered(console, engine, trigger.event_id, trigger.input)
    engine.close()  # its bridge stops and moto's hooks are undone; the tables, queue and state machine stay


def _name(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


@dataclass
class Step:
    """A state of the execution's path: its type (``Task``, ``Map``, ``Succeed``, ``Fail``), how often it was entered
    (a Task: its slices), the waits of its loop, how long it took (entered to exited, summed), and the runner's last
    answer (a Task's)."""

    name: str
    kind: str
    entered: int = 0
    waits: int = 0
    seconds: float = 0.0
    answer: dict[str, Any] = field(default_factory=dict)


LOOP_STATES = {"StartPrepare": "Prepare", "Prepare?": "Prepare", "PrepareWait": "Prepare"}
LOOP_STATES |= {"StartFinish": "Finish", "Finish?": "Finish", "FinishWait": "Finish"}
SHOWN = ("Task", "Map", "Succeed", "Fail")  # the states a path is told by (Choice and Pass states join their loop)


def steps_of(events: list[dict[str, Any]]) -> list[Step]:
    """An execution's history (``GetExecutionHistory``'s events, oldest first) as the steps of its path, in the order
    they were first entered; a loop's Pass, Choice and Wait states are told with its Task."""
    steps: dict[str, Step] = {}
    entered_at: dict[str, Any] = {}
    current = ""
    for event in events:
        kind = str(event["type"])
        details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails") or {}
        name = str(details.get("name", ""))
        if kind.endswith("StateEntered"):
            current = name
            owner = LOOP_STATES.get(name, name)
            if name.endswith("Wait") and owner in steps:
                steps[owner].waits += 1
            if kind.removesuffix("StateEntered") in SHOWN:
                step = steps.setdefault(name, Step(name, kind.removesuffix("StateEntered")))
                step.entered += 1
                entered_at[name] = event["timestamp"]
        elif kind.endswith("StateExited") and name in entered_at:
            steps[name].seconds += (event["timestamp"] - entered_at.pop(name)).total_seconds()
        elif kind == "LambdaFunctionSucceeded" and current in steps:
            steps[current].answer = json.loads(event["lambdaFunctionSucceededEventDetails"]["output"])
    return list(steps.values())


def _path(console: Console, engine: EngineDeployment, execution: dict[str, Any], runner: Settings) -> None:
    """Print the execution's path: its history, its Map's children, what each phase holds in the journal."""
    from amishare import api

    sfn = engine.settings.sessions().client("stepfunctions", engine.region)
    events = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
    steps = steps_of(events)
    run_id = str(next(s.answer["run_id"] for s in steps if s.name == "Plan"))
    record = api.run(runner, run_id)
    phases = _phases(record)
    console.print(Rule("15b. Its path: the execution's history, and each phase from the journal"))
    took = (execution["stopDate"] - execution["startDate"]).total_seconds()
    table = Table.grid(padding=(0, 1))
    table.add_column(min_width=11)  # the state
    table.add_column(justify="right", min_width=5)  # its seconds
    table.add_column()  # what it did: folds under itself
    for step in steps:
        ended = f"the execution {execution['status']} in {took:.1f} s"
        table.add_row(
            step.name, _seconds(step), ended if step.kind in ("Succeed", "Fail") else _told(step, record, phases)
        )
        if step.name == "Chunks" and engine.runs is not None:
            for child in sorted(engine.runs.map_children, key=lambda c: str(c.item)):
                table.add_row("", "", _child(child, phases))
    console.print(Padding(table, (0, 0, 0, 2)))
    waited = engine.clock.offset if engine.clock is not None else 0.0
    console.print(
        f"  the sandbox's clock moved {waited:.0f} s for the Wait states"
        if waited
        else "  no Wait state: every slice ended its phase within its budget",
        markup=False,
    )


def _child(child: MapChild, phases: dict[str, str]) -> str:
    """A Map child (a chunk's loop, an execution of its own on AWS): its slices and waits, and what its chunk holds."""
    slices = sum(1 for e in child.events if e["type"] == "TaskStateEntered")
    waits = sum(1 for e in child.events if e["type"] == "WaitStateEntered")
    loop = _count(slices, "slice") + (f", {_count(waits, 'wait')}" if waits else "")
    return f"{child.item}: {loop}, {child.status}: {phases.get(str(child.item), '')}"


def _phases(record: RunRecord) -> dict[str, str]:
    """What each phase of the run holds: its actions, and a chunk's destinations."""
    from amishare.api.handover import run_phases
    from amishare.engine.partition import destination_of
    from amishare.engine.plan import Plan

    plan = Plan.from_dict(record.plan)
    told = {}
    for phase in run_phases(plan):
        actions = [plan.action(k) for k in phase.keys]
        kinds = ", ".join(dict.fromkeys(str(a.kind) for a in actions))
        destinations = sorted({d for a in actions if (d := destination_of(plan, a)) is not None})
        to = f" for {', '.join(destinations)}" if destinations else ""
        told[phase.name] = f"{_count(len(actions), 'action')}{to} ({kinds})"
    return told


def _told(step: Step, record: RunRecord, phases: dict[str, str]) -> str:
    """What a step of the path did, from the runner's answer and the journal."""
    answer = step.answer
    slices = _count(step.entered, "slice") + (f", {_count(step.waits, 'wait')}" if step.waits else "")
    chunks = [p for p in phases if p.startswith("chunk:")]
    told = {
        "Plan": f"run {answer.get('run_id')}: {_count(len(record.actions), 'action')} in {len(phases)} phases",
        "Prepare": f"{slices}, the source's side: {phases.get('prepare', 'no action')}",
        "Chunks": f"a Distributed Map: {_count(len(chunks), 'chunk')} side by side",
        "Left": f"chunks left: {len(answer.get('chunks', [])) or 'none'}",
        "Finish": f"{slices}: {phases.get('finish', 'no action')}",
        "Report": f"{answer.get('status')}: "
        + ", ".join(
            f"{n} of {len(record.actions)} actions {state}" for state, n in sorted(answer.get("counts", {}).items())
        ),
    }
    return told.get(step.name, slices)


def _seconds(step: Step) -> str:
    return f"{step.seconds:.1f}s" if step.seconds >= 0.05 else ""


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _redelivered(console: Console, engine: EngineDeployment, event_id: str, body: dict[str, Any]) -> None:
    """The rule's message for the event put on the triggers queue again, as a second delivery puts it; what the
    bridge did with it, and what the runner answers a plan for that event."""
    from amishare import api
    from amishare.api.runner import handle

    sqs = engine.settings.sessions().client("sqs", engine.region)
    sqs.send_message(QueueUrl=engine.queue_url, MessageBody=json.dumps(body))
    engine.wait(timeout=60)
    deliveries = [t for t in engine.triggers() if t.event_id == event_id]
    started = [t for t in deliveries if t.execution_arn is not None]
    console.print(
        f"deliveries of {event_id}: {len(deliveries)}; executions they started: {len(started)} (the second found its "
        f"name taken). Executions: {len(engine.executions())}; runs in the journal: "
        f"{', '.join(r.run_id for r in api.runs(engine.settings))}.",
        markup=False,
    )
    answer = handle({"action": "plan", "input": body, "manifest": str(engine.manifest)}, engine.settings)
    console.print(
        "On AWS the rule starts each execution itself, so a second one would start, and end at NothingToDo: asked to "
        f"plan for that event, the runner answers {answer['status']} (run {answer['run_id']}): the trigger is "
        "claimed in the journal's table.",
        markup=False,
    )
