"""Fleet benchmark: transfer a two-volume aws/ebs image to 50 accounts x 3 regions and 250 x 4 on the sandbox.

The sandbox runs in a process of its own (as AWS would), with 20 ms of latency per request, EC2
throttling on, and copies lasting ``copy_seconds_per_gib`` x size (a 16 GiB snapshot: about 2 s).
Measured: wall time, the critical path (the longest chain of copies the plan must wait for: a
staging copy then a destination copy), API calls by action, non-polling calls per destination and
region, and DescribeImages per account and region per poll tick.

    python benchmarks/fleet.py [--scenarios 50x3,250x4]

Also measured: the client's CPU (per destination and region) and the sandbox process's CPU (on AWS the
service's CPU is not ours; here both share the machine's two cores).

Results go to benchmarks/results/fleet.json (and are summarised in docs/performance.md).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

BUILDER = "111111111111"
VOLUMES = (8, 16)
RESULTS = Path(__file__).resolve().parent / "results"


def serve(
    conn: Connection, accounts: list[str], regions: list[str], seconds_per_gib: float, latency_ms: float, throttle: bool
) -> None:
    """The sandbox process: seed the fleet, then serve until the parent is done."""
    from amishare.sandbox import Sandbox

    with Sandbox(copy_seconds_per_gib=seconds_per_gib) as sb:
        for region in regions:
            sb.create_key(BUILDER, region, alias="amishare-share")
        for account in accounts:
            sb.create_role(account, "AmiShareRole", trusted_account=BUILDER)
            for region in regions:
                sb.create_key(account, region, alias="fleet")
        image = sb.seed_image(BUILDER, regions[0], "golden", volumes_gib=list(VOLUMES), kms_key="aws/ebs")
        sb.settings.latency_ms = latency_ms
        sb.settings.throttle = throttle
        sb.clear_calls()
        before = os.times()  # the transfer's CPU only, not the seeding's
        conn.send((sb.endpoint_url, image))
        conn.recv()
        times = os.times()
        used = times.user + times.system - before.user - before.system
        conn.send(([asdict(c) for c in sb.calls()], used))


REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2", "eu-central-1", "ap-northeast-1")
# accounts x regions -> the target for wall time over the critical path
TARGETS = {(50, 3): 1.2, (250, 4): 1.35}
MAX_NON_POLLING_PER_DESTINATION_REGION = 2.5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default="50x3,250x4", help="accounts x regions, comma separated")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--copy-seconds", type=float, default=2.0, help="duration of the largest snapshot's copy")
    parser.add_argument("--max-parallel", type=int, default=12, help="fewer threads contend less for the GIL")
    parser.add_argument("--no-throttle", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS / "fleet.json")
    args = parser.parse_args(argv)
    reports = []
    for scenario in args.scenarios.split(","):
        count, _, width = scenario.strip().partition("x")
        reports.append(run_scenario(args, int(count), list(REGIONS[: int(width or 3)])))
        print(
            json.dumps({k: v for k, v in reports[-1].items() if k not in ("api_calls_by_action", "machine")}, indent=2)
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"scenarios": reports}, indent=2) + "\n")
    return 0 if all(r["status"] == "succeeded" for r in reports) else 1


def run_scenario(args: argparse.Namespace, count: int, regions: list[str]) -> dict[str, Any]:
    """One transfer of the fleet: its measures and whether they meet the targets."""
    accounts = [f"{700000000000 + n:012d}" for n in range(1, count + 1)]
    seconds_per_gib = args.copy_seconds / max(VOLUMES)

    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(
        target=serve,
        args=(child, accounts, regions, seconds_per_gib, args.latency_ms, not args.no_throttle),
        daemon=True,
    )
    server.start()
    endpoint, image = parent.recv()
    scratch = Path(tempfile.mkdtemp(prefix="amishare-fleet-"))
    keys = ", ".join(f'{r} = "alias/fleet"' for r in regions)
    config = [
        f'[defaults]\nregion = "{regions[0]}"\nshare_key = "alias/amishare-share"\nrole_name = "AmiShareRole"',
        f'endpoint_url = "{endpoint}"\njournal = "{scratch / "journal.sqlite3"}"\nmax_parallel = {args.max_parallel}',
    ]
    config += [f'[accounts.a{n:03d}]\nid = "{a}"\nkeys = {{ {keys} }}' for n, a in enumerate(accounts)]
    (scratch / "amishare.toml").write_text("\n".join(config) + "\n")
    os.environ.update({"AWS_ACCESS_KEY_ID": f"AKIA{BUILDER}SBOX", "AWS_SECRET_ACCESS_KEY": "x"})

    from amishare import api

    ticks: list[tuple[str | None, str, int]] = []
    events: list[tuple[float, str, str]] = []
    settings = api.settings(cwd=scratch)
    cpu_started = time.process_time()
    started_at = time.time()
    started = time.monotonic()
    outcome = api.transfer(
        settings,
        api.TransferRequest(image, tuple(accounts), source=BUILDER, regions=tuple(regions)),
        hooks=api.Hooks(
            on_poll=lambda account, region, images: ticks.append((account, region, len(images))),
            on_event=lambda action, state, detail: events.append((time.time(), action.key, state)),
        ),
    )
    wall = time.monotonic() - started
    client_cpu = time.process_time() - cpu_started
    parent.send("done")
    calls: list[dict[str, Any]]
    calls, server_cpu = parent.recv()
    server.join(timeout=10)

    if os.environ.get("FLEET_CALLS"):
        Path(os.environ["FLEET_CALLS"]).write_text(
            json.dumps({"started": started_at, "calls": calls, "events": events, "returned": started_at + wall})
        )
    result = outcome.result
    assert result is not None
    by_action = collections.Counter(f"{c['service']}:{c['action']}" for c in calls)
    polls = len(ticks)
    non_polling = len(calls) - polls
    pairs = len(accounts) * len(regions)
    per_pair_polls = collections.Counter(  # the poller's DescribeImages (the preflight's one look for a copy the
        (c["account"], c["region"])  # destination already owns is a read of the plan, not a poll)
        for c in calls
        if c["action"] == "DescribeImages"
        and c["account"] != BUILDER
        and "amishare-step/observe" not in c["user_agent"]
    )
    tick_counts = collections.Counter((a, r) for a, r, _ in ticks if a is not None)
    max_describe_per_tick = max((per_pair_polls[k] / tick_counts[k] for k in tick_counts), default=0.0)
    critical_path = 2 * args.copy_seconds  # a staging copy, then a destination copy
    kms_bound = kms_quota_bound(calls)
    target = TARGETS.get((count, len(regions)), 1.35)
    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()},
        "scenario": {
            "accounts": len(accounts),
            "regions": regions,
            "volumes_gib": list(VOLUMES),
            "latency_ms": args.latency_ms,
            "throttle": not args.no_throttle,
            "largest_copy_seconds": args.copy_seconds,
            "max_parallel": args.max_parallel,
        },
        "status": result.status,
        "failures": [r.error for r in result.failures][:5],
        "wall_seconds": round(wall, 2),
        "critical_path_seconds": critical_path,
        "wall_over_critical_path": round(wall / critical_path, 3),
        "client_cpu_seconds": round(client_cpu, 2),
        "client_cpu_ms_per_destination_region": round(1000 * client_cpu / (len(accounts) * len(regions)), 2),
        "sandbox_cpu_seconds": round(server_cpu, 2),
        "timeline_seconds": timeline(calls, started_at, started_at + wall),
        "api_calls": len(calls),
        "api_calls_by_action": dict(by_action.most_common()),
        "throttled_calls": sum(1 for c in calls if c.get("error") == "RequestLimitExceeded"),
        "throttled_kms_calls": sum(1 for c in calls if c.get("error") == "ThrottlingException"),
        "kms_quota_bound_seconds": kms_bound,
        "wall_over_kms_quota_bound": round(wall / kms_bound, 3) if kms_bound else None,
        "poll_ticks": polls,
        "non_polling_calls_per_destination_region": round(non_polling / pairs, 2),
        "describe_images_per_account_region_per_tick": round(max_describe_per_tick, 2),
        "targets": {
            "wall_over_critical_path": target,
            "non_polling_calls_per_destination_region": MAX_NON_POLLING_PER_DESTINATION_REGION,
            "describe_images_per_account_region_per_tick": 1,
        },
    }
    report["meets_targets"] = (
        report["wall_over_critical_path"] <= target
        and report["non_polling_calls_per_destination_region"] <= MAX_NON_POLLING_PER_DESTINATION_REGION
        and report["describe_images_per_account_region_per_tick"] <= 1
    )
    return report


def kms_quota_bound(calls: list[dict[str, Any]]) -> float:
    """The least time KMS's request quotas allow for the KMS calls made (KMS Developer Guide, "Request quotas": per
    calling account and region): the busiest account-region's calls of each operation over its quota, added up."""
    from amishare.aws.pacer import KMS_QUOTAS

    seconds: collections.Counter[tuple[str, str]] = collections.Counter()
    for c in calls:
        if c["service"] == "kms" and c["action"] in KMS_QUOTAS:
            seconds[(c["account"], c["region"])] += 1 / KMS_QUOTAS[c["action"]]
    return round(max(seconds.values(), default=0.0), 2)


