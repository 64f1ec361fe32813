"""A scripted stand-in for amishare's runner (api/runner.py), answering the engine's state machine from a script:
for the machine's control-flow tests and the engine benchmark, on moto in-process."""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from amishare.api.runner import successor_name

HOUR = 3600


@dataclass
class Runner:
    """The runner's requests answered from a script: how many slices each phase takes (each but the last asks to
    be woken in ``wake`` seconds), which slices crash, when a loop hands over, and the verdict."""

    slices: dict[str, int]
    wake: int = HOUR
    crash: set[tuple[str, int]] = field(default_factory=set)  # (phase, n-th slice of it) that raise
    hand_over_at: dict[str, int] = field(default_factory=dict)  # phase -> the loop's iteration that hands over
    verdict: str = "succeeded"
    plan_status: str = "paused"
    sfn: Any = None
    seen: Counter[str] = field(default_factory=Counter)
    requests: list[dict[str, Any]] = field(default_factory=list)
    successors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, name: str, payload: Any) -> Any:
        with self.lock:
            self.requests.append(payload)
            action = payload["action"]
            if action == "plan":
                chunks = [p for p in self.slices if p.startswith("chunk:")]
                return {"status": self.plan_status, "run_id": "run-1", "chunks": chunks, "wake_in": 0}
            if action == "slice":
                return self._slice(payload)
            if action == "left":
                return {"chunks": [p for p in self.slices if p.startswith("chunk:") and self.slices[p] > 0]}
            if action == "report":
                return {"status": self.verdict, "run_id": payload["run_id"]}
        assert action == "hand-over", payload
        name = successor_name(payload["execution"])
        self.successors.append(name)
        successor = json.dumps(payload["input"])
        self.sfn.start_execution(stateMachineArn=payload["state_machine"], name=name, input=successor)
        return {"execution": name}

    def _slice(self, payload: dict[str, Any]) -> dict[str, Any]:
        phase, iteration = payload["phase"], payload["iteration"] + 1
        self.seen[phase] += 1
        if (phase, self.seen[phase]) in self.crash:
            raise RuntimeError(f"slice {self.seen[phase]} of {phase} crashed")
        self.slices[phase] = max(0, self.slices.get(phase, 0) - 1)
        hand_over = self.hand_over_at.get(phase) == iteration and self.slices[phase] > 0
        if self.slices[phase] > 0:
            return {"status": "paused", "wait_seconds": self.wake, "iteration": iteration, "hand_over": hand_over}
        return {"status": "done", "wait_seconds": 0, "iteration": iteration, "hand_over": False}


