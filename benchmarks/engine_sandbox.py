"""Engine benchmark, the real engine's side: a family transferred to 200 accounts x 2 regions by amishare's serverless
engine deployed in the local AWS (``Sandbox.deploy_engine``: the generated state machine executed by moto, the real
runner answering its Lambda invocations in-process, the journal in DynamoDB), started by the family's parameter
being published, copies lasting ``--copy-seconds`` each.

Measured: wall time from the event to the execution's end, against the critical path (a staging copy, then a
destination copy); slices and state transitions per destination-region; the history of the longest execution;
the API calls.

    python benchmarks/engine_sandbox.py [--accounts 200] [--regions 2] [--copy-seconds 2]

Results go to benchmarks/results/engine_sandbox.json (and docs/performance.md).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2"]
GIB = 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--regions", type=int, default=2)
    parser.add_argument("--copy-seconds", type=float, default=2.0, help="how long each copy takes")
    parser.add_argument("--budget", type=int, default=30, help="seconds per slice")
    parser.add_argument("--concurrency", type=int, default=8, help="chunks at once")
    parser.add_argument("--output", type=Path, default=RESULTS / "engine_sandbox.json")
    args = parser.parse_args()
    report = measure(args)
    print(json.dumps(report, indent=2))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from tests.support.engine_world import SOURCE, destinations, engine_world, publish
    from tests.support.state_machines import history

    from amishare import api
    from amishare.sandbox import Sandbox

    regions = REGIONS[: args.regions]
    accounts = destinations(args.accounts)
    folder = Path(tempfile.mkdtemp(prefix="amishare-engine-bench-"))
    with Sandbox(copy_seconds_per_gib=args.copy_seconds / GIB) as sb:
        (family,) = engine_world(sb, folder, accounts, regions, families=1)
        engine = sb.deploy_engine(
            folder / "estate.toml",
            account=SOURCE,
            region=regions[0],
            budget=args.budget,
            chunk_concurrency=args.concurrency,
        )
        sb.clear_calls()
        started = time.monotonic()
        publish(sb, family, regions[0], gib=GIB)
        (execution,) = engine.wait(timeout=3600)
        wall = time.monotonic() - started
        calls = sb.calls()
        sfn = sb.session(SOURCE, regions[0]).client("stepfunctions")
        parent = history(sfn, execution["executionArn"])
        runs = api.runs(engine.settings)
    by_action = collections.Counter(f"{c.service}:{c.action}" for c in calls)
    slices = by_action.get("lambda:Invoke", 0)
    pairs = len(accounts) * len(regions)
    critical = 2 * args.copy_seconds
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        "scenario": {
            "accounts": len(accounts),
            "regions": regions,
            "copy_seconds": args.copy_seconds,
            "budget": args.budget,
            "concurrency": args.concurrency,
        },
        "status": execution["status"],
        "run_status": [r.status for r in runs],
        "wall_seconds": round(wall, 2),
        "critical_path_seconds": critical,
        "wall_over_critical_path": round(wall / critical, 2),
        "runner_invocations": slices,
        "runner_invocations_per_destination_region": round(slices / pairs, 3),
        "parent_history_events": len(parent),
        "api_calls": len(calls),
        "api_calls_by_action": dict(by_action.most_common(25)),
    }


if __name__ == "__main__":
    main()
