"""Rules for benchmarks: per-request latency; EC2 token-bucket throttling per account, region and
action (RequestLimitExceeded); concurrent copy limits per destination account and region
(ResourceLimitExceeded) (docs/aws-facts.md section 4)."""

from __future__ import annotations

import time

from botocore.exceptions import ClientError

from amishare.sandbox import Sandbox
from amishare.sandbox.wire.throttle import Throttle
from tests.support.world import OTHER, OWNER, REGION, REGION2, TARGET, Clients, error_of


def test_rule_latency_is_added_to_every_request(sb: Sandbox, aws: Clients) -> None:
    ec2 = aws(OWNER, "ec2")
    ec2.describe_images(Owners=["self"])  # warm the connection
    sb.settings.latency_ms = 100
    started = time.monotonic()
    for _ in range(5):
        ec2.describe_images(Owners=["self"])
    assert time.monotonic() - started >= 0.5


def test_rule_throttling_empties_the_action_bucket_per_account_and_region(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "golden", kms_key=None)
    sb.settings.throttle = True
    ec2 = aws(OWNER, "ec2")
    started, admitted = time.monotonic(), 0
    while admitted < 300:  # ModifyImageAttribute: bucket of 100, refill 5/s
        try:
            ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": f"{admitted:012d}"}]})
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "RequestLimitExceeded"
            break
        admitted += 1
    elapsed = time.monotonic() - started
    assert 100 <= admitted <= 100 + 5 * elapsed + 1, (admitted, elapsed)
    assert ec2.describe_images(ImageIds=[image])["Images"]  # other actions have their own buckets
    other_image = sb.seed_image(OTHER, REGION, "other", kms_key=None)
    aws(OTHER, "ec2").modify_image_attribute(ImageId=other_image, LaunchPermission={"Add": [{"UserId": TARGET}]})
    assert aws(OWNER, "ec2", REGION2).describe_images(Owners=["self"])["Images"] == []
    time.sleep(0.25)  # refill 5 tokens a second
    ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": TARGET}]})
    throttled = [c for c in sb.calls() if c.error == "RequestLimitExceeded"]
    assert len(throttled) == 1


def test_rule_throttle_bucket_sizes_and_refill_rates() -> None:
    now = [0.0]
    throttle = Throttle(lambda: now[0])
    assert sum(throttle.admit(OWNER, REGION, "CopyImage", True) for _ in range(150)) == 100
    now[0] += 3.0
    assert sum(throttle.admit(OWNER, REGION, "CopyImage", True) for _ in range(10)) == 3  # 1 per second
    assert sum(throttle.admit(OWNER, REGION, "DescribeImages", False) for _ in range(150)) == 100
    now[0] += 1.0
    assert sum(throttle.admit(OWNER, REGION, "DescribeImages", False) for _ in range(50)) == 20  # 20 per second
    assert sum(throttle.admit(OWNER, REGION, "CreateTags", True) for _ in range(150)) == 100
    now[0] += 1.0
    assert sum(throttle.admit(OWNER, REGION, "CreateTags", True) for _ in range(50)) == 10
    assert throttle.admit(TARGET, REGION, "CopyImage", True)  # another account: a bucket of its own


def test_rule_concurrent_ami_copy_limit_per_destination(aws: Clients) -> None:
    with Sandbox(copy_seconds_per_gib=10.0, ami_copy_limit=3) as sandbox:
        image = sandbox.seed_image(OWNER, REGION, "golden", kms_key=None)
        owner = sandbox.session(OWNER).client("ec2")
        owner.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": TARGET}]})
        snapshot = owner.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
        owner.modify_snapshot_attribute(SnapshotId=snapshot, CreateVolumePermission={"Add": [{"UserId": TARGET}]})
        ec2 = sandbox.session(OWNER).client("ec2")
        for n in range(3):
            ec2.copy_image(SourceImageId=image, SourceRegion=REGION, Name=f"copy-{n}")
        error = error_of(ec2.copy_image, SourceImageId=image, SourceRegion=REGION, Name="copy-4")
        assert error["Code"] == "ResourceLimitExceeded"
        sandbox.session(TARGET).client("ec2").copy_image(SourceImageId=image, SourceRegion=REGION, Name="theirs")
        sandbox.session(OWNER, REGION2).client("ec2").copy_image(
            SourceImageId=image, SourceRegion=REGION, Name="elsewhere"
        )


def test_rule_concurrent_snapshot_copy_limit(aws: Clients) -> None:
    with Sandbox(copy_seconds_per_gib=10.0, snapshot_copy_limit=2) as sandbox:
        image = sandbox.seed_image(OWNER, REGION, "golden", kms_key=None)
        ec2 = sandbox.session(OWNER).client("ec2")
        snapshot = ec2.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
        for _ in range(2):
            ec2.copy_snapshot(SourceSnapshotId=snapshot, SourceRegion=REGION)
        assert error_of(ec2.copy_snapshot, SourceSnapshotId=snapshot, SourceRegion=REGION)["Code"] == (
            "ResourceLimitExceeded"
        )


def test_the_call_log_names_the_action_of_every_json_service(sb: Sandbox, aws: Clients) -> None:
    """SSM and EventBridge speak JSON (X-Amz-Target), like KMS: their calls are logged by action, and
    only changes count as mutating."""
    sb.clear_calls()
    ssm = aws(OWNER, "ssm")
    ssm.put_parameter(Name="/golden/ami", Value="ami-12345678", Type="String")
    ssm.get_parameter(Name="/golden/ami")
    events = aws(OWNER, "events")
    events.put_rule(Name="ami-sharing", EventPattern='{"source": ["aws.ec2"]}')
    events.list_rules()
    logged = [(c.service, c.action, c.mutating) for c in sb.calls()]
    assert logged == [
        ("ssm", "PutParameter", True),
        ("ssm", "GetParameter", False),
        ("events", "PutRule", True),
        ("events", "ListRules", False),
    ]


def test_after_runs_once_between_a_matching_answer_and_the_next_call(sb: Sandbox, aws: Clients) -> None:
    """Not an AWS rule: the test facility that puts another writer exactly between two calls of the code under test
    (``Sandbox.after``). It runs once, after the first call it matches has been answered."""
    image = sb.seed_image(OWNER, REGION, "golden", kms_key=None)
    other = sb.seed_image(OWNER, REGION, "other", kms_key=None)
    ec2 = aws(OWNER, "ec2")
    ran: list[str] = []
    sb.after(
        "ec2:DescribeImages",
        lambda: ran.append(sb.session(OWNER, REGION).client("ec2").deregister_image(ImageId=image) and "deregistered"),
        when=lambda call, params: params.get("ImageIds") == [image] and call.account == OWNER,
    )
    assert ec2.describe_images(ImageIds=[other])["Images"][0]["State"] == "available"
    assert ran == []  # not a match
    assert ec2.describe_images(ImageIds=[image])["Images"][0]["State"] == "available"  # answered before it ran
    assert ran == ["deregistered"]
    assert ec2.describe_images(ImageIds=[image])["Images"][0]["State"] == "deregistered"
    assert ran == ["deregistered"]  # once
