"""What deploying a stack with the AWS CLI asks of the sandbox: ``aws s3 cp`` of a zip (an S3 body of any bytes,
handed to moto as sent), and ``aws cloudformation deploy --s3-bucket`` (a ``TemplateURL`` naming an object of the
sandbox's own S3 by its path, ``http://127.0.0.1:PORT/BUCKET/KEY``, reads that object for a stack and for a change
set; moto alone reads the bucket ``127``: docs/aws-facts.md section 8)."""

from __future__ import annotations

import json

import pytest

from amishare.sandbox import Sandbox
from tests.support.world import OWNER, REGION

TEMPLATE = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "from-s3"}}}}


def test_rule_an_s3_object_of_any_bytes_is_stored_as_sent(sb: Sandbox) -> None:
    s3 = sb.session(OWNER, REGION).client("s3")
    s3.create_bucket(Bucket="bundles")
    body = bytes(range(256)) * 4  # not UTF-8, not a form
    s3.put_object(Bucket="bundles", Key="engine.zip", Body=body)
    assert s3.get_object(Bucket="bundles", Key="engine.zip")["Body"].read() == body


@pytest.mark.slow  # ~3 s the first time a process loads moto's CloudFormation, 0.1 s after
def test_rule_a_template_url_of_the_sandbox_s_own_s3_is_read(sb: Sandbox) -> None:
    session = sb.session(OWNER, REGION)
    session.client("s3").create_bucket(Bucket="templates")
    session.client("s3").put_object(Bucket="templates", Key="dir/queue.json", Body=json.dumps(TEMPLATE).encode())
    url = f"{sb.endpoint_url}/templates/dir/queue.json"
    assert url.startswith("http://127.0.0.1:")
    cloudformation = session.client("cloudformation")
    cloudformation.create_stack(StackName="by-url", TemplateURL=url)
    (stack,) = cloudformation.describe_stacks(StackName="by-url")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    cloudformation.create_change_set(StackName="changed", ChangeSetName="c1", TemplateURL=url, ChangeSetType="CREATE")
    change_set = cloudformation.describe_change_set(StackName="changed", ChangeSetName="c1")
    assert change_set["Status"] == "CREATE_COMPLETE"
    assert [c["ResourceChange"]["LogicalResourceId"] for c in change_set["Changes"]] == ["Queue"]
