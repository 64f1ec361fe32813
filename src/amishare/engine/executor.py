"""The executor: runs a plan's re-entrant steps, event-driven, journaled.

Scheduling is by dependency counters and a ready queue, never a rescan: each action counts the
actions it still waits for (``depends_on``: must succeed; ``after``: must finish, whatever their
outcome); a finished action decrements its dependents' counters, and those at zero become ready (or
are skipped, with the reason, when something they depend on did not succeed). Ready passes run on
``max_workers`` threads (``0``: a serial walker in the calling thread, for tests). A pass that
returns ``InProgress`` holds no thread: it is looked at again after its delay, or when a handler
wakes it (the image poller, a revocation batch). Handlers' background work (poll ticks, batches)
runs on the same workers through ``Timers.call_later``.

One failing action does not stop the others. The library prints nothing: progress goes to an
optional ``on_event`` callback. Every state change goes to the journal (``journal.RunLog``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import heapq
import itertools
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from amishare.engine.action import Action
from amishare.engine.partition import Phase, dependencies
from amishare.engine.plan import Plan
from amishare.engine.steps import Done, Failed, StepContext, StepResult, Steps
from amishare.errors import AmiShareError, RunInterrupted, UsageError

SUPERSEDED = "superseded"  # an action a later attempt of the same run replaced (planners/redo.py): not done, not failed
PENDING = "pending"  # an action a slice left for the next one (it has not finished yet)
MAX_REDOS = 5  # times one action is done again at a later action's request (``Failed.redo``)
REDO_DELAY_MAX = 60.0  # seconds: a redo waits ``redo_after``, doubled each time, at most this


@dataclass(frozen=True)
class ActionResult:
    """How one action of a run ended (``succeeded``, ``failed``, ``skipped``; ``interrupted`` when the run was)."""

    key: str
    state: str
    output: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "state": self.state, "output": self.output, "error": self.error}


@dataclass(frozen=True)
class RunResult:
    """A plan and how each of its actions ended."""

    run_id: str
    plan: Plan
    results: tuple[ActionResult, ...]
    wake_in: float | None = None  # a slice that reached its deadline: seconds until the next is worth running
    phase: Phase | None = None  # a slice of one phase (engine/partition.py): its status is the phase's

    @property
    def paused(self) -> bool:
        """Whether this was a slice that stopped at its deadline with actions still to do (``PENDING``)."""
        return self.wake_in is not None

    @property
    def status(self) -> str:
        if self.paused:
            return "paused"
        mine = set(self.phase.keys) if self.phase is not None else None
        states = {r.state for r in self.results if mine is None or r.key in mine} - {SUPERSEDED}
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
            "wake_in": self.wake_in,
            "subject_image": self.subject_image,
            "results": [r.to_dict() for r in self.results],
        }


# (action, state, detail): running, progress (detail: how far), succeeded (detail: the image it made, if any),
# failed (detail: the error), skipped, interrupted
Event = Callable[[Action, str, str | None], None]


class RunLog:
    """Where the executor records a run (``journal.Journal`` writes SQLite; this one keeps nothing)."""

    def start(self, run_id: str, plan: Plan, now: dt.datetime) -> None:
        """A new run of ``plan``."""

    def resume(self, run_id: str, keys: list[str], phase: Phase | None = None) -> None:
        """The run starts again (only ``phase`` of it, when given: its lease is the phase's); ``keys`` are the
        actions still to do."""

    def action_started(self, run_id: str, action: Action, now: dt.datetime) -> None:
        """The first pass of ``action`` begins."""

    def action_progress(self, run_id: str, action: Action, output: dict[str, Any]) -> None:
        """A pass of ``action`` returned ``InProgress`` with ``output``."""

    def action_finished(
        self,
        run_id: str,
        action: Action,
        state: str,
        now: dt.datetime,
        output: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """``action`` ended in ``state``."""

    def finish(self, run_id: str, status: str, now: dt.datetime, phase: Phase | None = None) -> None:
        """The run ended (or was interrupted); with ``phase``, that slice of one phase did (the run's own status is
        left alone: its phases may still run elsewhere)."""


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_Task = Callable[[], None]


class _Executor:
    """The event loop of one run: counters, ready queue, timers, workers (see the module docstring)."""

    def __init__(
        self,
        plan: Plan,
        steps: Steps,
        log: RunLog,
        run_id: str,
        results: dict[str, ActionResult],
        *,
        workers: int,
        on_event: Event | None,
        clock: Callable[[], dt.datetime],
        monotonic: Callable[[], float],
        sleep: Callable[[float], None],
        deadline: float | None = None,
        scope: frozenset[str] | None = None,
        idle_exit: float | None = None,
    ) -> None:
        self.plan, self.steps, self.log, self.run_id = plan, steps, log, run_id
        self.scope = scope  # the keys this run drives (a phase's); None: all
        self.idle_exit = idle_exit  # a slice with nothing to do for longer than this pauses at once
        self.deadline = deadline  # monotonic time after which no pass starts (a slice)
        self.stopping = False
        self.results = results
        self.workers = workers
        self.on_event, self.clock, self.monotonic, self.sleep = on_event, clock, monotonic, sleep
        self.actions = {a.key: a for a in plan.actions}
        self.outputs: dict[str, dict[str, Any]] = {k: r.output for k, r in results.items() if r.state == "succeeded"}
        self.remaining: dict[str, int] = {}
        self.dependents: dict[str, list[str]] = {}
        self.blocked: dict[str, str] = {}  # action -> the dependency that did not succeed
        self.ready: deque[str] = deque()
        self.timers: list[tuple[float, int, str, Any]] = []
        self.sequence = itertools.count()
        self.events: queue.SimpleQueue[tuple[str, Any, Any]] = queue.SimpleQueue()
        self.tasks: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        self.states: dict[str, dict[str, Any]] = {}  # the last InProgress output per action
        self.attempts: dict[str, int] = {}
        self.details: dict[str, str] = {}
        self.parked: set[str] = set()  # InProgress, waiting to be woken
        self.running: set[str] = set()
        self.woken: set[str] = set()  # woken while a pass was running
        self.in_flight = 0
        self.threads: list[threading.Thread] = []
        self.goal = len(self.actions)  # how many results end the run (build() counts a phase's)
        self.generations: dict[str, int] = {}  # action -> times done again at a later action's request

    # ------------------------------------------------------------------ Timers (any thread)
    def call_later(self, delay: float, task: _Task) -> None:
        self.events.put(("timer", self.monotonic() + max(0.0, delay), task))

    def wake(self, key: str) -> None:
        self.events.put(("wake", key, None))

    def now(self) -> float:
        return self.monotonic()

    # ------------------------------------------------------------------------- the graph
    def build(self) -> None:
        outside = 0
        for action in self.plan.actions:
            if action.key in self.results:
                continue
            if self.scope is not None and action.key not in self.scope:
                outside += 1  # another phase's: not driven here
                continue
            waiting_for = {*action.depends_on, *action.after}
            unknown = [d for d in waiting_for if d not in self.actions]
            if unknown:  # a planner bug: say so rather than hang
                self.results[action.key] = ActionResult(
                    action.key, "skipped", error=f"skipped: unknown dependency {unknown[0]}"
                )
                continue
            count = 0
            for dependency in waiting_for:
                finished = self.results.get(dependency)
                if finished is None:
                    self.dependents.setdefault(dependency, []).append(action.key)
                    count += 1
                elif finished.state != "succeeded" and dependency in action.depends_on:
                    self.blocked.setdefault(action.key, dependency)
            self.remaining[action.key] = count
        self.goal = len(self.actions) - outside
        for action in self.plan.actions:
            if self.remaining.get(action.key) == 0:
                self._become_ready(action.key)

    def _become_ready(self, key: str) -> None:
        if key in self.blocked:
            self._finish(key, ActionResult(key, "skipped", error=f"skipped: {self.blocked[key]} did not succeed"))
        else:
            self.ready.append(key)

    def _finish(self, key: str, result: ActionResult) -> None:
        self.results[key] = result
        self.states.pop(key, None)
        if result.state == "succeeded":
            self.outputs[key] = result.output
        action = self.actions[key]
        self.log.action_finished(self.run_id, action, result.state, self.clock(), result.output, result.error)
        # detail: the error of a failure; for a success, the image it made (a copy's id, as soon as AWS gives it)
        made = result.output.get("image_id") if result.state == "succeeded" else None
        self._notify(action, result.state, result.error if result.state != "succeeded" else made)
        for dependent in self.dependents.pop(key, ()):
            if result.state != "succeeded" and key in self.actions[dependent].depends_on:
                self.blocked.setdefault(dependent, key)
            self.remaining[dependent] -= 1
            if self.remaining[dependent] == 0:
                self._become_ready(dependent)

    def _notify(self, action: Action, state: str, detail: str | None) -> None:
        if self.on_event is not None:
            self.on_event(action, state, detail)

    # ---------------------------------------------------------------------------- passes
    def _pass(self, key: str) -> StepResult:
        action = self.actions[key].resolved(self.outputs)
        missing = action.unresolved()
        if missing is not None:
            return Failed(f"{missing} produced no image")
        attempt = self.attempts.get(key, 0) + 1
        self.attempts[key] = attempt
        context = StepContext(self.run_id, self, attempt, self.states.get(key, {}), self.generations.get(key, 0))
        try:
            return self.steps.step(action, context)
        except AmiShareError as exc:
            return Failed(str(exc))
        except Exception as exc:  # the per-action boundary: one failure must not stop the others
            return Failed(f"{type(exc).__name__}: {exc}")

    def _dispatch(self, key: str) -> None:
        action = self.actions[key]
        if key not in self.attempts:
            self.log.action_started(self.run_id, action, self.clock())
            self._notify(action, "running", None)
        self.running.add(key)
        self.in_flight += 1
        if self.workers == 0:
            self.events.put(("result", key, self._pass(key)))
        else:
            self.tasks.put(("step", key))

    def _run_task(self, task: _Task) -> None:
        self.in_flight += 1
        if self.workers == 0:
            self._guarded(task)
            self.events.put(("task", None, None))
        else:
            self.tasks.put(("task", task))

    @staticmethod
    def _guarded(task: _Task) -> None:
        try:
            task()
        except Exception:  # a background task reports through the steps it serves; never kill a worker
            return

    def _worker(self) -> None:
        while True:
            item = self.tasks.get()
            if item is None:
                return
            what, payload = item
            if what == "step":
                self.events.put(("result", payload, self._pass(payload)))
            else:
                self._guarded(payload)
                self.events.put(("task", None, None))

    # ----------------------------------------------------------------------------- events
    def _on_result(self, key: str, result: StepResult) -> None:
        self.running.discard(key)
        action = self.actions[key]
        if isinstance(result, Done):
            self._finish(key, ActionResult(key, "succeeded", output=result.output))
        elif isinstance(result, Failed) and result.redo is not None and self._redo(key, result):
            return
        elif isinstance(result, Failed):
            self._finish(key, ActionResult(key, "failed", output=self.states.get(key, {}), error=result.reason))
        else:
            if result.output != self.states.get(key):
                self.log.action_progress(self.run_id, action, result.output)
            self.states[key] = result.output
            if result.detail and result.detail != self.details.get(key):
                self.details[key] = result.detail
                self._notify(action, "progress", result.detail)
            if key in self.woken:
                self.woken.discard(key)
                self.ready.append(key)
            elif result.recheck_after is None:
                self.parked.add(key)
            else:
                self._push_timer(self.monotonic() + result.recheck_after, "step", key)

    def _redo(self, key: str, result: Failed) -> bool:
        """Run ``result.redo`` again, then ``key`` (``Failed.redo``); False when it cannot be: not a finished
        success ``key`` depends on, or something else already used what it made."""
        again = str(result.redo)
        finished = self.results.get(again)
        if self.generations.get(again, 0) >= MAX_REDOS:
            return False
        if again not in self.actions[key].depends_on or finished is None or finished.state != "succeeded":
            return False
        if any(d != key and d in self.results for d, a in self.actions.items() if again in {*a.depends_on, *a.after}):
            return False
        generation = self.generations.get(again, 0) + 1
        self.generations[again] = generation
        replaced = [*finished.output.get("replaced", []), finished.output.get("image_id")]
        del self.results[again]
        self.outputs.pop(again, None)
        self.states[again] = {"replaced": [r for r in replaced if r], "redo_reason": result.reason}
        self.attempts.pop(again, None)
        self.states.pop(key, None)
        self.attempts.pop(key, None)
        self.remaining[key] = 1
        self.dependents.setdefault(again, []).append(key)
        note = {"redo": again, "generation": generation, "reason": result.reason}
        self.log.action_progress(self.run_id, self.actions[key], note)
        self._notify(self.actions[key], "progress", f"{again} again ({generation}): {result.reason}")
        delay = min(REDO_DELAY_MAX, max(0.0, result.redo_after) * 2 ** (generation - 1))
        self._push_timer(self.monotonic() + delay, "step", again)
        return True

    def _push_timer(self, when: float, what: str, payload: Any) -> None:
        heapq.heappush(self.timers, (when, next(self.sequence), what, payload))

    def _on_event(self, what: str, first: Any, second: Any) -> None:
        if what == "result":
            self.in_flight -= 1
            self._on_result(first, second)
        elif what == "task":
            self.in_flight -= 1
        elif what == "timer":
            self._push_timer(first, "task", second)
        elif what == "wake":
            if first in self.parked:
                self.parked.discard(first)
                self.ready.append(first)
            elif first in self.running:
                self.woken.add(first)

    def _due_timers(self) -> None:
        now = self.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, _, what, payload = heapq.heappop(self.timers)
            if what == "step":
                if payload not in self.results:
                    self.ready.append(payload)
            else:
                self._run_task(payload)

    def _idle(self) -> bool:
        return not (self.ready or self.in_flight or self.timers)

    def loop(self) -> None:
        for _ in range(self.workers):
            thread = threading.Thread(target=self._worker, name="amishare-step", daemon=True)
            thread.start()
            self.threads.append(thread)
        while True:
            self.stopping = self.stopping or (self.deadline is not None and self.monotonic() >= self.deadline)
            while self.ready and not self.stopping:
                key = self.ready.popleft()
                if key not in self.results and key not in self.running:
                    self._dispatch(key)
            self._drain()
            if len(self.results) >= self.goal:  # timers left (a poll tick, a batch window) serve no one
                return
            if self.stopping and not self.in_flight:  # a slice's end: what runs has finished, the rest waits
                return
            if self._idle():
                if not self.parked:
                    return
                for key in sorted(self.parked):  # nothing can wake them any more: a handler bug, not a hang
                    self._finish(key, ActionResult(key, "failed", error="stopped waiting: nothing left to wake it"))
                self.parked.clear()
                continue
            if self._long_idle():  # a slice with nothing due for a while: the next slice takes it from there
                self.stopping = True
                continue
            self._wait()

    def _long_idle(self) -> bool:
        """Whether this slice has nothing to do for longer than ``idle_exit``: nothing ready or under way, and the
        next timer further off (a wait of hours is the state machine's, not a Lambda's asleep)."""
        if self.idle_exit is None or self.deadline is None or self.ready or self.in_flight or not self.timers:
            return False
        self._drain()
        return not (self.ready or self.in_flight) and self.timers[0][0] - self.monotonic() > self.idle_exit

    def _drain(self) -> None:
        while True:
            try:
                self._on_event(*self.events.get_nowait())
            except queue.Empty:
                return

    def wake_in(self) -> float:
        """After a slice: how long until something left is worth looking at again (0: something is ready)."""
        if self.ready or not self.timers:
            return 0.0
        return max(0.0, self.timers[0][0] - self.monotonic())

    def _wait(self) -> None:
        if self.ready and not self.stopping:
            return
        timeout = None if not self.timers else max(0.0, self.timers[0][0] - self.monotonic())
        if self.deadline is not None and not self.stopping:
            timeout = (
                max(0.0, self.deadline - self.monotonic())
                if timeout is None
                else min(timeout, max(0.0, self.deadline - self.monotonic()))
            )
        if self.workers == 0 and not self.in_flight:
            if timeout:
                self.sleep(timeout)  # the serial walker: nothing runs meanwhile
        else:
            with contextlib.suppress(queue.Empty):
                self._on_event(*self.events.get(timeout=timeout))
        if not self.stopping:  # a slice ending starts nothing new: its timers tell the next slice when to run
            self._due_timers()

    def stop(self) -> None:
        for _ in self.threads:
            self.tasks.put(None)


@dataclass(frozen=True)
class RunOptions:
    """How a run is driven: ``max_workers`` threads for passes (0: every pass in the calling thread, a serial
    walker), who hears its events, and its clocks (``sleep`` advances a test's fake ``monotonic``)."""

    max_workers: int = 8
    on_event: Event | None = None
    clock: Callable[[], dt.datetime] = now_utc
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    deadline: float | None = None  # a slice: no pass starts after this ``monotonic`` time; the run pauses
    budget: float | None = None  # a slice of this many seconds, counted once the run is recorded (not its set-up)
    phase: Phase | None = None  # drive only this phase of the run (its earlier phases finished: ``check_phase``)
    idle_exit: float | None = None  # a slice pauses early once nothing is due for longer than this (seconds)


def check_phase(plan: Plan, phase: Phase, finished: dict[str, ActionResult]) -> None:
    """Refuse to drive ``phase`` before what it waits for has finished (``UsageError``, before any lease or
    call): the phases of ``partition`` run in order (prepare, the chunks, finish)."""
    mine = set(phase.keys)
    unknown = sorted(mine - {a.key for a in plan.actions})
    if unknown:
        raise UsageError(f"phase {phase.name} names actions the run's plan does not have: {', '.join(unknown[:3])}")
    for action in plan.actions:
        if action.key not in mine:
            continue
        early = sorted(d for d in dependencies(action) if d not in mine and d not in finished)
        if early:
            raise UsageError(
                f"phase {phase.name} waits for {early[0]}, of an earlier phase that has not finished: drive the "
                "phases in order (prepare, the chunks, finish)"
            )


def apply(
    plan: Plan,
    steps: Steps,
    log: RunLog,
    run_id: str,
    *,
    options: RunOptions = RunOptions(),
    done: dict[str, ActionResult] | None = None,
) -> RunResult:
    """Run ``plan``: each action once what it depends on succeeded (and what it comes ``after`` finished).

    With ``options.deadline`` the run is a slice: no pass starts after it, the passes under way finish, and the
    result is ``paused`` (its unfinished actions ``pending``, ``wake_in`` saying when the next slice is worth
    running); everything is journaled, so the next slice, in any process, resumes it with ``done``. With
    ``options.phase`` (a resume) only that phase's actions are driven, under the phase's own lease, so phases
    of one run can be driven at once by different processes.

    ``done`` holds the results of a previous attempt of the same run (resume): those actions are not
    run again; every other action is (its steps re-read AWS, so nothing is assumed)."""
    clock, phase = options.clock, options.phase
    results: dict[str, ActionResult] = dict(done or {})
    scope = frozenset(phase.keys) if phase is not None else None
    if done is None:
        if phase is not None:
            raise UsageError("a run starts whole: only a recorded run is driven one phase at a time")
        log.start(run_id, plan, clock())
    else:
        if phase is not None:
            check_phase(plan, phase, results)
        todo = [a.key for a in plan.actions if a.key not in results and (scope is None or a.key in scope)]
        log.resume(run_id, todo, phase)
    executor = _Executor(
        plan,
        steps,
        log,
        run_id,
        results,
        workers=max(0, options.max_workers),
        on_event=options.on_event,
        clock=clock,
        monotonic=options.monotonic,
        sleep=options.sleep,
        deadline=options.deadline if options.budget is None else options.monotonic() + options.budget,
        scope=scope,
        idle_exit=options.idle_exit,
    )
    try:
        steps.begin(plan, executor, frozenset(results))
        executor.build()
        executor.loop()
    except BaseException as exc:  # Ctrl-C (KeyboardInterrupt) included: leave a resumable run behind
        steps.cancel()
        executor.stop()
        log.finish(run_id, "interrupted", clock(), phase)
        if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, RunInterrupted):
            raise RunInterrupted(run_id) from exc
        raise
    executor.stop()
    everything = tuple(results.get(a.key) or ActionResult(a.key, PENDING) for a in plan.actions)
    if len(results) < executor.goal:  # a slice reached its deadline: the next one continues (resume)
        steps.cancel()
        result = RunResult(run_id, plan, everything, wake_in=executor.wake_in(), phase=phase)
    else:
        result = RunResult(run_id, plan, everything, phase=phase)
    log.finish(run_id, result.status, clock(), phase)
    return result
