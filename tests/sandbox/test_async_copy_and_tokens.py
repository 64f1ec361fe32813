"""Rules: copies are asynchronous (pending with rising Progress for copy_seconds_per_gib x size),
and CopyImage's ClientToken is idempotent (docs/aws-facts.md section 3)."""

from __future__ import annotations

import time
from typing import Any

from amishare.sandbox import Sandbox
from tests.support.world import OWNER, REGION, REGION2, TARGET, Clients, error_of


def test_rule_copies_are_pending_with_rising_progress_then_available() -> None:
    now = [1000.0]
    with Sandbox(copy_seconds_per_gib=0.05, clock=lambda: now[0]) as sandbox:  # 8 GiB: 0.4 s, 16 GiB: 0.8 s
        image = sandbox.seed_image(OWNER, REGION, "golden", volumes_gib=[8, 16], kms_key=None)
        ec2 = sandbox.session(OWNER, REGION2).client("ec2")
        copy = ec2.copy_image(SourceImageId=image, SourceRegion=REGION, Name="copy")["ImageId"]

        def states() -> tuple[str, dict[int, tuple[str, str]]]:
            described = ec2.describe_images(ImageIds=[copy])["Images"][0]
            ids = [m["Ebs"]["SnapshotId"] for m in described["BlockDeviceMappings"]]
            snaps = ec2.describe_snapshots(SnapshotIds=ids)["Snapshots"]
            return described["State"], {s["VolumeSize"]: (s["State"], s["Progress"]) for s in snaps}

        assert states() == ("pending", {8: ("pending", "0%"), 16: ("pending", "0%")})
        now[0] += 0.2
        assert states() == ("pending", {8: ("pending", "50%"), 16: ("pending", "25%")})
        now[0] += 0.2
        assert states() == ("pending", {8: ("completed", "100%"), 16: ("pending", "50%")})
        now[0] += 0.39
        assert states()[0] == "pending"  # the image waits for its largest snapshot
        now[0] += 0.01
        assert states() == ("available", {8: ("completed", "100%"), 16: ("completed", "100%")})


def test_rule_copies_take_real_time_when_no_clock_is_given(sb: Sandbox, aws: Clients) -> None:
    sb.settings.copy_seconds_per_gib = 0.02
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key=None)
    ec2 = aws(OWNER, "ec2", REGION2)
    started = time.monotonic()
    copy = ec2.copy_image(SourceImageId=image, SourceRegion=REGION, Name="copy")["ImageId"]
    while ec2.describe_images(ImageIds=[copy])["Images"][0]["State"] == "pending" and time.monotonic() - started < 10:
        time.sleep(0.02)
    assert ec2.describe_images(ImageIds=[copy])["Images"][0]["State"] == "available"
    assert time.monotonic() - started >= 0.16


def test_rule_a_pending_image_cannot_be_copied_yet(sb: Sandbox, aws: Clients) -> None:
    sb.settings.copy_seconds_per_gib = 1.0
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key=None)
    ec2 = aws(OWNER, "ec2")
    copy = ec2.copy_image(SourceImageId=image, SourceRegion=REGION, Name="copy")["ImageId"]
    assert error_of(ec2.copy_image, SourceImageId=copy, SourceRegion=REGION, Name="copy-of-copy")["Code"] == (
        "IncorrectState"
    )


def test_rule_a_pending_image_cannot_be_shared_yet(sb: Sandbox, aws: Clients) -> None:
    """docs/aws-facts.md section 9: ModifyImageAttribute refuses a pending image with InvalidAMIID.Unavailable
    (observed: app-sre/qontract-reconcile#2222); once available, the same call succeeds."""
    sb.settings.copy_seconds_per_gib = 0.1
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key=None)
    ec2 = aws(OWNER, "ec2")
    copy = ec2.copy_image(SourceImageId=image, SourceRegion=REGION, Name="copy")["ImageId"]
    share = {"ImageId": copy, "LaunchPermission": {"Add": [{"UserId": TARGET}]}}
    error = error_of(ec2.modify_image_attribute, **share)
    assert error["Code"] == "InvalidAMIID.Unavailable"
    assert "is currently pending and may not be used for this operation" in error["Message"]
    while ec2.describe_images(ImageIds=[copy])["Images"][0]["State"] != "available":
        time.sleep(0.1)
    ec2.modify_image_attribute(**share)
    assert ec2.describe_image_attribute(ImageId=copy, Attribute="launchPermission")["LaunchPermissions"] == [
        {"UserId": TARGET}
    ]


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


