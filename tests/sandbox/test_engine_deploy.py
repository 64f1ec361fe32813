"""Rule: ``Sandbox.deploy_engine`` creates the engine as its CloudFormation would, through the sandbox's own API
(the journal's table, the runner's function and its environment, the state machine ``engine_asl.definition`` writes
and a role allowed to invoke the runner only, the EventBridge rules and their SQS target), and the state machine's
Wait states run on the sandbox's clock: an hour waited takes no real time and leaves the sandbox an hour later (a
copy that takes half an hour has ended). A scripted runner in place of amishare's (the real one:
tests/integration/test_engine_rehearsal.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from amishare.errors import SandboxError
from amishare.generate.engine_asl import definition
from amishare.sandbox import Sandbox
from tests.support.manifests import build_manifest, distribute, family
from tests.support.state_machines import wait_for_execution
from tests.support.world import OWNER, REGION

BASE = family("base", {"ssm_parameter": "/golden/base"}, distribute(["222222222222"]))
MANIFEST_OF_BASE = build_manifest(BASE, source=OWNER, regions=[REGION])
MANIFEST = build_manifest(
    BASE, family("app", {"name": "app-*"}, distribute(["222222222222"])), source=OWNER, regions=[REGION]
)


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    (tmp_path / "amishare.toml").write_text(f'[defaults]\nregion = "{REGION}"\n')
    path = tmp_path / "estate.toml"
    path.write_text(MANIFEST)
    return path


def _unused(request: dict[str, Any], settings: Any) -> dict[str, Any]:
    raise AssertionError(f"the runner was not to be called: {request}")


@pytest.mark.slow  # ~1 s (two deployments), and moto's Step Functions' first import in a process 3 s more
def test_the_engine_is_deployed_as_aws_describes_it(sb: Sandbox, manifest: Path) -> None:
    deployed = sb.deploy_engine(manifest, account=OWNER, region=REGION, budget=7, chunk_concurrency=3, runner=_unused)
    session = sb.session(OWNER, REGION)
    assert deployed.journal == "dynamodb://amishare-engine"
    table = session.client("dynamodb").describe_table(TableName="amishare-engine")["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    function = session.client("lambda").get_function_configuration(FunctionName=deployed.function_arn)
    assert function["Handler"] == "amishare.api.runner.lambda_handler"
    assert function["Environment"]["Variables"] == {
        "AMISHARE_MANIFEST": str(manifest),
        "AMISHARE_JOURNAL": "dynamodb://amishare-engine",
    }
    sfn = session.client("stepfunctions")
    machine = sfn.describe_state_machine(stateMachineArn=deployed.state_machine_arn)
    assert json.loads(machine["definition"]) == definition(deployed.function_arn, budget=7, concurrency=3)
    assert machine["roleArn"] == deployed.machine_role_arn
    iam = session.client("iam")
    trust = iam.get_role(RoleName="amishare-engine-machine")["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "states.amazonaws.com"}
    policy = iam.get_role_policy(RoleName="amishare-engine-machine", PolicyName="run")["PolicyDocument"]
    invoke = [s for s in policy["Statement"] if s["Action"] == "lambda:InvokeFunction"]
    assert invoke == [
        {
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": [deployed.function_arn, f"{deployed.function_arn}:*"],
        }
    ]
    events = session.client("events")
    rules = {r["Name"]: json.loads(r["EventPattern"]) for r in events.list_rules(NamePrefix="amishare-engine")["Rules"]}
    assert rules == {
        "amishare-engine-image-available": {
            "source": ["aws.ec2"],
            "detail-type": ["EC2 AMI State Change"],
            "detail": {"State": ["available"]},
        },
        "amishare-engine-parameter-changed": {
            "source": ["aws.ssm"],
            "detail-type": ["Parameter Store Change"],
            "detail": {"name": ["/golden/base"], "operation": ["Create", "Update"]},
        },
    }
    (target,) = events.list_targets_by_rule(Rule="amishare-engine-parameter-changed")["Targets"]
    assert target["InputTransformer"]["InputTemplate"] == '{"trigger": "<id>", "parameter": "<name>"}'
    with pytest.raises(SandboxError, match="has an engine deployed already"):
        sb.deploy_engine(manifest, account=OWNER, region=REGION)
    sb.reset()  # closes the engine: another can be deployed
    sb.deploy_engine(manifest, account=OWNER, region=REGION, runner=_unused)


@pytest.mark.slow  # ~1.5 s: moto's executor behind the sandbox, one execution
def test_an_hour_waited_by_the_state_machine_passes_on_the_sandboxs_clock(sb: Sandbox, manifest: Path) -> None:
    manifest.write_text(MANIFEST_OF_BASE)  # no family selected by name: no rule on the copy's event
    ec2 = sb.session(OWNER, REGION).client("ec2")
    image = sb.seed_image(OWNER, REGION, "base-1", volumes_gib=[8])
    sb.settings.copy_seconds_per_gib = 225.0  # 8 GiB: half an hour
    copy = ec2.copy_image(SourceImageId=image, SourceRegion=REGION, Name="base-1-copy")["ImageId"]
    seen: list[tuple[str, str]] = []

    def runner(request: dict[str, Any], settings: Any) -> dict[str, Any]:
        action = request["action"]
        if action == "plan":
            return {"status": "paused", "run_id": "run-1", "chunks": [], "wake_in": 0}
        if action == "report":
            return {"status": "succeeded", "run_id": "run-1"}
        found = settings.sessions().client("ec2", REGION).describe_images(ImageIds=[copy])["Images"][0]["State"]
        seen.append((request["phase"], found))
        answer = {"iteration": request["iteration"] + 1, "hand_over": False}
        if found == "pending":
            return {**answer, "status": "paused", "wait_seconds": 3600}
        return {**answer, "status": "done", "wait_seconds": 0}

    deployed = sb.deploy_engine(manifest, account=OWNER, region=REGION, runner=runner)
    sfn = sb.session(OWNER, REGION).client("stepfunctions")
    started = time.monotonic()
    arn = sfn.start_execution(stateMachineArn=deployed.state_machine_arn, name="t-1", input="{}")["executionArn"]
    ended = wait_for_execution(sfn, arn, timeout=30)
    assert ended["status"] == "SUCCEEDED", ended
    assert time.monotonic() - started < 15  # an hour's wait in seconds of real time (measured ~1 s)
    assert seen == [("prepare", "pending"), ("prepare", "available"), ("finish", "available")]
    assert deployed.clock is not None and deployed.clock.offset == 3600
