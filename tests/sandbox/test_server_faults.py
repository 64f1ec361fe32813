"""A request the sandbox fails to serve (moto raises, or the overlay has a bug) is answered as AWS answers a
server fault, HTTP 500 `InternalFailure` in the service's wire format, never with a dropped connection, which
botocore would take for a network error and send again (docs/aws-facts.md section 8; AWS's "Common Errors" of
every API reference: InternalFailure, "The request processing has failed because of an unknown error, exception
or failure", HTTP 500)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from amishare.sandbox import Sandbox
from amishare.sandbox.ec2.images import describe
from tests.support.world import OWNER, Clients


def _internal_failure(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def _calls(sb: Sandbox, action: str) -> list[tuple[int, str | None]]:
    return [(call.status, call.error) for call in sb.calls() if call.action == action]


def test_rule_a_query_service_call_moto_fails_on_answers_500_internal_failure_once(sb: Sandbox, aws: Clients) -> None:
    # moto 5.2.5 raises AttributeError on an AWS::SSM::Parameter without a Name (AWS names it for the stack).
    template = {"Resources": {"P": {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": "v"}}}}
    with pytest.raises(ClientError) as caught:
        aws(OWNER, "cloudformation").create_stack(StackName="s", TemplateBody=json.dumps(template))
    assert _internal_failure(caught) == ("InternalFailure", 500)
    assert _calls(sb, "CreateStack") == [(500, "InternalFailure")]  # one request: not retried as a network error


def test_rule_a_json_service_call_moto_fails_on_answers_500_internal_failure_once(sb: Sandbox, aws: Clients) -> None:
    # moto 5.2.5 raises NotImplementedError delivering an EventBridge event to an SNS target.
    topic = aws(OWNER, "sns").create_topic(Name="t")["TopicArn"]
    events = aws(OWNER, "events")
    events.put_rule(Name="r", EventPattern=json.dumps({"source": ["x"]}))
    events.put_targets(Rule="r", Targets=[{"Id": "1", "Arn": topic}])
    with pytest.raises(ClientError) as caught:
        events.put_events(Entries=[{"Source": "x", "DetailType": "d", "Detail": "{}"}])
    assert _internal_failure(caught) == ("InternalFailure", 500)
    assert _calls(sb, "PutEvents") == [(500, "InternalFailure")]


def test_rule_an_overlay_bug_answers_500_internal_failure_and_the_connection_serves_on(
    sb: Sandbox, aws: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    ec2 = aws(OWNER, "ec2")
    ec2.describe_images(Owners=["self"])  # the connection is open

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("a bug in the overlay")

    monkeypatch.setattr(describe, "paginate", broken)
    with pytest.raises(ClientError) as caught:
        ec2.describe_images(Owners=["self"])
    assert _internal_failure(caught) == ("InternalFailure", 500)  # in EC2's own error format: botocore parsed it
    monkeypatch.undo()
    assert ec2.describe_images(Owners=["self"])["Images"] == []  # the world's lock was released, the server serves on
    assert _calls(sb, "DescribeImages") == [(200, None), (500, "InternalFailure"), (200, None)]
