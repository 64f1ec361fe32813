"""Audit benchmark: 1,000 images with 2 snapshots each in one account and region, EC2 throttling on.

The audit must read every image's launch permission and every snapshot's createVolumePermission: one call
each, all in EC2's non-mutating token bucket (100 tokens, refilled at 20 a second: docs/aws-facts.md section 4).
So no reader can beat ``(calls - 100) / 20`` seconds: that is the bound, and the measure is wall / bound
(the issue's target: 1.2). The same audit without amishare's pacer (botocore's standard retries alone, as a
hand-written boto3 script would do) is the peer it is compared with.

    python benchmarks/audit_estate.py [--images 1000] [--latency-ms 20]

Results go to benchmarks/results/audit.json (and are summarised in docs/performance.md).
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

OWNER = "111111111111"
PEER = "222222222222"
REGION = "us-east-1"
RESULTS = Path(__file__).resolve().parent / "results"
BUCKET_SIZE, BUCKET_RATE = 100, 20.0  # EC2 non-mutating calls (docs/aws-facts.md section 4)
TARGET = 1.2


def serve(conn: Connection, images: int, latency_ms: float) -> None:
    """The sandbox process: seed the estate, then serve each audit with fresh buckets and call log."""
    from amishare.sandbox import Sandbox

    with Sandbox() as sb:
        key = sb.create_key(OWNER, REGION, alias="golden")
        ec2 = sb.session(OWNER, REGION).client("ec2")
        for n in range(images):
            image = sb.seed_image(OWNER, REGION, f"golden-{n:04d}", volumes_gib=[8, 16], kms_key=key)
            if n % 10 == 0:  # a tenth shared (launch permission), so findings and the matrix have rows
                ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": PEER}]})
        sb.settings.latency_ms = latency_ms
        sb.settings.throttle = True
        conn.send(sb.endpoint_url)
        while conn.recv() == "next":
            sb._app.throttle.reset()  # type: ignore[union-attr]  # each run starts with full buckets, as after a pause
            sb.clear_calls()
            conn.send("ready")
            conn.recv()
            conn.send([asdict(c) for c in sb.calls()])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--no-peer", action="store_true", help="skip the run without amishare's pacer")
    parser.add_argument("--output", type=Path, default=RESULTS / "audit.json")
    args = parser.parse_args(argv)
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(child, args.images, args.latency_ms), daemon=True)
    server.start()
    endpoint = parent.recv()
    os.environ.update({"AWS_ACCESS_KEY_ID": f"AKIA{OWNER}SBOX", "AWS_SECRET_ACCESS_KEY": "x"})
    runs = {"amishare": run(parent, endpoint, paced=True)}
    if not args.no_peer:
        for mode in ("standard", "adaptive"):
            runs[f"unpaced, botocore {mode} retries"] = run(parent, endpoint, paced=False, retry_mode=mode)
    parent.send("stop")
    server.join(timeout=10)
    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()},
        "scenario": {"images": args.images, "snapshots_per_image": 2, "latency_ms": args.latency_ms, "throttle": True},
        "runs": runs,
        "target_wall_over_bound": TARGET,
        "meets_target": runs["amishare"]["wall_over_bound"] <= TARGET,
    }
    print(json.dumps(report, indent=2))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["meets_target"] else 1


def run(conn: Connection, endpoint: str, *, paced: bool, retry_mode: str = "standard") -> dict[str, Any]:
    from amishare import api
    from amishare.aws.pacer import Pacer, Pacers
    from amishare.aws.reads.estate import Party, observe_estate
    from amishare.checks.audit import Allowlist, audit

    conn.send("next")
    conn.recv()
    scratch = Path(tempfile.mkdtemp(prefix="amishare-audit-"))
    (scratch / "amishare.toml").write_text(
        f'[defaults]\nregion = "{REGION}"\nendpoint_url = "{endpoint}"\nretry_mode = "{retry_mode}"\n'
    )
    settings = api.settings(cwd=scratch)
    pacers = Pacers() if paced else Pacers(lambda: Pacer(size=1e12, rate=1e12))
    cpu = time.process_time()
    started = time.monotonic()
    if paced:  # the command's own path
        report = api.audit(settings, api.AuditRequest())
    else:
        sessions = settings.sessions()
        reads = observe_estate(sessions, [Party(sessions.caller_account(), None)], [REGION], pacers=pacers)
        report = audit(reads, Allowlist())
    wall = time.monotonic() - started
    cpu = time.process_time() - cpu
    conn.send("done")
    calls: list[dict[str, Any]] = conn.recv()
    ec2_reads = [c for c in calls if c["service"] == "ec2" and not c["mutating"]]
    admitted = [c for c in ec2_reads if c.get("error") != "RequestLimitExceeded"]
    bound = max(0.0, (len(admitted) - BUCKET_SIZE) / BUCKET_RATE)
    return {
        "status": "failed" if report.errors else "succeeded",
        "errors": list(report.errors)[:3],
        "retry_mode": retry_mode,
        "wall_seconds": round(wall, 2),
        "bound_seconds": round(bound, 2),
        "wall_over_bound": round(wall / bound, 3) if bound else None,
        "client_cpu_seconds": round(cpu, 2),
        "images": report.scanned["images"],
        "snapshots": report.scanned["snapshots"],
        "findings": len(report.findings),
        "ec2_reads_answered": len(admitted),
        "ec2_reads_throttled": len(ec2_reads) - len(admitted),
        "calls_by_action": dict(collections.Counter(f"{c['service']}:{c['action']}" for c in calls).most_common()),
    }


if __name__ == "__main__":
    raise SystemExit(main())
