"""The serverless runner's entry (issue 18): what the engine's Lambda function does when the state machine calls
it, runnable in any process (the tests call it in-process against the local AWS).

Requests, each a JSON object (``docs/engine.md``, "The runner's requests"):

- ``{"action": "plan", "manifest": PATH, "family": NAME, "trigger": ID}`` (or these under ``input``: the
  execution's input, as the state machine passes it; the manifest defaults to ``$AMISHARE_MANIFEST``): plan the
  family (an empty plan ends there: ``{"status": "nothing-to-do"}``), record the run in the journal without
  applying anything, and answer
  ``{"status": "paused", "run_id": ..., "wake_in": 0, "chunks": [...]}``: the names of the run's chunk phases,
  which the state machine's Map fans out over. A trigger seen before (EventBridge delivers at least once) answers
  ``{"status": "duplicate"}``: one run per event.
  An event's request names what happened instead of a family: ``parameter`` (a Parameter Store Change) or
  ``image`` and ``region`` (an EC2 AMI State Change): the run is for the families it concerns
  (``planners/manifest/events.py``); one it concerns none of ends there (``nothing-to-do``). With ``drift_topic``
  (the scheduled reconcile's), the drift the plan found is published there as ``amishare.drift/1`` first.
- ``{"action": "slice", "run_id": ID, "budget": SECONDS, "phase": NAME?, "iteration": N?, "kms_share": F?}``: one slice
  of the run (``api.resume`` with a budget; ``kms_share``: the part of each KMS request quota it may use, ``1 /
  concurrency`` for a Map's chunks, which run at once), of one phase when ``phase`` names one (``prepare``,
  ``chunk:<region>:<n>``, ``finish``): ``{"status": "paused" | "done" | "busy", "wake_in": SECONDS, "iteration": N + 1,
  "hand_over": BOOL}``. ``busy``: another live driver holds the lease (a slice that timed out and has not yet gone
  stale): try again after ``wake_in``. ``hand_over``: this loop has run ``LOOP_LIMIT`` slices; the state machine ends it
  and lets a successor continue, before its history reaches Step Functions' 25,000 events. A whole-run slice (no phase)
  answers the run's own status (``succeeded``, ``partial``, ``failed``) when it ends.
- ``{"action": "left", "run_id": ID}``: the chunk phases that have not finished (``{"chunks": [...]}``): a Map
  whose children handed over runs again over these.
- ``{"action": "report", "run_id": ID}``: the run's verdict from the journal (``succeeded``, ``partial``,
  ``failed``, or ``unfinished`` while actions are left), recorded as the run's status, its notifications sent.
- ``{"action": "hand-over", "state_machine": ARN, "execution": NAME, "input": {...}}``: start the successor
  execution, named after this one (``<name>-h1``, ``-h2`` ...: a hand-over delivered twice starts one), its input
  naming the run (it skips planning). Step Functions' own ``startExecution`` integration is not used.

Every slice answer carries ``wait_seconds``: ``wake_in`` rounded up to whole seconds, what the state machine's
Wait state takes (``SecondsPath`` wants an integer).

The journal must be one every runner sees (``journal = "dynamodb://TABLE"``); the settings come from the
environment and the config file the function is deployed with (``AMISHARE_CONFIG``).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from amishare.api.context import Flags, Settings, settings
from amishare.api.converge import ConvergeRequest, ManifestPlan, plan_manifest
from amishare.api.execute import Outcome, apply, with_notifications
from amishare.api.handover import EngineSlice, resume, run_phases
from amishare.aws.dynamodb_journal import DynamoJournal
from amishare.aws.pacer import share_kms_quota
from amishare.aws.reads.families import event_image
from amishare.aws.session import known_regions
from amishare.aws.state_machines import start_execution
from amishare.aws.steps import notify
from amishare.engine.executor import ActionResult, RunResult, now_utc
from amishare.engine.partition import DEFAULT_CHUNK
from amishare.engine.plan import Plan
from amishare.errors import AmiShareError, RunBusy, UsageError
from amishare.planners.manifest import load_manifest
from amishare.planners.manifest.events import families_for_image, families_for_parameter
from amishare.render.drift import drift_json

DEFAULT_BUDGET = 600.0  # seconds of a slice when the request names none (Lambda allows 900 per invocation)
BUSY_WAIT = 30.0  # seconds before a slice refused for a live lease tries again
IDLE_EXIT = 60.0  # a slice with nothing due for longer pauses: long waits keep slices at least a minute apart
LOOP_LIMIT = 500  # slices one loop runs before handing over (about 10 history events each: far below 25,000)
FINISHED = ("succeeded", "failed", "skipped", "superseded")


def handle(request: dict[str, Any], current: Settings | None = None) -> dict[str, Any]:
    """Serve one request of the state machine (module docstring)."""
    chosen = _warm(current)
    action = request.get("action")
    if action == "hand-over":
        return _hand_over(chosen, request)
    if not chosen.journal_url:
        raise UsageError(
            'the serverless runner needs a journal every runner sees: set journal = "dynamodb://TABLE" '
            "under [defaults] (or AMISHARE_JOURNAL)"
        )
    served: dict[str, Callable[[Settings, dict[str, Any]], dict[str, Any]]] = {
        "plan": _plan,
        "slice": _slice,
        "left": _left,
        "report": _report,
    }
    if action not in served:
        raise UsageError(f"unknown request {action!r}: the runner serves {', '.join([*served, 'hand-over'])}")
    return served[str(action)](chosen, request)


_WARM: list[tuple[Settings | None, Settings]] = []  # the last settings served, with their sessions kept


def _warm(current: Settings | None) -> Settings:
    """``current`` (else the deployed configuration) with its AWS sessions kept from one request to the next, as a
    warm Lambda keeps its module state."""
    if _WARM and _WARM[0][0] is current:
        return _WARM[0][1]
    base = current or settings(Flags(config_path=os.environ.get("AMISHARE_CONFIG")), cwd=Path.cwd())
    warm = base.reusing_sessions()
    _WARM[:] = [(current, warm)]
    return warm


NOTHING: dict[str, Any] = {"status": "nothing-to-do", "run_id": None, "wake_in": None, "chunks": []}


def _plan(chosen: Settings, request: dict[str, Any]) -> dict[str, Any]:
    request = _plan_request(request)
    trigger = str(request.get("trigger") or "")
    if trigger:
        seen = _journal_call(chosen, lambda log: log.claim_trigger(trigger))
        if seen is not None:  # delivered before: its run (or "" while that plan is still being made)
            return {"status": "duplicate", "run_id": seen or None, "wake_in": None, "chunks": []}
    answer = _record_run(chosen, request)
    if trigger:
        _journal_call(chosen, lambda log: log.record_trigger(trigger, answer["run_id"] or ""))
    return answer


def _plan_request(request: dict[str, Any]) -> dict[str, Any]:
    """The request with the execution's input merged in (the state machine passes it whole) and its manifest."""
    merged = {**request, **(request.get("input") or {})}
    merged["manifest"] = merged.get("manifest") or os.environ.get("AMISHARE_MANIFEST") or ""
    if not merged["manifest"]:
        raise UsageError("a plan request names no manifest: pass manifest, or deploy the runner with AMISHARE_MANIFEST")
    return merged


