"""The journal's runs, as text or as JSON documents (``amishare.runs/1``): the list, and one run action by action."""

from __future__ import annotations

import datetime as dt
from typing import Any

from amishare.engine.journal import RunRecord

RUNS_SCHEMA = "amishare.runs/1"


def runs_text(runs: list[RunRecord]) -> str:
    """The recorded runs, one line each."""
    if not runs:
        return "No runs recorded yet."
    lines = [f"{'run':<24} {'command':<8} {'status':<12} {'image':<22} {'account':<13} region"]
    lines += [f"{r.run_id:<24} {r.command:<8} {r.status:<12} {r.image_id:<22} {r.account:<13} {r.region}" for r in runs]
    return "\n".join(lines)


def run_text(run: RunRecord) -> str:
    """One run: each action's state, summary, error and plain outputs."""
    lines = [
        f"run {run.run_id}: {run.command} {run.image_id} in {run.account} {run.region}: {run.status}",
        f"  started {utc(run.created_at)}" + (f", finished {utc(run.finished_at)}" if run.finished_at else ""),
    ]
    summaries = {a["key"]: a["summary"] for a in run.plan.get("actions", [])}
    for action in run.actions:
        lines.append(f"  {action.state:<10} {action.kind}: {summaries.get(action.key, action.key)}")
        if action.error:
            lines.append(f"             {action.error}")
        if action.output:
            shown = ", ".join(
                f"{k}={_value(k, v)}" for k, v in sorted(action.output.items()) if not isinstance(v, list | dict)
            )
            if shown:
                lines.append(f"             {shown}")
    return "\n".join(lines)


def utc(moment: str | float) -> str:
    """A moment as ISO 8601 in UTC to the second (``2026-11-22T11:42:29Z``): from the journal's ISO text (any
    offset) or from seconds since the epoch; text that is neither is shown as it is."""
    try:
        when = (
            dt.datetime.fromtimestamp(moment, dt.UTC)
            if isinstance(moment, int | float)
            else dt.datetime.fromisoformat(moment.replace("Z", "+00:00"))
        )
    except (ValueError, OverflowError, OSError):
        return str(moment)
    when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _value(key: str, value: Any) -> str:
    """An action's output value as a person reads it: a moment (``*_at``, ``*_since``) in UTC, seconds rounded."""
    if key.endswith(("_at", "_since")) and not isinstance(value, bool) and isinstance(value, int | float | str):
        return utc(value)
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def runs_json(runs: list[RunRecord]) -> dict[str, Any]:
    """``amishare.runs/1``: the recorded runs."""
    return {"schema": RUNS_SCHEMA, "runs": [_run_dict(r) for r in runs]}


def run_json(run: RunRecord) -> dict[str, Any]:
    """``amishare.runs/1`` with one run."""
    return {"schema": RUNS_SCHEMA, "runs": [_run_dict(run)]}


def _run_dict(run: RunRecord) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "command": run.command,
        "account": run.account,
        "region": run.region,
        "image_id": run.image_id,
        "status": run.status,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
        "plan": run.plan,
        "actions": [
            {
                "key": a.key,
                "kind": a.kind,
                "state": a.state,
                "started_at": a.started_at,
                "finished_at": a.finished_at,
                "error": a.error,
                "output": a.output,
            }
            for a in run.actions
        ],
    }
