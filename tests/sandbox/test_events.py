"""Rules: AWS services put events on the owning account's default EventBridge bus, and the rules that match them
send them to their SNS and SQS targets.

EC2 User Guide, "Monitor AMI events using Amazon EventBridge": EC2 puts ``EC2 AMI State Change`` (source
``aws.ec2``; detail ``RequestId``, ``ImageId``, ``State``, ``ErrorMessage``; resources the image's ARN) when an
image enters available (CopyImage, RegisterImage, EnableImage), failed (CopyImage), deregistered (DeregisterImage)
or disabled (DisableImage), on the default bus. SSM User Guide, "Monitoring Systems Manager events with Amazon
EventBridge" and "Native parameter support for Amazon Machine Image IDs": ``Parameter Store Change`` (source
``aws.ssm``; detail ``operation`` Create, Update or Delete, ``name``, ``type``; an ``aws:ec2:image`` parameter
whose image check failed carries ``exception``). EventBridge User Guide, "Using resource-based policies for Amazon
EventBridge": an SNS topic or SQS queue target receives only when its resource policy lets
``events.amazonaws.com`` publish or send; "Transforming target input": ``Input``, ``InputPath``,
``InputTransformer``."""

from __future__ import annotations

import json
from typing import Any

from amishare.sandbox import Sandbox
from tests.support.world import OWNER, REGION, REGION2, TARGET, Clients, share_by_hand

AMI_STATES = {"source": ["aws.ec2"], "detail-type": ["EC2 AMI State Change"]}


def _queue(sb: Sandbox, account: str, region: str, name: str, *, allow_eventbridge: bool = True) -> tuple[str, str]:
    """An SQS queue (URL, ARN); with a policy letting EventBridge send to it unless not ``allow_eventbridge``."""
    sqs = sb.session(account, region).client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    if allow_eventbridge:
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": arn,
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                }
            ],
        }
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    return url, arn


def _rule(sb: Sandbox, account: str, region: str, name: str, pattern: dict[str, Any], target: dict[str, Any]) -> None:
    events = sb.session(account, region).client("events")
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, Targets=[{"Id": "t", **target}])


def _received(sb: Sandbox, account: str, region: str, url: str) -> list[Any]:
    sqs = sb.session(account, region).client("sqs")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_rule_an_image_entering_each_state_puts_ec2_ami_state_change_on_its_owner_default_bus() -> None:
    now = [1000.0]
    with Sandbox(copy_seconds_per_gib=10.0, clock=lambda: now[0]) as sb:  # 8 GiB: an 80 s copy
        sb.reset()
        url, queue_arn = _queue(sb, OWNER, REGION2, "ami-states")
        _rule(sb, OWNER, REGION2, "ami-states", AMI_STATES, {"Arn": queue_arn})
        image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key=None)
        ec2 = sb.session(OWNER, REGION2).client("ec2")
        copied = ec2.copy_image(SourceImageId=image, SourceRegion=REGION, Name="copy")
        copy, request_id = copied["ImageId"], copied["ResponseMetadata"]["RequestId"]
        assert _received(sb, OWNER, REGION2, url) == []  # pending: no event yet
        now[0] += 80.0
        (available,) = _received(sb, OWNER, REGION2, url)  # the copy ended: the next request finds its event
        assert set(available) == {
            "version",
            "id",
            "detail-type",
            "source",
            "account",
            "time",
            "region",
            "resources",
        } | {"detail"}
        assert (available["version"], available["source"], available["detail-type"]) == (
            "0",
            "aws.ec2",
            "EC2 AMI State Change",
        )
        assert (available["account"], available["region"]) == (OWNER, REGION2)
        assert available["resources"] == [f"arn:aws:ec2:{REGION2}::image/{copy}"]
        assert available["detail"] == {
            "RequestId": request_id,
            "ImageId": copy,
            "State": "available",
            "ErrorMessage": "",
        }
        described = ec2.describe_images(ImageIds=[copy])["Images"][0]
        assert available["time"] >= described["CreationDate"][:19]  # when the copy ended, after it started

        ec2.disable_image(ImageId=copy)
        ec2.disable_image(ImageId=copy)  # already disabled: no second event
        ec2.enable_image(ImageId=copy)
        ec2.deregister_image(ImageId=copy)
        states = [e["detail"]["State"] for e in _received(sb, OWNER, REGION2, url)]
        assert states == ["disabled", "available", "deregistered"]
        assert [e.detail["State"] for e in sb.events(OWNER, REGION2)] == [
            "available",
            "disabled",
            "available",
            "deregistered",
        ]