def test_rule_image_names_are_unique_per_account_and_region(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key=None)
    ec2 = aws(OWNER, "ec2", REGION2)
    first = ec2.copy_image(SourceImageId=image, SourceRegion=REGION, Name="copy", ClientToken="t-1")["ImageId"]
    # the same token is the same request: its image, not a duplicate
    assert ec2.copy_image(SourceImageId=image, SourceRegion=REGION, Name="copy", ClientToken="t-1")["ImageId"] == first
    error = error_of(ec2.copy_image, SourceImageId=image, SourceRegion=REGION, Name="copy", ClientToken="t-2")
    assert error["Code"] == "InvalidAMIName.Duplicate" and first in error["Message"]
    error = error_of(ec2.copy_image, SourceImageId=image, SourceRegion=REGION, Name="copy")
    assert error["Code"] == "InvalidAMIName.Duplicate"
    # the name is per region and per account
    assert aws(OWNER, "ec2", REGION).copy_image(SourceImageId=image, SourceRegion=REGION, Name="copy")["ImageId"]
    snapshot = ec2.describe_images(ImageIds=[first])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    mapping = [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}]
    error = error_of(ec2.register_image, Name="copy", RootDeviceName="/dev/xvda", BlockDeviceMappings=mapping)
    assert error["Code"] == "InvalidAMIName.Duplicate"
    ec2.deregister_image(ImageId=first)  # a deregistered image frees its name
    assert ec2.copy_image(SourceImageId=image, SourceRegion=REGION, Name="copy", ClientToken="t-3")["ImageId"]


def test_rule_time_based_copies_take_15_minute_steps_up_to_48_hours(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "plain", kms_key=None)
    copy = aws(OWNER, "ec2").copy_image
    for minutes in (10, 20, 2895):
        refused = error_of(
            copy,
            SourceImageId=image,
            SourceRegion=REGION,
            Name=f"c{minutes}",
            SnapshotCopyCompletionDurationMinutes=minutes,
        )
        assert refused["Code"] == "InvalidParameterValue"
    assert copy(SourceImageId=image, SourceRegion=REGION, Name="timed", SnapshotCopyCompletionDurationMinutes=45)


def test_rule_a_time_based_copy_completes_within_its_duration() -> None:
    """EBS User Guide "Time-based copies" and the CopyImage/CopySnapshot API references: with
    SnapshotCopyCompletionDurationMinutes (CompletionDurationMinutes for CopySnapshot), 15 to 2,880 in steps of 15,
    each snapshot completes within that duration; the Snapshot type reports TransferType and
    CompletionDurationMinutes (docs/aws-facts.md section 3). On the sandbox's clock: the shorter of the copy's
    usual duration and the one asked for."""
    now = [1000.0]
    with Sandbox(copy_seconds_per_gib=100.0, clock=lambda: now[0]) as sandbox:  # 8 GiB: 800 s, 16 GiB: 1,600 s
        image = sandbox.seed_image(OWNER, REGION, "golden", volumes_gib=[8, 16], kms_key=None)
        ec2 = sandbox.session(OWNER, REGION2).client("ec2")
        timed = ec2.copy_image(
            SourceImageId=image, SourceRegion=REGION, Name="timed", SnapshotCopyCompletionDurationMinutes=15
        )["ImageId"]
        standard = ec2.copy_image(SourceImageId=image, SourceRegion=REGION, Name="standard")["ImageId"]
        source_16 = sandbox.session(OWNER, REGION).client("ec2").describe_snapshots(OwnerIds=["self"])["Snapshots"]
        (big,) = [s["SnapshotId"] for s in source_16 if s["VolumeSize"] == 16]
        single = ec2.copy_snapshot(SourceSnapshotId=big, SourceRegion=REGION, CompletionDurationMinutes=15)

        def state(image_id: str) -> str:
            return str(ec2.describe_images(ImageIds=[image_id])["Images"][0]["State"])

        def snapshots(image_id: str) -> list[dict[str, Any]]:
            mappings = ec2.describe_images(ImageIds=[image_id])["Images"][0]["BlockDeviceMappings"]
            return list(ec2.describe_snapshots(SnapshotIds=[m["Ebs"]["SnapshotId"] for m in mappings])["Snapshots"])

        assert {(s["TransferType"], s.get("CompletionDurationMinutes")) for s in snapshots(timed)} == {
            ("time-based", 15)
        }
        assert {(s["TransferType"], s.get("CompletionDurationMinutes")) for s in snapshots(standard)} == {
            ("standard", None)
        }
        now[0] += 899
        assert (state(timed), state(standard)) == ("pending", "pending")
        now[0] += 1  # 15 minutes: the time-based copy is done, the standard one is not
        assert (state(timed), state(standard)) == ("available", "pending")
        (copied,) = ec2.describe_snapshots(SnapshotIds=[single["SnapshotId"]])["Snapshots"]
        assert (copied["State"], copied["TransferType"], copied["CompletionDurationMinutes"]) == (
            "completed",
            "time-based",
            15,
        )
        now[0] += 700
        assert state(standard) == "available"
        for bad in (20, 0, 2895):
            error = error_of(
                ec2.copy_image,
                SourceImageId=image,
                SourceRegion=REGION,
                Name=f"bad-{bad}",
                SnapshotCopyCompletionDurationMinutes=bad,
            )
            assert error["Code"] == "InvalidParameterValue", bad
        error = error_of(ec2.copy_snapshot, SourceSnapshotId=big, SourceRegion=REGION, CompletionDurationMinutes=20)
        assert error["Code"] == "InvalidParameterValue"
