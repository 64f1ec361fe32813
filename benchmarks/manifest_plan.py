"""Manifest benchmark: ``amishare plan`` of 5 image families x 200 accounts (an OU) x 3 regions.

Families alternate between share mode (the three gates in every region, a regional copy outside the image's
own) and transfer mode (each account owns a copy under its own key, with an SSM parameter): 3,000
family-account-region targets in all. The sandbox runs in a process of its own with a fixed latency per
request. What is measured: the plan's wall time and its AWS calls (by operation), per target-region; the plan
makes no mutating call. With ``--apply`` the manifest is applied first and the converged plan is measured
(what a scheduled drift check costs), then once more from scratch for comparison.

    python benchmarks/manifest_plan.py [--families 5] [--accounts 200] [--latency-ms 20] [--apply]

Results go to benchmarks/results/manifest.json (and are summarised in docs/performance.md).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import multiprocessing
import os
import platform
import tempfile
import time
from dataclasses import asdict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

OWNER = "111111111111"
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
ROLE = "AmiShareRole"
RESULTS = Path(__file__).resolve().parent / "results"


def accounts_of(count: int) -> list[str]:
    return [f"{300000000000 + n:012d}" for n in range(count)]


def serve(conn: Connection, families: int, accounts: int, latency_ms: float) -> None:
    """The sandbox process: seed the estate, then serve each measured run with a fresh call log."""
    from amishare.sandbox import Sandbox

    with Sandbox(copy_seconds_per_gib=0.001) as sb:
        for region in REGIONS:
            sb.create_key(OWNER, region, alias="amishare-share")
        members = accounts_of(accounts)
        _, ous = sb.create_organization(OWNER, {"fleet": members})
        for account in members:
            sb.create_role(account, ROLE, trusted_account=OWNER)
            for region in REGIONS:
                sb.create_key(account, region, alias="mine")
        ssm = sb.session(OWNER, REGIONS[0]).client("ssm")
        for n in range(families):
            image = sb.seed_image(OWNER, REGIONS[0], f"family-{n}-1", volumes_gib=[8], kms_key="alias/amishare-share")
            ssm.put_parameter(Name=f"/golden/family-{n}", Value=image, Type="String", DataType="aws:ec2:image")
        sb.settings.latency_ms = latency_ms
        conn.send((sb.endpoint_url, ous["fleet"]))
        while conn.recv() == "next":
            sb.clear_calls()
            conn.send("ready")
            conn.recv()
            conn.send([asdict(c) for c in sb.calls()])


def manifest_text(ou: str, families: int) -> str:
    lines = [
        "version = 1",
        "[defaults]",
        f'source = "{OWNER}"',
        "regions = [" + ", ".join(f'"{r}"' for r in REGIONS) + "]",
        "[targets]",
        f'fleet = {{ ous = ["{ou}"] }}',
    ]
    for n in range(families):
        mode = "share" if n % 2 == 0 else "transfer"
        lines += [
            "[[image]]",
            f'family = "family-{n}"',
            f'select = {{ ssm_parameter = "/golden/family-{n}" }}',
            "versions = 1",
            "  [[image.distribute]]",
            '  to = ["fleet"]',
            f'  mode = "{mode}"',
        ]
        if mode == "transfer":
            lines.append(f'  ssm_parameter = "/platform/family-{n}"')
    return "\n".join(lines) + "\n"


def measure(conn: Connection, settings: Any, manifest: Path, what: str) -> dict[str, Any]:
    from amishare.api.converge import ConvergeRequest, plan_manifest

    conn.send("next")
    assert conn.recv() == "ready"
    started = time.perf_counter()
    made = plan_manifest(settings, ConvergeRequest(str(manifest)))
    wall = time.perf_counter() - started
    conn.send("calls")
    calls = conn.recv()
    by_operation = collections.Counter(f"{c['service']}:{c['action']}" for c in calls)
    return {
        "what": what,
        "wall_seconds": round(wall, 2),
        "calls": len(calls),
        "mutating_calls": sum(1 for c in calls if c["mutating"]),
        "actions": len(made.plan.actions),
        "findings": len(made.drift),
        "by_operation": dict(by_operation.most_common()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, default=5)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--apply", action="store_true", help="apply, then measure the converged plan too")
    parser.add_argument("--output", type=Path, default=RESULTS / "manifest.json")
    args = parser.parse_args(argv)
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(
        target=serve, args=(child, args.families, args.accounts, args.latency_ms), daemon=True
    )
    server.start()
    endpoint, ou = parent.recv()
    os.environ.update({"AWS_ACCESS_KEY_ID": f"AKIA{OWNER}SBOX", "AWS_SECRET_ACCESS_KEY": "x"})
    from amishare import api

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "amishare.toml").write_text(
            f'[defaults]\nregion = "{REGIONS[0]}"\nshare_key = "alias/amishare-share"\nrole_name = "{ROLE}"\n'
            f'endpoint_url = "{endpoint}"\njournal = "{folder / "journal.sqlite3"}"\nmax_parallel = 64\n'
            '[transfer]\ndest_key = "alias/mine"\n'
        )
        manifest = folder / "estate.toml"
        manifest.write_text(manifest_text(ou, args.families))
        settings = api.settings(cwd=folder)
        runs = [measure(parent, settings, manifest, "first plan (nothing distributed yet)")]
        if args.apply:
            from amishare.api.converge import ConvergeRequest, apply_manifest

            started = time.perf_counter()
            _, outcome = apply_manifest(settings, ConvergeRequest(str(manifest)))
            applied = time.perf_counter() - started
            assert outcome.result is not None and outcome.result.status == "succeeded", outcome.result
            runs.append({"what": "apply", "wall_seconds": round(applied, 1), "actions": len(outcome.plan.actions)})
            runs.append(measure(parent, settings, manifest, "converged plan (a drift check)"))
    parent.send("stop")
    server.join(timeout=10)
    targets = args.families * args.accounts * len(REGIONS)
    for run in runs:
        if "calls" in run:
            run["calls_per_target_region"] = round(run["calls"] / targets, 2)
            run["ms_per_target_region"] = round(1000 * run["wall_seconds"] / targets, 2)
    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "families": args.families,
        "accounts": args.accounts,
        "regions": list(REGIONS),
        "targets": targets,
        "latency_ms": args.latency_ms,
        "runs": runs,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
