"""The engine's stack in the local AWS: ``amishare engine template``'s CloudFormation creates every resource with
moto's CloudFormation, its outputs naming them; its triggers hear what AWS says: its rules, put on the source's
default bus (each with an SQS queue for a target in place of the state machine, which moto's EventBridge cannot
target), send the runner's input (docs/engine.md, "Deployment") when a family's SSM parameter is written and an
image becomes available, and that input is a ``plan`` request the runner serves once."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from amishare import api, config
from amishare.api.runner import handle
from amishare.generate import engine_template
from amishare.planners.manifest import parse_manifest
from amishare.sandbox import Sandbox
from tests.integration.test_journal_backends import URL, create_table
from tests.support.manifests import build_manifest, distribute, family
from tests.support.world import OWNER, REGION, TARGET, two_destinations

MANIFEST = build_manifest(
    family("al2023-base", {"ssm_parameter": "/golden/al2023/latest"}, distribute([TARGET], "transfer")),
    family("win2022", {"name": "golden-win2022-*"}, distribute([TARGET])),
    source=OWNER,
    regions=[REGION],
)


def _queue(sb: Sandbox, name: str) -> tuple[str, str]:
    sqs = sb.session(OWNER, REGION).client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    return url, arn


def _received(sb: Sandbox, url: str) -> list[dict[str, Any]]:
    messages = sb.session(OWNER, REGION).client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


@pytest.mark.slow
def test_a_parameter_update_and_an_image_of_a_family_each_send_their_rule_s_input(sb: Sandbox) -> None:
    manifest = parse_manifest(tomllib.loads(MANIFEST), Path("manifest.toml"), config.Config())
    template = engine_template.template(manifest, config.Config())
    rules = {k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == "AWS::Events::Rule"}
    events = sb.session(OWNER, REGION).client("events")
    queues = {}
    for name, rule in rules.items():
        if "EventPattern" not in rule:
            continue  # the schedule: moto fires none (tests/unit/test_engine_template.py checks its input)
        url, arn = _queue(sb, name)
        queues[name] = url
        (target,) = rule["Targets"]
        events.put_rule(Name=name, EventPattern=json.dumps(rule["EventPattern"]))
        events.put_targets(Rule=name, Targets=[{"Id": "t", "Arn": arn, "InputTransformer": target["InputTransformer"]}])
    assert sorted(queues) == ["ImageAvailable", "ParameterAl2023Base"]

    base = sb.seed_image(OWNER, REGION, "golden-al2023-2026-06", volumes_gib=[8], kms_key=None)
    ssm = sb.session(OWNER, REGION).client("ssm")
    ssm.put_parameter(Name="/golden/al2023/latest", Value=base, Type="String", DataType="aws:ec2:image")
    ssm.put_parameter(Name="/golden/al2023/latest", Value=base, Type="String", DataType="aws:ec2:image", Overwrite=True)
    ssm.put_parameter(Name="/golden/other", Value="x", Type="String")  # no family's: no run
    built = sb.seed_image(OWNER, REGION, "build-output", volumes_gib=[8], kms_key=None)
    ec2 = sb.session(OWNER, REGION).client("ec2")  # the pipeline's last step: a copy, available when it ends
    windows = ec2.copy_image(SourceImageId=built, SourceRegion=REGION, Name="golden-win2022-2026-06")["ImageId"]
    scratch = ec2.copy_image(SourceImageId=built, SourceRegion=REGION, Name="scratch")["ImageId"]

    sent = {e.detail.get("name") or e.detail.get("ImageId"): e.document()["id"] for e in sb.events(OWNER, REGION)}
    parameter_runs = _received(sb, queues["ParameterAl2023Base"])
    assert [r["family"] for r in parameter_runs] == ["al2023-base", "al2023-base"]  # Create, then Update
    assert {r["parameter"] for r in parameter_runs} == {"/golden/al2023/latest"}
    assert (
        len({r["trigger"] for r in parameter_runs}) == 2
        and parameter_runs[-1]["trigger"] == sent["/golden/al2023/latest"]
    )
    image_runs = _received(sb, queues["ImageAvailable"])
    # every image of the source that becomes available is sent (the event says no name): the runner decides
    assert [(r["image"], r["family"]) for r in image_runs] == [(windows, "win2022"), (scratch, "win2022")]
    assert image_runs[0]["trigger"] == sent[windows]


@pytest.mark.slow
def test_what_the_parameter_rule_sends_is_a_plan_request_the_runner_serves_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop from an event to a run: the rule's input, as the state machine passes it to the runner's ``plan``
    (``{"action": "plan", "input": ...}``, the manifest from ``AMISHARE_MANIFEST`` as the stack sets it), records a
    run of that family; the same event delivered again starts none."""
    with Sandbox(copy_seconds_per_gib=0.1) as sb:
        sb.reset()
        create_table(sb)
        two_destinations(sb, tmp_path, URL)
        (tmp_path / "manifest.toml").write_text(MANIFEST)
        cfg = config.load(tmp_path / "amishare.toml")
        manifest = parse_manifest(tomllib.loads(MANIFEST), tmp_path / "manifest.toml", cfg)
        rule = engine_template.template(manifest, cfg)["Resources"]["ParameterAl2023Base"]["Properties"]
        url, arn = _queue(sb, "runs")
        events = sb.session(OWNER, REGION).client("events")
        events.put_rule(Name="runs", EventPattern=json.dumps(rule["EventPattern"]))
        transformer = rule["Targets"][0]["InputTransformer"]
        events.put_targets(Rule="runs", Targets=[{"Id": "t", "Arn": arn, "InputTransformer": transformer}])
        image = sb.seed_image(OWNER, REGION, "golden-al2023-1", volumes_gib=[8], kms_key="alias/amishare-share")
        # the other family has an image to share too: a plan of every family would hold its actions
        sb.seed_image(OWNER, REGION, "golden-win2022-1", volumes_gib=[8], kms_key="alias/amishare-share")
        sb.session(OWNER, REGION).client("ssm").put_parameter(
            Name="/golden/al2023/latest", Value=image, Type="String", DataType="aws:ec2:image"
        )
        (sent,) = _received(sb, url)

        for name, value in sb.credentials(OWNER).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AMISHARE_MANIFEST", str(tmp_path / "manifest.toml"))
        monkeypatch.chdir(tmp_path)
        settings = api.settings(cwd=tmp_path)
        planned = handle({"action": "plan", "input": sent}, settings)
        assert planned["status"] == "paused" and planned["run_id"], planned
        log = settings.journal()
        try:
            run = log.run(planned["run_id"])
        finally:
            log.close()
        assert {a.key.split("/", 1)[0] for a in run.actions} == {"al2023-base"}  # that family's units only
        assert handle({"action": "plan", "input": sent}, settings)["status"] == "duplicate"


