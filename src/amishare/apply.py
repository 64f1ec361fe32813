"""The executor: runs a plan's actions with bounded concurrency, in dependency order, journaled.

One failing action does not stop the others; actions that depend on it are skipped with the
reason. Each state change is written to the journal before the next call to AWS. The
library prints nothing: progress goes to an optional ``on_event`` callback.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from amishare.actions import WAITING_KINDS, Action, Plan
from amishare.errors import AmiShareError
from amishare.journal import Journal


class Runner(Protocol):
    """Performs one action against AWS and returns its outputs (``image_id`` for images)."""

    def run(self, action: Action, params: dict[str, Any], run_id: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ActionResult:
    key: str
    state: str  # "succeeded", "failed", "skipped"
    output: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "state": self.state, "output": self.output, "error": self.error}


@dataclass(frozen=True)
class RunResult:
    run_id: str
    plan: Plan
    results: tuple[ActionResult, ...]

    @property
    def status(self) -> str:
        states = {r.state for r in self.results}
        if states <= {"succeeded"}:
            return "succeeded"
        if "succeeded" in states:
            return "partial"
        return "failed"

    @property
    def failures(self) -> tuple[ActionResult, ...]:
        return tuple(r for r in self.results if r.state == "failed")

    def output(self, key: str) -> dict[str, Any]:
        for result in self.results:
            if result.key == key:
                return result.output
        return {}

    @property
    def subject_image(self) -> str | None:
        """The image that was shared or revoked (the re-encrypted copy's id once it exists)."""
        subject = self.plan.subject
        if subject.startswith("@"):
            return self.output(subject[1:]).get("image_id")
        return subject

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "subject_image": self.subject_image,
            "results": [r.to_dict() for r in self.results],
        }


Event = Callable[[Action, str, str | None], None]  # (action, state, detail)


def resolve(params: Any, outputs: dict[str, dict[str, Any]]) -> Any:
    """Replace ``"@<action key>"`` references by the image id that action produced, and
    ``"@<action key>#<field>"`` by another of its outputs."""
    if isinstance(params, str) and params.startswith("@"):
        key, _, name = params[1:].partition("#")
        if key in outputs:
            return outputs[key].get(name or "image_id")
    if isinstance(params, dict):
        return {k: resolve(v, outputs) for k, v in params.items()}
    if isinstance(params, list):
        return [resolve(v, outputs) for v in params]
    return params


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def apply(
    plan: Plan,
    runner: Runner,
    journal: Journal,
    run_id: str,
    *,
    max_workers: int = 8,
    on_event: Event | None = None,
    clock: Callable[[], dt.datetime] = now_utc,
    done: dict[str, ActionResult] | None = None,
) -> RunResult:
    """Run ``plan``: each action once its dependencies succeeded (and its ``after`` actions finished).

    API actions run at most ``max_workers`` at a time; actions that mostly wait (``WAITING_KINDS``)
    run beside them. ``done`` holds the results of a previous attempt of the same run (resume):
    those actions are not run again.
    """
    results: dict[str, ActionResult] = dict(done or {})
    if done is None:
        journal.start(run_id, plan, clock())
    else:
        journal.resume(run_id, [a.key for a in plan.actions if a.key not in results])
    outputs: dict[str, dict[str, Any]] = {k: r.output for k, r in results.items() if r.state == "succeeded"}
    running: dict[Future[dict[str, Any]], Action] = {}
    waiting = [a for a in plan.actions if a.key not in results]

    def notify(action: Action, state: str, detail: str | None = None) -> None:
        if on_event is not None:
            on_event(action, state, detail)

    def finish(action: Action, result: ActionResult) -> None:
        results[action.key] = result
        journal.action_finished(run_id, action, result.state, clock(), result.output, result.error)
        notify(action, result.state, result.error)

    calls = ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="amishare")
    waits = ThreadPoolExecutor(max_workers=512, thread_name_prefix="amishare-wait")
    try:
        while waiting or running:
            progressed = False
            for action in list(waiting):
                blocked = [d for d in action.depends_on if d in results and results[d].state != "succeeded"]
                if blocked:
                    waiting.remove(action)
                    finish(action, ActionResult(action.key, "skipped", error=f"skipped: {blocked[0]} did not succeed"))
                    progressed = True
                elif all(d in results for d in (*action.depends_on, *action.after)):
                    waiting.remove(action)
                    journal.action_started(run_id, action, clock())
                    notify(action, "running")
                    pool = waits if action.kind in WAITING_KINDS else calls
                    running[pool.submit(runner.run, action, resolve(action.params, outputs), run_id)] = action
                    progressed = True
            if not running:
                if waiting and not progressed:
                    for action in waiting:  # dependencies that are not in the plan: a planner bug
                        finish(action, ActionResult(action.key, "skipped", error="skipped: unknown dependency"))
                    waiting.clear()
                continue
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished:
                action = running.pop(future)
                try:
                    output = future.result()
                except AmiShareError as exc:
                    finish(action, ActionResult(action.key, "failed", error=str(exc)))
                except Exception as exc:  # the per-action boundary: one failure must not stop the others
                    finish(action, ActionResult(action.key, "failed", error=f"{type(exc).__name__}: {exc}"))
                else:
                    outputs[action.key] = output
                    finish(action, ActionResult(action.key, "succeeded", output=output))
    except BaseException:  # Ctrl-C (KeyboardInterrupt) included: leave a resumable run behind
        journal.finish(run_id, "interrupted", clock())
        cancel = getattr(runner, "cancel", None)
        if callable(cancel):
            cancel()  # release actions blocked in waits, so that the process can exit now
        calls.shutdown(wait=False, cancel_futures=True)
        waits.shutdown(wait=False, cancel_futures=True)
        raise
    calls.shutdown()
    waits.shutdown()
    result = RunResult(run_id, plan, tuple(results[a.key] for a in plan.actions))
    journal.finish(run_id, result.status, clock())
    return result
