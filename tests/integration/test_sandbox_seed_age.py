"""``amishare sandbox serve --seed-age``: older builds of the golden image, so that age-based cleanup and retention
can be rehearsed from the command line (docs/sandbox.md)."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from amishare.sandbox import Sandbox, demo_world


def _amishare(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "amishare", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def test_seed_age_serves_older_builds_that_cleanup_judges_by_their_age(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "amishare", "sandbox", "serve", "--seed-age", "90d", "--seed-age", "45d"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        endpoint = process.stdout.readline().split(" ", 1)[1].strip()
        builds: list[tuple[str, str]] = []
        while len(builds) < 2:
            line = process.stdout.readline()
            assert line, "sandbox serve ended early"
            if line.startswith("older build "):
                builds.append((line.split()[2], line.split()[3]))
        (old, old_name), (recent, _) = builds
        today = dt.datetime.now(dt.UTC)
        assert old_name == f"golden-al2023-{today - dt.timedelta(days=90):%Y.%m.%d}"  # named by its creation date
        account = demo_world.BUILDER
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": f"AKIA{account}SBOX",
            "AWS_SECRET_ACCESS_KEY": "sandbox",
            "AWS_ENDPOINT_URL": endpoint,
            "AMISHARE_JOURNAL": str(tmp_path / "journal.sqlite3"),
        }
        env.pop("AWS_PROFILE", None)
        shown = _amishare(
            "--region",
            demo_world.REGION,
            "cleanup",
            "--deprecate",
            "--name",
            "golden-al2023-*",
            "--older-than",
            "60d",
            "--dry-run",
            "--output",
            "json",
            env=env,
            cwd=tmp_path,
        )
        assert shown.returncode == 0, shown.stderr
        decisions = json.loads(shown.stdout)["plan"]["extra"]["decisions"]
        verdicts = {d["image_id"]: d["verdict"] for d in decisions}
        assert len(verdicts) == 3  # the golden image and its two older builds
        assert verdicts.pop(old) == "deprecate"  # 90 days old
        assert set(verdicts.values()) == {"keep"}  # 45 days old, and the golden image of today
        assert recent in verdicts
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def test_seed_age_is_checked_before_the_sandbox_starts() -> None:
    bad = _amishare("sandbox", "serve", "--seed-age", "3x")
    assert bad.returncode == 2 and "'3x' is not a duration" in bad.stderr
    assert "endpoint:" not in bad.stdout
    empty = _amishare("sandbox", "serve", "--empty", "--seed-age", "90d")
    assert empty.returncode == 2 and "drop --empty" in empty.stderr


def test_seed_builds_are_dated_tagged_and_uniquely_named(sb: Sandbox) -> None:
    now = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
    world = demo_world.seed(sb)
    day = 86400.0
    builds = demo_world.seed_builds(sb, [0.0, 90 * day, 90 * day + 60], now=now)
    # today's date is the golden image's name already: image names are unique per account and region
    assert [b.name for b in builds] == [
        "golden-al2023-2026.11.22-2",
        "golden-al2023-2026.08.24",
        "golden-al2023-2026.08.24-2",
    ]
    ec2 = sb.session(world.builder, world.region).client("ec2")
    described = {i["ImageId"]: i for i in ec2.describe_images(ImageIds=[b.image_id for b in builds])["Images"]}
    for build in builds:
        image = described[build.image_id]
        assert image["CreationDate"] == f"{build.created:%Y-%m-%dT%H:%M:%S}.000Z"
        assert {t["Key"]: t["Value"] for t in image["Tags"]} == {"team": "platform", "os": "al2023"}
        assert image["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