@pytest.mark.slow
def test_the_stack_creates_every_resource_in_the_local_aws(sb: Sandbox) -> None:
    """moto's CloudFormation reads a state machine's ``DefinitionString`` only (not ``Definition`` with
    ``DefinitionSubstitutions``): the machine is made, its definition is not checked here
    (tests/unit/test_engine_template.py checks it; the local rehearsal will deploy it)."""
    manifest = parse_manifest(tomllib.loads(MANIFEST), Path("manifest.toml"), config.Config())
    session = sb.session(OWNER, REGION)
    session.client("s3").create_bucket(Bucket="artifacts")
    session.client("s3").put_object(Bucket="artifacts", Key="amishare-engine.zip", Body=b"PK\x05\x06" + bytes(18))
    cloudformation = session.client("cloudformation")
    options = engine_template.EngineOptions(code_bucket="artifacts")
    body = json.dumps(engine_template.template(manifest, config.Config(), options))
    cloudformation.create_stack(StackName="amishare-engine", TemplateBody=body, Capabilities=["CAPABILITY_NAMED_IAM"])
    (stack,) = cloudformation.describe_stacks(StackName="amishare-engine")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    resources = cloudformation.list_stack_resources(StackName="amishare-engine")["StackResourceSummaries"]
    assert {r["ResourceStatus"] for r in resources} == {"CREATE_COMPLETE"} and len(resources) == 10
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["StateMachineArn"] == f"arn:aws:states:{REGION}:{OWNER}:stateMachine:amishare-engine"
    assert outputs["FunctionName"] == "amishare-engine-runner"
    assert outputs["JournalUrl"] == f"dynamodb://{outputs['JournalTable']}?region={REGION}"
    table = session.client("dynamodb").describe_table(TableName=outputs["JournalTable"])["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    function = session.client("lambda").get_function(FunctionName="amishare-engine-runner")["Configuration"]
    assert function["Environment"]["Variables"]["AMISHARE_JOURNAL"] == outputs["JournalUrl"]
    assert (function["Handler"], function["Runtime"], function["Timeout"]) == (
        "amishare.api.runner.lambda_handler",
        "python3.12",
        900,
    )
    rules = {
        r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::Events::Rule"
    }
    (target,) = session.client("events").list_targets_by_rule(Rule=rules["ParameterAl2023Base"])["Targets"]
    assert target["Arn"] == outputs["StateMachineArn"] and target["InputTransformer"]["InputPathsMap"] == {
        "id": "$.id",
        "name": "$.detail.name",
    }
