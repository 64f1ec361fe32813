"""Re-entrant steps: what one pass of an action returns, and what the executor offers a pass.

A step's handler is called once per pass. Each pass re-reads AWS and returns:

* ``Done(output)``: the action's effect holds (whether this pass made it, an earlier one did, or AWS
  already said so: "the policy already says this" is done);
* ``InProgress(recheck_after, output)``: not yet; look again after ``recheck_after`` seconds, or, with
  ``None``, when something wakes the step (the image poller, a revocation batch);
* ``Failed(reason)``: it cannot be done; dependents are skipped. With ``redo`` (the key of an action this one
  depends on, finished), what failed was that action's work, and doing it again may succeed (a copy refused
  because the key access granted to it had not yet reached every KMS host): the executor runs ``redo`` again
  after ``redo_after`` seconds, as a new attempt (``StepContext.generation``), then this action.

Nothing blocks: a copy of hours is many short passes, so a resumed step is checked, never assumed,
and a step is a natural unit for a serverless engine (one invocation per pass). Pure data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from amishare.engine.action import Action
from amishare.engine.plan import Plan


@dataclass(frozen=True)
class Done:
    """The action's effect holds."""

    output: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InProgress:
    """Not finished: look again after ``recheck_after`` seconds, or when woken (``None``)."""

    recheck_after: float | None = None
    output: dict[str, Any] = field(default_factory=dict)  # known so far (the next pass gets it back)
    detail: str = ""  # progress for humans, e.g. "42%"


@dataclass(frozen=True)
class Failed:
    """It cannot be done (the reason names what and why), unless ``redo`` is done again (module docstring)."""

    reason: str
    redo: str | None = None
    redo_after: float = 0.0


StepResult = Done | InProgress | Failed


class Timers(Protocol):
    """What the executor offers handlers that work in the background (pollers, batches)."""

    def call_later(self, delay: float, task: Callable[[], None]) -> None:
        """Run ``task`` on the executor's workers after ``delay`` seconds."""

    def wake(self, key: str) -> None:
        """Run another pass of the action ``key`` soon (it is waiting for something that happened)."""

    def now(self) -> float:
        """The executor's monotonic clock, in seconds."""


@dataclass(frozen=True)
class StepContext:
    """One pass of one action: its run, which pass this is, and what the previous pass knew."""

    run_id: str
    timers: Timers
    attempt: int = 1  # 1 for the first pass
    state: dict[str, Any] = field(default_factory=dict)  # the output of the previous InProgress
    generation: int = 0  # how many times the action was done again because a later one asked (``Failed.redo``)


class Steps(Protocol):
    """Carries out one pass of an action (for AWS: ``amishare.aws.steps.handlers.AwsSteps``)."""

    def begin(self, plan: Plan, timers: Timers, finished: frozenset[str]) -> None:
        """The run starts (or resumes): ``plan`` is what it runs; ``finished`` were done by an earlier attempt."""

    def step(self, action: Action, context: StepContext) -> StepResult:
        """One pass of ``action`` (its ``@key`` references resolved)."""

    def cancel(self) -> None:
        """The run is interrupted: stop background work (AWS goes on; ``resume`` picks it up)."""
