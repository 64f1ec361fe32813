"""The executor, table-driven on the serial walker (no threads, no AWS, a fake clock)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from amishare.engine.action import Action
from amishare.engine.executor import ActionResult, RunLog, RunOptions, RunResult, apply
from amishare.engine.kinds.copies import AwaitImage
from amishare.engine.kinds.gates import ShareImage
from amishare.engine.partition import Phase
from amishare.engine.plan import Plan
from amishare.engine.steps import Done, Failed, InProgress, StepContext, StepResult, Timers
from amishare.errors import UsageError


@dataclass
class Clock:
    now: float = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


Script = Callable[[StepContext, "FakeSteps"], StepResult]


@dataclass
class FakeSteps:
    """Each action's passes follow a script; every pass is recorded as (key, attempt, time)."""

    scripts: dict[str, Script]
    clock: Clock
    passes: list[tuple[str, int, float]] = field(default_factory=list)
    timers: Timers | None = None
    setup: Callable[[FakeSteps], None] | None = None

    def begin(self, plan: Plan, timers: Timers, finished: frozenset[str]) -> None:
        self.timers = timers
        if self.setup is not None:
            self.setup(self)

    def step(self, action: Action, context: StepContext) -> StepResult:
        self.passes.append((action.key, context.attempt, self.clock.now))
        return self.scripts.get(action.key, lambda c, s: Done())(context, self)

    def cancel(self) -> None:
        pass


def _share(key: str, depends_on: tuple[str, ...] = (), after: tuple[str, ...] = ()) -> Action:
    return ShareImage(
        key=key,
        account="111111111111",
        region="us-east-1",
        image="ami-12345678",
        accounts=("2" * 12,),
        depends_on=depends_on,
        after=after,
    )


def _plan(*actions: Action) -> Plan:
    return Plan("share", "111111111111", "us-east-1", "ami-12345678", (), tuple(actions), "ami-12345678")


def _run(plan: Plan, steps: FakeSteps, done: dict[str, ActionResult] | None = None) -> dict[str, ActionResult]:
    result = apply(
        plan,
        steps,
        RunLog(),
        "run-1",
        options=RunOptions(max_workers=0, monotonic=steps.clock.monotonic, sleep=steps.clock.sleep),
        done=done,
    )
    return {r.key: r for r in result.results}


def _fail(reason: str) -> Script:
    return lambda c, s: Failed(reason)


def _after(seconds: float, passes: int) -> Script:
    """InProgress(seconds) until the ``passes``-th pass."""
    return lambda c, s: Done({"passes": c.attempt}) if c.attempt >= passes else InProgress(seconds)


CASES: list[tuple[str, list[Action], dict[str, Script], dict[str, str], list[str]]] = [
    # id, actions, scripts, expected states, expected order of first passes
    (
        "chain",
        [_share("a"), _share("b", ("a",)), _share("c", ("b",))],
        {},
        {"a": "succeeded", "b": "succeeded", "c": "succeeded"},
        ["a", "b", "c"],
    ),
    (
        "failure skips dependents",
        [_share("a"), _share("b", ("a",)), _share("c", ("b",))],
        {"a": _fail("no")},
        {"a": "failed", "b": "skipped", "c": "skipped"},
        ["a"],
    ),
    (
        "after runs whatever the outcome",
        [_share("a"), _share("b", (), ("a",)), _share("c", ("a",))],
        {"a": _fail("no")},
        {"a": "failed", "b": "succeeded", "c": "skipped"},
        ["a", "b"],
    ),
    (
        "independent branch goes on",
        [_share("a"), _share("b"), _share("c", ("b",))],
        {"a": _fail("no")},
        {"a": "failed", "b": "succeeded", "c": "succeeded"},
        ["a", "b", "c"],
    ),
    ("unknown dependency is a planner bug", [_share("a", ("nowhere",))], {}, {"a": "skipped"}, []),
    (
        "in progress is looked at again",
        [_share("a"), _share("b", ("a",))],
        {"a": _after(5.0, 3)},
        {"a": "succeeded", "b": "succeeded"},
        ["a", "b"],
    ),
]


