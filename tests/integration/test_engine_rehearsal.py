"""The local rehearsal of the serverless engine (docs/engine.md, "Local rehearsal"): the engine deployed in a sandbox
serving HTTP (``Sandbox.deploy_engine``): the real runner answering the function's invocations, the generated state
machine executed by moto, the journal in DynamoDB, the Parameter Store Change rule and its bridge. Publishing an
image to the family's SSM parameter starts exactly one execution, whose run converges as ``amishare apply -f
MANIFEST`` would (afterwards the manifest plans nothing) and is the one run ``amishare runs --journal
dynamodb://TABLE`` lists; the same event delivered again starts no execution. (An AMI made available:
test_engine_image_event.py.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from amishare import api
from amishare.api.converge import ConvergeRequest, plan_manifest
from amishare.cli.main import cli
from amishare.sandbox import Sandbox
from amishare.sandbox.engine import EngineDeployment
from tests.integration.test_runner import MANIFEST
from tests.support.world import OTHER, OWNER, REGION, REGION2, TARGET, two_destinations

JOURNAL = "dynamodb://amishare-engine"


@dataclass
class Published:
    """The engine deployed, an image published to the family's parameter, and what followed once it settled."""

    sb: Sandbox
    folder: Path
    engine: EngineDeployment
    image: str
    event: dict[str, Any]  # the Parameter Store Change, as EventBridge delivered it
    executions: list[dict[str, Any]]
    runs: list[Any]  # api.runs once the executions ended


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    folder = tmp_path_factory.mktemp("rehearsal")
    with Sandbox(copy_seconds_per_gib=0.01) as sb:
        sb.reset()
        two_destinations(sb, folder, JOURNAL)  # TARGET (share) and OTHER (transfer) in REGION and REGION2
        (folder / "estate.toml").write_text(MANIFEST)
        image = sb.seed_image(OWNER, REGION, "base-1", volumes_gib=[8], kms_key="alias/amishare-share")
        engine = sb.deploy_engine(folder / "estate.toml", account=OWNER, region=REGION)
        sb.session(OWNER, REGION).client("ssm").put_parameter(
            Name="/golden/base", Value=image, Type="String", DataType="aws:ec2:image"
        )
        executions = engine.wait(timeout=90, started=1)
        (event,) = [e.document() for e in sb.events(OWNER, REGION) if e.detail_type == "Parameter Store Change"]
        yield Published(sb, folder, engine, image, event, executions, api.runs(engine.settings))


@pytest.mark.slow  # ~10 s on 2 shared cores: a transfer and a share to 2 regions, sliced by the state machine
def test_a_parameter_update_starts_one_execution_that_converges_like_apply(published: Published) -> None:
    (execution,) = published.executions
    assert execution["status"] == "SUCCEEDED"
    assert execution["name"] == published.event["id"]  # named after the event: a redelivery cannot start another
    sfn = published.sb.session(OWNER, REGION).client("stepfunctions")
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == {"trigger": published.event["id"], "parameter": "/golden/base"}
    report = json.loads(described["output"])["report"]
    assert report["status"] == "succeeded" and set(report["counts"]) == {"succeeded"}
    # the estate is what `amishare apply -f estate.toml` leaves: nothing left to plan, one copy per region in OTHER
    request = ConvergeRequest(str(published.folder / "estate.toml"))
    assert plan_manifest(published.engine.settings, request).plan.actions == ()
    for region in (REGION, REGION2):
        copies = published.sb.session(OTHER, region).client("ec2").describe_images(Owners=["self"])["Images"]
        assert len(copies) == 1
    shared = published.sb.session(TARGET, REGION2).client("ec2").describe_images(ExecutableUsers=["self"])["Images"]
    assert len(shared) == 1
    # one run, in the journal every machine sees, as `amishare runs --journal dynamodb://TABLE` lists it
    (run,) = published.runs
    assert (run.status, run.command) == ("succeeded", "apply")
    env = {**published.sb.credentials(OWNER), "AWS_REGION": REGION}
    listed = CliRunner().invoke(cli, ["runs", "--journal", JOURNAL, "--output", "json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert [r["run_id"] for r in json.loads(listed.stdout)["runs"]] == [run.run_id]


def test_the_same_event_delivered_twice_starts_no_second_execution(published: Published) -> None:
    """EventBridge delivers at least once: the second delivery of an event finds its execution (named after the
    event's id) and starts none."""
    first = next(t for t in published.engine.triggers() if t.event_id == published.event["id"])
    sqs = published.sb.session(OWNER, REGION).client("sqs")
    sqs.send_message(QueueUrl=published.engine.queue_url, MessageBody=json.dumps(first.input))
    executions = published.engine.wait(timeout=30)
    assert [e["executionArn"] for e in executions] == [e["executionArn"] for e in published.executions]
    again = [t for t in published.engine.triggers() if t.event_id == published.event["id"]]
    assert [t.execution_arn for t in again] == [first.execution_arn, None]
    assert [r.run_id for r in api.runs(published.engine.settings)] == [r.run_id for r in published.runs]
