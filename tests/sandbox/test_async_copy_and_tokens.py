"""Rules: copies are asynchronous (pending with rising Progress for copy_seconds_per_gib x size),
and CopyImage's ClientToken is idempotent (AWS-RULES.md section 3)."""

from __future__ import annotations

import time

from amishare.sandbox import Sandbox
from tests.conftest import OWNER, REGION, REGION2, Clients, error_of


def test_rule_copies_are_pending_with_rising_progress_then_available(sb: Sandbox, aws: Clients) -> None:
    sb.settings.copy_seconds_per_gib = 0.05  # 8 GiB: 0.4 s, 16 GiB: 0.8 s
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8, 16], kms_key=None)
    ec2 = aws(OWNER, "ec2", REGION2)
    started = time.monotonic()
    copy = ec2.copy_image(SourceImageId=image, SourceRegion=REGION, Name="copy")["ImageId"]
    assert ec2.describe_images(ImageIds=[copy])["Images"][0]["State"] == "pending"
    snapshot_ids = [
        m["Ebs"]["SnapshotId"] for m in ec2.describe_images(ImageIds=[copy])["Images"][0]["BlockDeviceMappings"]
    ]
    seen: list[int] = []
    while time.monotonic() - started < 5:
        state = ec2.describe_images(ImageIds=[copy])["Images"][0]["State"]
        big = next(s for s in ec2.describe_snapshots(SnapshotIds=snapshot_ids)["Snapshots"] if s["VolumeSize"] == 16)
        seen.append(int(big["Progress"].rstrip("%")))
        if state == "available":
            break
        assert big["State"] == "pending"
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    assert state == "available"
    assert 0.75 <= elapsed < 3, elapsed  # the image waits for its largest snapshot (16 GiB x 0.05 s)
    assert seen == sorted(seen) and seen[0] < 50 <= max(seen), seen
    snapshots = ec2.describe_snapshots(SnapshotIds=snapshot_ids)["Snapshots"]
    assert {(s["State"], s["Progress"]) for s in snapshots} == {("completed", "100%")}


def test_rule_a_pending_image_cannot_be_copied_yet(sb: Sandbox, aws: Clients) -> None:
    sb.settings.copy_seconds_per_gib = 1.0
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key=None)
    ec2 = aws(OWNER, "ec2")
    copy = ec2.copy_image(SourceImageId=image, SourceRegion=REGION, Name="copy")["ImageId"]
    assert error_of(ec2.copy_image, SourceImageId=copy, SourceRegion=REGION, Name="copy-of-copy")["Code"] == (
        "IncorrectState"
    )


def test_rule_client_token_makes_copy_image_idempotent(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key=None)
    ec2 = aws(OWNER, "ec2", REGION2)
    first = ec2.copy_image(SourceImageId=image, SourceRegion=REGION, Name="copy", ClientToken="run-1-copy")
    again = ec2.copy_image(SourceImageId=image, SourceRegion=REGION, Name="copy", ClientToken="run-1-copy")
    assert first["ImageId"] == again["ImageId"]
    assert len(ec2.describe_images(Owners=["self"])["Images"]) == 1
    error = error_of(
        ec2.copy_image, SourceImageId=image, SourceRegion=REGION, Name="other-name", ClientToken="run-1-copy"
    )
    assert error["Code"] == "IdempotentParameterMismatch"
    other = ec2.copy_image(SourceImageId=image, SourceRegion=REGION, Name="copy-b", ClientToken="run-2-copy")
    assert other["ImageId"] != first["ImageId"]
    # tokens are per account and region: the same token elsewhere is a new copy
    elsewhere = aws(OWNER, "ec2").copy_image(
        SourceImageId=image, SourceRegion=REGION, Name="copy", ClientToken="run-1-copy"
    )
    assert elsewhere["ImageId"] != first["ImageId"]