@pytest.mark.parametrize(("actions", "scripts", "states", "order"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_executor(actions: list[Action], scripts: dict[str, Script], states: dict[str, str], order: list[str]) -> None:
    steps = FakeSteps(scripts, Clock())
    results = _run(_plan(*actions), steps)
    assert {k: r.state for k, r in results.items()} == states
    assert [k for k, attempt, _ in steps.passes if attempt == 1] == order


def test_a_step_in_progress_holds_nothing_and_comes_back_after_its_delay() -> None:
    clock = Clock()
    steps = FakeSteps({"a": _after(5.0, 3)}, clock)
    results = _run(_plan(_share("a")), steps)
    assert [(attempt, at) for _, attempt, at in steps.passes] == [(1, 0.0), (2, 5.0), (3, 10.0)]
    assert results["a"].output == {"passes": 3}


def test_a_parked_step_runs_again_when_woken() -> None:
    clock = Clock()

    def parked(context: StepContext, steps: FakeSteps) -> StepResult:
        return Done({"woken": True}) if context.state.get("asked") else InProgress(None, {"asked": True})

    def setup(steps: FakeSteps) -> None:  # a background task (a poll tick) wakes it 2 s later
        assert steps.timers is not None
        timers = steps.timers
        timers.call_later(2.0, lambda: timers.wake("wait"))

    wait = AwaitImage(key="wait", account="111111111111", region="us-east-1", image="ami-12345678")
    steps = FakeSteps({"wait": parked}, clock, setup=setup)
    results = _run(_plan(wait, _share("then", ("wait",))), steps)
    assert results["wait"].state == "succeeded" and results["then"].state == "succeeded"
    assert [(k, a, t) for k, a, t in steps.passes] == [("wait", 1, 0.0), ("wait", 2, 2.0), ("then", 1, 2.0)]


def test_the_run_ends_with_its_last_action_not_with_leftover_timers() -> None:
    clock = Clock()
    ran: list[float] = []

    def setup(steps: FakeSteps) -> None:  # a poll tick or a batch window due long after the work is done
        assert steps.timers is not None
        steps.timers.call_later(60.0, lambda: ran.append(clock.now))

    results = _run(_plan(_share("a")), FakeSteps({}, clock, setup=setup))
    assert results["a"].state == "succeeded"
    assert clock.now == 0.0 and ran == []


def test_a_step_nothing_can_wake_fails_instead_of_hanging() -> None:
    steps = FakeSteps({"a": lambda c, s: InProgress(None)}, Clock())
    results = _run(_plan(_share("a"), _share("b", ("a",))), steps)
    assert results["a"].state == "failed" and "nothing left to wake it" in (results["a"].error or "")
    assert results["b"].state == "skipped"


def test_resume_runs_only_what_did_not_succeed() -> None:
    steps = FakeSteps({}, Clock())
    done = {"a": ActionResult("a", "succeeded", {"image_id": "ami-87654321"})}
    results = _run(_plan(_share("a"), _share("b", ("a",))), steps, done)
    assert [k for k, _, _ in steps.passes] == ["b"]
    assert results["a"].output == {"image_id": "ami-87654321"}


def test_references_are_resolved_from_outputs_before_a_pass() -> None:
    seen: list[Any] = []

    def record(context: StepContext, steps: FakeSteps) -> StepResult:
        return Done()

    class Recording(FakeSteps):
        def step(self, action: Action, context: StepContext) -> StepResult:
            seen.append(getattr(action, "image", None))
            return super().step(action, context)

    first = _share("make")
    then = ShareImage(key="use", account="111111111111", region="us-east-1", image="@make", depends_on=("make",))
    steps = Recording({"make": lambda c, s: Done({"image_id": "ami-0000000a"}), "use": record}, Clock())
    _run(_plan(first, then), steps)
    assert seen == ["ami-12345678", "ami-0000000a"]


def test_an_unresolvable_reference_fails_the_action() -> None:
    then = ShareImage(key="use", account="111111111111", region="us-east-1", image="@make", after=("make",))
    steps = FakeSteps({"make": lambda c, s: Done({})}, Clock())
    results = _run(_plan(_share("make"), then), steps)
    assert results["use"].state == "failed" and "make produced no image" in (results["use"].error or "")


def test_a_handler_exception_fails_only_its_action() -> None:
    def boom(context: StepContext, steps: FakeSteps) -> StepResult:
        raise RuntimeError("bug")

    steps = FakeSteps({"a": boom}, Clock())
    results = _run(_plan(_share("a"), _share("b")), steps)
    assert results["a"].state == "failed" and "RuntimeError: bug" in (results["a"].error or "")
    assert results["b"].state == "succeeded"


# ------------------------------------------------------------------ slices
def _slice(plan: Plan, steps: FakeSteps, deadline: float, done: dict[str, ActionResult] | None = None) -> Any:
    options = RunOptions(max_workers=0, monotonic=steps.clock.monotonic, sleep=steps.clock.sleep, deadline=deadline)
    return apply(plan, steps, RunLog(), "run-1", options=options, done=done)


def test_a_slice_pauses_at_its_deadline_and_the_next_one_finishes_the_run() -> None:
    clock = Clock()
    plan = _plan(_share("copy"), _share("wait", ("copy",)), _share("after", ("wait",)))
    # the copy is available at 30 on the clock: a wait looks every 10 s (as a poll would, whatever process runs it)
    steps = FakeSteps({"wait": lambda c, s: Done() if s.clock.now >= 30 else InProgress(10.0)}, clock)
    first = _slice(plan, steps, deadline=15.0)
    assert first.status == "paused" and first.paused
    states = {r.key: r.state for r in first.results}
    assert states == {"copy": "succeeded", "wait": "pending", "after": "pending"}
    assert [p[0] for p in steps.passes] == ["copy", "wait", "wait"]  # at 0 and 10; the pass due at 20 is not run
    assert first.wake_in == pytest.approx(5.0)  # the next look is due at 20
    clock.now += first.wake_in  # the state machine waits that long
    done = {r.key: r for r in first.results if r.state == "succeeded"}
    second = _slice(plan, steps, deadline=clock.now + 100.0, done=done)
    assert second.status == "succeeded" and not second.paused
    assert [(p[0], p[2]) for p in steps.passes][3:] == [("wait", 20.0), ("wait", 30.0), ("after", 30.0)]


def test_a_slice_with_time_to_spare_is_a_whole_run() -> None:
    steps = FakeSteps({}, Clock())
    result = _slice(_plan(_share("a"), _share("b", ("a",))), steps, deadline=60.0)
    assert result.status == "succeeded" and result.wake_in is None


def test_a_slice_past_its_deadline_starts_nothing() -> None:
    steps = FakeSteps({}, Clock(now=100.0))
    result = _slice(_plan(_share("a")), steps, deadline=50.0)
    assert result.paused and steps.passes == [] and result.wake_in == 0.0


@pytest.mark.parametrize(("recheck", "paused_at", "passes"), [(120.0, 0.0, 1), (30.0, 600.0, 20)])
def test_a_slice_with_nothing_due_for_over_a_minute_pauses_at_once(recheck: float, paused_at: float, passes: int) -> None:  # noqa: E501
    """A wait of hours is the state machine's (a Wait state costs nothing), not a slice's asleep: with idle_exit, a
    slice whose next look is more than that away pauses at once; looks closer together keep it going."""
    clock = Clock()
    plan = _plan(_share("wait"))
    steps = FakeSteps({"wait": lambda c, s: InProgress(recheck)}, clock)
    options = RunOptions(
        max_workers=0, monotonic=clock.monotonic, sleep=clock.sleep, deadline=600.0, idle_exit=60.0
    )
    result = apply(plan, steps, RunLog(), "run-1", options=options)
    assert result.paused and clock.now == paused_at and len(steps.passes) == passes
    assert result.wake_in == pytest.approx(recheck if recheck > 60 else 0.0, abs=30.0)


# ------------------------------------------------------------------ redo
def _copy_then_wait(refusals: int) -> tuple[Plan, FakeSteps]:
    """A copy and its wait: the wait finds the copy refused ``refusals`` times, asking each time for it again."""
    plan = _plan(_share("copy"), _share("wait", ("copy",)), _share("use", ("wait",)))

    def copy(context: StepContext, steps: FakeSteps) -> StepResult:
        return Done({"image_id": f"ami-{context.generation}", **({"again": True} if context.generation else {})})

    def wait(context: StepContext, steps: FakeSteps) -> StepResult:
        made = sum(1 for key, _, _ in steps.passes if key == "copy")
        return Done() if made > refusals else Failed("key refused", redo="copy", redo_after=5.0)

    return plan, FakeSteps({"copy": copy, "wait": wait}, Clock())


@pytest.mark.parametrize(("refusals", "state", "copies"), [(0, "succeeded", 1), (2, "succeeded", 3), (9, "failed", 6)])
def test_a_wait_may_have_its_copy_done_again_a_bounded_number_of_times(refusals: int, state: str, copies: int) -> None:
    plan, steps = _copy_then_wait(refusals)
    results = _run(plan, steps)
    assert results["wait"].state == state and [k for k, _, _ in steps.passes].count("copy") == copies
    if refusals:
        redone = [t for k, _, t in steps.passes if k == "copy"][1:]
        assert redone[:2] == [5.0, 15.0]  # 5 s, then 10 s more: doubled each time
    if state == "succeeded":
        assert results["copy"].output == {"image_id": f"ami-{refusals}", **({"again": True} if refusals else {})}
        assert results["use"].state == "succeeded"
    else:
        assert results["use"].state == "skipped"


def test_a_redo_of_an_action_something_else_already_used_is_refused() -> None:
    plan = _plan(_share("copy"), _share("tag", ("copy",)), _share("wait", ("copy",), after=("tag",)))
    steps = FakeSteps({"wait": lambda c, s: Failed("key refused", redo="copy")}, Clock())
    results = _run(plan, steps)
    assert results["wait"].state == "failed" and [k for k, _, _ in steps.passes].count("copy") == 1


# ------------------------------------------------------------------ phases
def _phase_run(plan: Plan, steps: FakeSteps, phase: Phase, done: dict[str, ActionResult]) -> RunResult:
    options = RunOptions(max_workers=0, monotonic=steps.clock.monotonic, sleep=steps.clock.sleep, phase=phase)
    return apply(plan, steps, RunLog(), "run-1", options=options, done=done)


def test_a_phase_drives_only_its_own_actions_and_its_status_is_its_own() -> None:
    plan = _plan(_share("prep"), _share("a", ("prep",)), _share("b", ("prep",)), _share("end", after=("a", "b")))
    steps = FakeSteps({"b": _fail("no key")}, Clock())
    prepared = {"prep": ActionResult("prep", "succeeded")}
    chunk_a = _phase_run(plan, steps, Phase("chunk:r:0", ("a",)), prepared)
    assert [p[0] for p in steps.passes] == ["a"]
    assert chunk_a.status == "succeeded" and not chunk_a.paused  # the phase's own: b and end are not its
    assert {r.key: r.state for r in chunk_a.results} == {
        "prep": "succeeded",
        "a": "succeeded",
        "b": "pending",
        "end": "pending",
    }
    chunk_b = _phase_run(plan, steps, Phase("chunk:r:1", ("b",)), prepared)
    assert chunk_b.status == "failed"
    finished = {r.key: r for r in (*chunk_a.results, *chunk_b.results) if r.state in ("succeeded", "failed")}
    assert _phase_run(plan, steps, Phase("finish", ("end",)), finished).status == "succeeded"


def test_a_phase_after_an_earlier_phase_that_failed_skips_what_waited_for_it_and_ends() -> None:
    plan = _plan(_share("prep"), _share("a", ("prep",)), _share("b"))
    steps = FakeSteps({}, Clock())
    failed = {"prep": ActionResult("prep", "failed", error="no key")}
    result = _phase_run(plan, steps, Phase("chunk:r:0", ("a", "b")), failed)
    assert not result.paused and {r.key: r.state for r in result.results} == {
        "prep": "failed",
        "a": "skipped",
        "b": "succeeded",
    }
    assert [p[0] for p in steps.passes] == ["b"]


def test_a_phase_whose_earlier_phase_has_not_finished_is_refused_before_anything_runs() -> None:
    plan = _plan(_share("prep"), _share("a", ("prep",)))
    steps = FakeSteps({}, Clock())
    with pytest.raises(UsageError, match="phase chunk:r:0 waits for prep, of an earlier phase that has not finished"):
        _phase_run(plan, steps, Phase("chunk:r:0", ("a",)), {})
    with pytest.raises(UsageError, match="only a recorded run is driven one phase at a time"):
        apply(plan, steps, RunLog(), "run-1", options=RunOptions(max_workers=0, phase=Phase("prepare", ("prep",))))
    assert steps.passes == []


@pytest.mark.parametrize("close_after", [0.0, 0.01, 0.05, 0.15])
def test_a_journal_writer_closed_at_any_moment_stops_at_once(close_after: float) -> None:
    """Closed while it waits, gathers a batch or writes one, the background writer stops without waiting out its
    join timeout (a Ctrl-C took 5 s more when a close landed between its wake-up and its clear)."""
    import time

    from amishare.engine.flusher import Flusher

    def write() -> None:
        time.sleep(0.05)  # a batch being written

    flusher = Flusher(write, interval=0.02)
    flusher.poke()
    time.sleep(close_after)
    started = time.monotonic()
    flusher.close()
    assert time.monotonic() - started < 0.5