def test_rule_a_failed_copy_puts_failed_with_its_reason_and_a_register_puts_available(
    sb: Sandbox, aws: Clients
) -> None:
    topic = aws(OWNER, "sns").create_topic(Name="ami-states")["TopicArn"]
    aws(OWNER, "sns").set_topic_attributes(
        TopicArn=topic,
        AttributeName="Policy",
        AttributeValue=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": "sns:Publish",
                        "Resource": topic,
                    }
                ],
            }
        ),
    )
    _rule(sb, OWNER, REGION, "ami-states", AMI_STATES, {"Arn": topic})
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key="aws/ebs")
    ec2 = aws(OWNER, "ec2")
    failed = ec2.copy_image(
        SourceImageId=image, SourceRegion=REGION, Name="copy", Encrypted=True, KmsKeyId="alias/does-not-exist"
    )["ImageId"]
    snapshot = ec2.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    registered = ec2.register_image(
        Name="registered",
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}],
    )["ImageId"]

    details = [json.loads(m["message"])["detail"] for m in sb.published(topic)]
    assert [(d["ImageId"], d["State"]) for d in details] == [(failed, "failed"), (registered, "available")]
    assert details[0]["ErrorMessage"].startswith("Given key ID is not accessible")


def test_rule_events_go_to_the_owner_bus_and_only_to_rules_whose_pattern_matches(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key=None)
    share_by_hand(aws(OWNER, "ec2"), image, TARGET)
    owner_url, owner_queue = _queue(sb, OWNER, REGION, "owner")
    _rule(sb, OWNER, REGION, "everything-ec2", AMI_STATES, {"Arn": owner_queue})
    target_url, target_queue = _queue(sb, TARGET, REGION, "target")
    failed_url, failed_queue = _queue(sb, TARGET, REGION, "failed-only")
    _rule(sb, TARGET, REGION, "available", {**AMI_STATES, "detail": {"State": ["available"]}}, {"Arn": target_queue})
    _rule(sb, TARGET, REGION, "failed", {**AMI_STATES, "detail": {"State": ["failed"]}}, {"Arn": failed_queue})
    disabled_url, disabled_queue = _queue(sb, TARGET, REGION, "disabled-rule")
    _rule(sb, TARGET, REGION, "switched-off", AMI_STATES, {"Arn": disabled_queue})
    aws(TARGET, "events").disable_rule(Name="switched-off")

    copy = aws(TARGET, "ec2").copy_image(SourceImageId=image, SourceRegion=REGION, Name="mine")["ImageId"]

    assert [e["detail"]["ImageId"] for e in _received(sb, TARGET, REGION, target_url)] == [copy]
    assert _received(sb, TARGET, REGION, failed_url) == []
    assert _received(sb, TARGET, REGION, disabled_url) == []
    assert _received(sb, OWNER, REGION, owner_url) == []  # the copy is the target's: the source's owner hears nothing
    (event,) = sb.events()
    assert (event.account, sorted(event.delivered)) == (TARGET, [target_queue])