def _record_run(chosen: Settings, request: dict[str, Any]) -> dict[str, Any]:
    """Plan the families the request concerns and record the run (nothing applied: the slices apply it)."""
    families = _concerned(chosen, request)
    if families == ():
        return {**NOTHING, "reason": "the event concerns no family of the manifest"}
    family = families[0] if families is not None and len(families) == 1 else request.get("family")
    # the run's own grants for its transfers: runs of several families overlap on one key, and a policy statement
    # one run takes away would fail another's copies (docs/engine.md, "Concurrent runs")
    made = plan_manifest(chosen, ConvergeRequest(str(request["manifest"]), family, transfer_key_access="grant"))
    published = _publish_drift(chosen, made, str(request.get("drift_topic") or ""))
    if not made.plan.actions:
        return {**NOTHING, **published}
    size = int(request.get("chunk_size") or DEFAULT_CHUNK)
    plan = replace(made.plan, extra={**made.plan.extra, "chunk_size": size})
    outcome = apply(chosen, plan, budget=0.0)
    assert outcome.result is not None
    chunks = [p.name for p in run_phases(plan) if p.is_chunk]
    return {"status": "paused", "run_id": outcome.result.run_id, "wake_in": 0.0, "chunks": chunks, **published}


def _publish_drift(chosen: Settings, made: ManifestPlan, topic: str) -> dict[str, Any]:
    """The drift the plan found, published to ``topic`` (the scheduled reconcile's ``drift_topic``) as
    ``amishare.drift/1``, before the run converges it; nothing when there is none or no topic."""
    if not topic or not made.drift:
        return {}
    resolved = [made.facts.resolutions[f].describe() for f in sorted(made.facts.resolutions)]
    document = drift_json(made.manifest.path, resolved, made.drift)
    subject = f"amishare: {len(made.drift)} drift finding(s) in {Path(made.manifest.path).name}"
    try:
        notify.send(chosen.sessions(), {"sns": topic}, subject, json.dumps(document, indent=2))
    except AmiShareError as exc:  # reported, not raised: the run converges the drift anyway
        return {"drift": len(made.drift), "drift_error": str(exc)}
    return {"drift": len(made.drift), "drift_published": topic}


