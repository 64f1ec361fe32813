"""Engine benchmark, the state machine's side: amishare's generated state machine (generate/engine_asl.py) executed
by moto in-process for a run of 200 accounts x 2 regions (8 chunks of 50 destinations) whose copies take 48 hours
(time-based copies at their longest), the runner scripted as the real one behaves: a slice pauses once nothing is
due for a minute, and looks at a copy of hours every 5 minutes; every wait on a warped clock.

Measured: executions (the parent, the Map's children), slices, state transitions per destination-region, the
history events of the longest execution (Step Functions' limit: 25,000), the simulated time and the wall time.

    python benchmarks/engine_machine.py [--accounts 200] [--regions 2] [--copy-hours 48]

Results go to benchmarks/results/engine_machine.json (and docs/performance.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
CHUNK = 50  # destinations of one region per chunk (engine/partition.py DEFAULT_CHUNK)
POLL_EVERY = 300  # seconds between looks at a copy of hours (5 x the runner's idle_exit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--regions", type=int, default=2)
    parser.add_argument("--copy-hours", type=float, default=48.0)
    parser.add_argument("--concurrency", type=int, default=40)
    parser.add_argument("--output", type=Path, default=RESULTS / "engine_machine.json")
    args = parser.parse_args()
    report = measure(args.accounts, args.regions, args.copy_hours, args.concurrency)
    print(json.dumps(report, indent=2))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")


def measure(accounts: int, regions: int, copy_hours: float, concurrency: int) -> dict[str, Any]:
    from tests.support.engine_script import Runner
    from tests.support.state_machines import FUNCTION_ARN, history, moto_machines, wait_for_execution

    from amishare.generate.engine_asl import definition

    chunks = [f"chunk:region-{r}:{n}" for r in range(regions) for n in range(math.ceil(accounts / CHUNK))]
    slices_per_chunk = int(copy_hours * 3600 // POLL_EVERY) + 1
    script = {"prepare": 2, **dict.fromkeys(chunks, slices_per_chunk), "finish": 1}
    with moto_machines() as machines:
        runner = Runner(dict(script), wake=POLL_EVERY)
        runner.sfn = machines.sfn
        machines.answer = runner
        arn = machines.create(definition(FUNCTION_ARN, concurrency=concurrency), name="amishare-engine")
        started = time.monotonic()
        execution = machines.sfn.start_execution(stateMachineArn=arn, input=json.dumps({"trigger": "bench"}))
        ended = wait_for_execution(machines.sfn, execution["executionArn"], timeout=3600)
        wall = time.monotonic() - started
        parent = history(machines.sfn, ended["executionArn"])
        (map_run,) = machines.sfn.list_map_runs(executionArn=ended["executionArn"])["mapRuns"]
        children = machines.runs.children_of(map_run["mapRunArn"])
        simulated = sum(machines.clock.waits)
    transitions = sum(1 for e in parent if e["type"].endswith("StateEntered"))
    transitions += sum(1 for c in children for e in c.events if e["type"].endswith("StateEntered"))
    pairs = accounts * regions
    slices = sum(1 for r in runner.requests if r["action"] == "slice")
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        "scenario": {
            "accounts": accounts,
            "regions": regions,
            "chunks": len(chunks),
            "copy_hours": copy_hours,
            "poll_every_seconds": POLL_EVERY,
            "concurrency": concurrency,
        },
        "status": ended["status"],
        "executions": 1 + len(children),
        "slices": slices,
        "slices_per_destination_region": round(slices / pairs, 2),
        "state_transitions": transitions,
        "state_transitions_per_destination_region": round(transitions / pairs, 2),
        "history_events_parent": len(parent),
        "history_events_longest_child": max(c.event_count for c in children),
        "history_limit": 25_000,
        "simulated_wait_seconds_summed": round(simulated, 1),
        "wall_seconds": round(wall, 2),
    }


if __name__ == "__main__":
    main()
