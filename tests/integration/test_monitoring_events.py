"""bootstrap's monitoring template hears what amishare does: its ``EC2 AMI State Change`` rule sends the image
states of a share's re-encrypted copy to its topic (EC2 User Guide, "Monitor AMI events using Amazon EventBridge";
the sandbox's events: docs/sandbox.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from amishare import api
from amishare.api import Settings
from amishare.generate import bootstrap
from amishare.sandbox import Sandbox
from tests.support.world import OWNER, REGION, TARGET, Clients


def _resolved(node: Any, refs: dict[str, str]) -> Any:
    """A template fragment with its ``{"Ref": name}`` replaced."""
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            return refs[node["Ref"]]
        return {k: _resolved(v, refs) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolved(v, refs) for v in node]
    return node


@pytest.mark.filterwarnings("ignore:Tried to parse AWS")
def test_the_monitoring_rule_sends_the_image_states_of_a_share_to_its_topic(
    sb: Sandbox, aws: Clients, builder: Settings
) -> None:
    template = bootstrap.monitoring()
    aws(OWNER, "cloudformation").create_stack(StackName="amishare-monitoring", TemplateBody=json.dumps(template))
    (topic,) = [t["TopicArn"] for t in aws(OWNER, "sns").list_topics()["Topics"]]
    # moto's CloudFormation does not create AWS::SNS::TopicPolicy: the template's document, applied by hand
    document = template["Resources"]["TopicPolicy"]["Properties"]["PolicyDocument"]
    policy = _resolved(document, {"Topic": topic, "AWS::AccountId": OWNER})
    aws(OWNER, "sns").set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(policy))

    sb.create_key(OWNER, REGION, alias="amishare-share")
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key="aws/ebs")
    outcome = api.share(builder, api.ShareRequest(image, (TARGET,), reencrypt_key="alias/amishare-share"))
    assert outcome.result is not None and outcome.result.status == "succeeded", outcome.result
    copy = outcome.result.subject_image

    events = [json.loads(m["message"]) for m in sb.published(topic)]
    states = [(e["detail-type"], e["detail"]["ImageId"], e["detail"]["State"]) for e in events]
    assert states == [("EC2 AMI State Change", copy, "available")]