def _concerned(chosen: Settings, request: dict[str, Any]) -> tuple[str, ...] | None:
    """The families an event names (``parameter``: a Parameter Store Change; ``image`` + ``region``: an AMI State
    Change), or None when the request is not an event's (a schedule, a person: ``family`` or every family)."""
    if not (request.get("parameter") or request.get("image")):
        return None
    manifest = load_manifest(str(request["manifest"]), chosen.config, known_regions())
    if request.get("parameter"):
        return families_for_parameter(manifest, str(request["parameter"]))
    region = str(request.get("region") or chosen.connection.region)
    seen = event_image(chosen.sessions(), region, str(request["image"]))
    return () if seen is None else families_for_image(manifest, seen)


def _slice(chosen: Settings, request: dict[str, Any]) -> dict[str, Any]:
    run_id, phase = str(request["run_id"]), request.get("phase")
    iteration = int(request.get("iteration") or 0) + 1
    budget = float(request.get("budget") or DEFAULT_BUDGET)
    share_kms_quota(float(request.get("kms_share") or 1.0))  # chunks run at once: each its part of the quotas
    answer = {"run_id": run_id, "phase": phase, "iteration": iteration, "hand_over": iteration >= LOOP_LIMIT}
    try:
        part = EngineSlice(str(phase) if phase else None, IDLE_EXIT)
        outcome = resume(chosen, run_id, budget=budget, engine=part)
    except RunBusy as exc:
        return {**answer, "status": "busy", "wake_in": BUSY_WAIT, "wait_seconds": int(BUSY_WAIT), "detail": str(exc)}
    result = outcome.result
    assert result is not None
    if result.paused:
        wake = result.wake_in or 0.0
        return {**answer, "status": "paused", "wake_in": wake, "wait_seconds": math.ceil(wake)}
    status = "done" if phase else result.status
    finished = {"status": status, "outcome": result.status, "wake_in": 0.0, "wait_seconds": 0, "hand_over": False}
    return {**answer, **finished}


def _left(chosen: Settings, request: dict[str, Any]) -> dict[str, Any]:
    log = chosen.journal()
    try:
        record = log.run(str(request["run_id"]))
    finally:
        log.close()
    states = {a.key: a.state for a in record.actions}
    phases = run_phases(Plan.from_dict(record.plan))
    left = [p.name for p in phases if p.is_chunk and any(states.get(k) not in FINISHED for k in p.keys)]
    return {"run_id": record.run_id, "chunks": left}


def _report(chosen: Settings, request: dict[str, Any]) -> dict[str, Any]:
    run_id = str(request["run_id"])
    log = chosen.journal()
    try:
        record = log.run(run_id)
        plan = Plan.from_dict(record.plan)
        results = tuple(ActionResult(a.key, a.state, a.output, a.error) for a in record.actions)
        unfinished = [r.key for r in results if r.state not in FINISHED]
        result = RunResult(run_id, plan, results)
        verdict = "unfinished" if unfinished else result.status
        log.resume(run_id, [])
        log.finish(run_id, "paused" if unfinished else verdict, now_utc())
    finally:
        log.close()
    counts: dict[str, int] = {}
    for item in results:
        counts[item.state] = counts.get(item.state, 0) + 1
    if unfinished:
        return {"run_id": run_id, "status": verdict, "counts": counts, "unfinished": unfinished[:20]}
    sent = with_notifications(chosen.sessions(), Outcome(plan, result))
    answer = {"run_id": run_id, "status": verdict, "counts": counts, "notified": list(sent.notified)}
    return answer if sent.notify_error is None else {**answer, "notify_error": sent.notify_error}


def successor_name(execution: str) -> str:
    """The name of the execution that takes over from ``execution``: ``-h<n+1>`` after its own ``-h<n>``, at most
    80 characters (Step Functions' limit), the count kept."""
    found = re.fullmatch(r"(.*)-h(\d+)", execution)
    base, count = (found.group(1), int(found.group(2))) if found else (execution, 0)
    suffix = f"-h{count + 1}"
    return base[: 80 - len(suffix)] + suffix


def _hand_over(chosen: Settings, request: dict[str, Any]) -> dict[str, Any]:
    """Start the successor execution (same state machine, the run's id in its input: it skips planning)."""
    name = successor_name(str(request["execution"]))
    started = start_execution(chosen.sessions(), str(request["state_machine"]), name, dict(request["input"]))
    return {"execution": started, "name": name, "duplicate": started is None}


def _journal_call(chosen: Settings, call: Callable[[DynamoJournal], str | None]) -> str | None:
    log = chosen.journal()
    try:
        assert isinstance(log, DynamoJournal)  # handle() checked the journal is a table
        return call(log)
    finally:
        log.close()


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """AWS Lambda's entry point (``amishare.api.runner.lambda_handler``)."""
    return handle(event)
