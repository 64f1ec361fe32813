"""amishare verify through the sandbox: every volume EBS-backed and encrypted as expected; exit 12 if not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from amishare.cli.main import cli
from amishare.sandbox import Sandbox
from tests.support.world import OWNER, REGION, mutating_calls


@pytest.fixture
def images(sb: Sandbox) -> dict[str, str]:
    golden = sb.create_key(OWNER, REGION, alias="golden")
    other = sb.create_key(OWNER, REGION, alias="other")
    found = {
        "good": sb.seed_image(OWNER, REGION, "good", volumes_gib=[8, 16], kms_key=golden, tags={"role": "golden"}),
        "plain": sb.seed_image(OWNER, REGION, "plain", kms_key=None, tags={"role": "golden"}),
        "ebs": sb.seed_image(OWNER, REGION, "ebs", kms_key="aws/ebs"),
        "other": sb.seed_image(OWNER, REGION, "other", kms_key=other),
        "untagged": sb.seed_image(OWNER, REGION, "untagged", kms_key=None),
    }
    ec2 = sb.session(OWNER, REGION).client("ec2")
    snapshot = ec2.describe_images(ImageIds=[found["good"]])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    found["store"] = ec2.register_image(
        Name="with-instance-store",
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[
            {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}},
            {"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"},
        ],
    )["ImageId"]
    return found


def _verify(sb: Sandbox, tmp_path: Path, *args: str) -> tuple[int, str]:
    env: dict[str, Any] = {**sb.credentials(OWNER), "AWS_REGION": REGION, "AWS_ENDPOINT_URL": sb.endpoint_url}
    env["AMISHARE_JOURNAL"] = str(tmp_path / "journal.sqlite3")
    result = CliRunner().invoke(cli, ["verify", *args], env=env)
    return result.exit_code, result.output


# (case, image, flags, exit code, codes found)
CASES: list[tuple[str, str, list[str], int, list[str]]] = [
    ("encrypted with the key expected", "good", ["--key", "alias/golden", "--shareable"], 0, []),
    ("unencrypted", "plain", [], 12, ["UNENCRYPTED"]),
    ("aws/ebs is encrypted", "ebs", [], 0, []),
    ("aws/ebs cannot be shared", "ebs", ["--shareable"], 12, ["AWS_MANAGED_KEY"]),
    ("another key", "other", ["--key", "alias/golden"], 12, ["WRONG_KEY"]),
    ("an instance store volume", "store", [], 12, ["NOT_EBS"]),
]
SLOW_CASES = {
    "encrypted with the key expected",
    "aws/ebs is encrypted",
    "aws/ebs cannot be shared",
    "another key",
    "an instance store volume",
}


@pytest.mark.parametrize(
    ("image", "flags", "code", "codes"),
    [pytest.param(*c[1:], id=c[0], marks=pytest.mark.slow if c[0] in SLOW_CASES else ()) for c in CASES],
)
def test_verify(
    sb: Sandbox, images: dict[str, str], tmp_path: Path, image: str, flags: list[str], code: int, codes: list[str]
) -> None:
    sb.clear_calls()
    exit_code, output = _verify(sb, tmp_path, images[image], *flags, "--output", "json")
    assert exit_code == code, output
    (found,) = json.loads(output)["images"]
    assert [f["code"] for f in found["findings"]] == codes
    assert all(f["fix"] for f in found["findings"])
    assert mutating_calls(sb) == []  # read-only
    text_code, text = _verify(sb, tmp_path, images[image], *flags)
    assert text_code == code and (("ok:" in text) if not codes else all(c in text for c in codes)), text


def test_verify_a_fleet_by_tag(sb: Sandbox, images: dict[str, str], tmp_path: Path) -> None:
    exit_code, output = _verify(sb, tmp_path, "--all", "--tag", "role=golden", "--output", "json")
    assert exit_code == 12
    report = json.loads(output)
    assert {i["image_id"]: i["ok"] for i in report["images"]} == {images["good"]: True, images["plain"]: False}
    assert report["ok"] is False


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--all"], "--all needs --tag KEY=VALUE"),
        (["--all", "--tag", "role"], "write it as KEY=VALUE"),
        (["ami-123"], "'ami-123' is not an AMI id"),
        (["ami-0123456789abcdef0", "--key", "my key"], "'my key' is not a KMS expected key reference"),
    ],
)
def test_bad_input_is_refused_with_exit_2(sb: Sandbox, tmp_path: Path, args: list[str], text: str) -> None:
    exit_code, output = _verify(sb, tmp_path, *args)
    assert exit_code == 2 and text in output, output