CLOSING = ("ModifyImageAttribute", "ModifySnapshotAttribute")


def timeline(calls: list[dict[str, Any]], started: float, ended: float) -> dict[str, float]:
    """When each phase began, in seconds from the start of ``api.transfer`` (from the sandbox's call log)."""

    def first(predicate: Any) -> float:
        return min((c["at"] for c in calls if predicate(c)), default=ended) - started

    def last(predicate: Any) -> float:
        return max((c["at"] for c in calls if predicate(c)), default=started) - started

    def copies(c: dict[str, Any]) -> bool:
        return bool(c["action"] == "CopyImage" and c["account"] != BUILDER and c["error"] is None)

    marks = {
        "first_call": first(lambda c: True),
        "staging_copy": first(lambda c: c["action"] == "CopyImage" and c["account"] == BUILDER),
        "first_gate_opened": first(lambda c: c["action"] in ("ModifyImageAttribute", "PutKeyPolicy")),
        "first_destination_copy": first(copies),
        "last_destination_copy": last(copies),
        "first_revocation": first(lambda c: c["action"] in CLOSING and "revoke" in c["user_agent"].lower()),
        "last_call": last(lambda c: True),
        "returned": ended - started,
    }
    return {name: round(value, 2) for name, value in marks.items()}


if __name__ == "__main__":
    sys.exit(main())
