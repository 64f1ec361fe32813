"""The serverless runner's entry (issue 18): what the engine's Lambda function does when the state machine calls
it, runnable in any process (the tests call it in-process against the local AWS).

Two requests, each a JSON object:

- ``{"action": "plan", "manifest": PATH, "family": NAME, "trigger": ID}``: plan the family (an empty plan ends
  there: ``{"status": "nothing-to-do"}``), record the run in the journal without applying anything, and answer
  ``{"status": "paused", "run_id": ..., "wake_in": 0}``. A trigger seen before (EventBridge delivers at least
  once) answers the run it started: one run per event.
- ``{"action": "slice", "run_id": ID, "budget": SECONDS}``: one slice of the run (``api.resume`` with a budget):
  ``{"status": "paused" | "succeeded" | "partial" | "failed", "run_id": ..., "wake_in": SECONDS | null}``.

The journal must be one every runner sees (``journal = "dynamodb://TABLE"``); the settings come from the
environment and the config file the function is deployed with (``AMISHARE_CONFIG``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from amishare.api.context import Flags, Settings, settings
from amishare.api.converge import ConvergeRequest, plan_manifest
from amishare.api.execute import apply
from amishare.api.handover import resume
from amishare.aws.dynamodb_journal import DynamoJournal
from amishare.errors import UsageError

DEFAULT_BUDGET = 600.0  # seconds of a slice when the request names none (Lambda allows 900 per invocation)


def handle(request: dict[str, Any], current: Settings | None = None) -> dict[str, Any]:
    """Serve one request of the state machine (module docstring)."""
    chosen = current or settings(Flags(config_path=os.environ.get("AMISHARE_CONFIG")), cwd=Path.cwd())
    if not chosen.journal_url:
        raise UsageError(
            'the serverless runner needs a journal every runner sees: set journal = "dynamodb://TABLE" '
            "under [defaults] (or AMISHARE_JOURNAL)"
        )
    action = request.get("action")
    if action == "plan":
        return _plan(chosen, request)
    if action == "slice":
        outcome = resume(chosen, str(request["run_id"]), budget=float(request.get("budget") or DEFAULT_BUDGET))
        assert outcome.result is not None
        return {"status": outcome.result.status, "run_id": outcome.result.run_id, "wake_in": outcome.result.wake_in}
    raise UsageError(f"unknown request {action!r}: the runner serves 'plan' and 'slice'")


def _plan(chosen: Settings, request: dict[str, Any]) -> dict[str, Any]:
    trigger = str(request.get("trigger") or "")
    if trigger:
        seen = _journal_call(chosen, lambda log: log.claim_trigger(trigger))
        if seen is not None:  # delivered before: its run (or "" while that plan is still being made)
            return {"status": "duplicate", "run_id": seen or None, "wake_in": None}
    made = plan_manifest(chosen, ConvergeRequest(str(request["manifest"]), request.get("family")))
    run_id = None
    if made.plan.actions:
        outcome = apply(chosen, made.plan, budget=0.0)  # recorded, nothing applied: the slices apply it
        assert outcome.result is not None
        run_id = outcome.result.run_id
    if trigger:
        _journal_call(chosen, lambda log: log.record_trigger(trigger, run_id or ""))
    if run_id is None:
        return {"status": "nothing-to-do", "run_id": None, "wake_in": None}
    return {"status": "paused", "run_id": run_id, "wake_in": 0.0}


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