def test_rule_a_target_whose_resource_policy_does_not_allow_eventbridge_receives_nothing(
    sb: Sandbox, aws: Clients
) -> None:
    url, queue = _queue(sb, OWNER, REGION, "no-policy", allow_eventbridge=False)
    _rule(sb, OWNER, REGION, "ami-states", AMI_STATES, {"Arn": queue})
    topic = aws(OWNER, "sns").create_topic(Name="default-policy")["TopicArn"]  # the default policy: the owner only
    _rule(sb, OWNER, REGION, "to-topic", AMI_STATES, {"Arn": topic})
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key=None)
    aws(OWNER, "ec2").disable_image(ImageId=image)

    assert _received(sb, OWNER, REGION, url) == []
    assert sb.published(topic) == []
    (event,) = sb.events()
    assert event.delivered == []
    assert sorted(event.failed) == [
        (topic, "its resource policy does not allow events.amazonaws.com sns:Publish"),
        (queue, "its resource policy does not allow events.amazonaws.com sqs:SendMessage"),
    ]


def test_rule_input_input_path_and_input_transformer_shape_the_message(sb: Sandbox, aws: Clients) -> None:
    queues = {name: _queue(sb, OWNER, REGION, name) for name in ("constant", "path", "template")}
    events = aws(OWNER, "events")
    events.put_rule(Name="ami-states", EventPattern=json.dumps(AMI_STATES))
    events.put_targets(
        Rule="ami-states",
        Targets=[
            {"Id": "constant", "Arn": queues["constant"][1], "Input": '{"fixed": true}'},
            {"Id": "path", "Arn": queues["path"][1], "InputPath": "$.detail"},
            {
                "Id": "template",
                "Arn": queues["template"][1],
                "InputTransformer": {
                    "InputPathsMap": {"image": "$.detail.ImageId", "state": "$.detail.State"},
                    "InputTemplate": '{"text": "<image> is <state>", "state": "<state>"}',
                },
            },
        ],
    )
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key=None)
    aws(OWNER, "ec2").disable_image(ImageId=image)

    assert _received(sb, OWNER, REGION, queues["constant"][0]) == [{"fixed": True}]
    (detail,) = _received(sb, OWNER, REGION, queues["path"][0])
    assert (detail["ImageId"], detail["State"]) == (image, "disabled")
    assert _received(sb, OWNER, REGION, queues["template"][0]) == [
        {"text": f"{image} is disabled", "state": "disabled"}
    ]


def test_rule_parameter_changes_put_parameter_store_change(sb: Sandbox, aws: Clients) -> None:
    url, queue = _queue(sb, OWNER, REGION, "parameters")
    _rule(
        sb,
        OWNER,
        REGION,
        "parameters",
        {"source": ["aws.ssm"], "detail-type": ["Parameter Store Change"]},
        {"Arn": queue},
    )
    ssm = aws(OWNER, "ssm")
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key=None)
    ssm.put_parameter(Name="/golden/current", Value="one", Type="String", Description="the golden image")
    ssm.put_parameter(Name="/golden/current", Value="two", Type="String", Overwrite=True)
    ssm.delete_parameter(Name="/golden/current")
    ssm.put_parameter(Name="/golden/ami", Value=image, Type="String", DataType="aws:ec2:image")
    ssm.put_parameter(Name="/golden/missing", Value="ami-0123456789abcdef0", Type="String", DataType="aws:ec2:image")

    received = _received(sb, OWNER, REGION, url)
    assert {(e["source"], e["detail-type"], e["account"], e["region"]) for e in received} == {
        ("aws.ssm", "Parameter Store Change", OWNER, REGION)
    }
    assert [e["resources"] for e in received] == [[f"arn:aws:ssm:{REGION}:{OWNER}:parameter/golden/current"]] * 3 + [
        [f"arn:aws:ssm:{REGION}:{OWNER}:parameter/golden/ami"],
        [f"arn:aws:ssm:{REGION}:{OWNER}:parameter/golden/missing"],
    ]
    described = {"name": "/golden/current", "type": "String", "description": "the golden image"}
    assert [e["detail"] for e in received] == [
        {"operation": "Create", **described},
        {"operation": "Update", **described},
        {"operation": "Delete", **described},
        {"operation": "Create", "name": "/golden/ami", "type": "String", "dataType": "aws:ec2:image"},
        {
            "operation": "Create",
            "name": "/golden/missing",
            "type": "String",
            "dataType": "aws:ec2:image",
            "exception": "Unable to Describe Resource",
        },
    ]
