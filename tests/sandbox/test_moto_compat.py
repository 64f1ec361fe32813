"""Rule: the sandbox is pinned to one moto minor version; moving it fails loudly, here, rather
than silently changing behaviour. (The Step Functions hooks are exercised in test_state_machines.py.)"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import moto
import pytest

from amishare.errors import UnsupportedMoto
from amishare.sandbox import Sandbox
from amishare.sandbox.wire import moto_compat

ROOT = Path(__file__).resolve().parents[2]


def test_installed_moto_is_the_supported_minor_version() -> None:
    assert moto_compat.moto_version() == moto_compat.SUPPORTED_MOTO, (
        f"moto {moto.__version__} is installed but the sandbox overlay supports "
        f"{moto_compat.SUPPORTED_MOTO}: re-check every hook in amishare/sandbox/wire/moto_compat.py, then move "
        "SUPPORTED_MOTO and the pin in pyproject.toml together"
    )


def test_pyproject_pins_the_supported_minor_version() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    (pin,) = [d for d in extras["sandbox"] if d.startswith("moto")]
    major, minor = moto_compat.SUPPORTED_MOTO
    assert re.sub(r"\s", "", pin) == f"moto[server]>={major}.{minor},<{major}.{minor + 1}"


def test_another_moto_minor_version_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto, "__version__", "5.3.0")
    with pytest.raises(UnsupportedMoto, match=r"supports moto 5\.2\.x, found 5\.3"):
        Sandbox()


def test_moto_hooks_still_work(sb: Sandbox) -> None:
    moto_compat.install_account_header()
    moto_compat.install_account_header()  # idempotent
    from moto.core.responses import BaseResponse

    assert getattr(BaseResponse.get_current_account, "_amishare", False)
    assert moto_compat.role_trust_policy("222222222222", "Missing") is None
    sb.create_role("222222222222", "Present", trusted_account="111111111111")
    found = moto_compat.role_trust_policy("222222222222", "Present")
    assert found is not None
    assert found[1] == 3600
    assert found[0]["Statement"][0]["Action"] == "sts:AssumeRole"
    # a role seeded in moto's backend is the role IAM and STS see
    iam = sb.session("222222222222").client("iam")
    assert iam.get_role(RoleName="Present")["Role"]["Arn"] == "arn:aws:iam::222222222222:role/Present"
    assumed = (
        sb.session("111111111111")
        .client("sts")
        .assume_role(RoleArn="arn:aws:iam::222222222222:role/Present", RoleSessionName="check")
    )
    assert assumed["AssumedRoleUser"]["Arn"].startswith("arn:aws:sts::222222222222:assumed-role/Present/")
    moto_compat.reset_moto()
    assert moto_compat.role_trust_policy("222222222222", "Present") is None


def test_event_hooks_read_moto_rules_and_targets_without_making_backends(sb: Sandbox) -> None:
    from moto.events.models import events_backends

    assert moto_compat.default_bus_rules("444444444444", "us-east-1") == []
    assert dict.get(events_backends, "444444444444") is None  # looking did not make the account's backend
    session = sb.session("111111111111")
    session.client("events").put_rule(Name="scheduled", ScheduleExpression="rate(5 minutes)")
    session.client("events").put_rule(Name="patterned", EventPattern='{"source": ["aws.ec2"]}')
    queue_url = session.client("sqs").create_queue(QueueName="q")["QueueUrl"]
    queue = "arn:aws:sqs:us-east-1:111111111111:q"
    session.client("events").put_targets(Rule="patterned", Targets=[{"Id": "q", "Arn": queue}])
    (rule,) = moto_compat.default_bus_rules("111111111111", "us-east-1")  # a schedule matches no event
    assert rule.arn == "arn:aws:events:us-east-1:111111111111:rule/patterned"
    assert rule.matches({"source": "aws.ec2"}) and not rule.matches({"source": "aws.ssm"})
    assert [t["Arn"] for t in rule.targets] == [queue]
    assert moto_compat.target_policy(queue) is None
    with pytest.raises(LookupError):
        moto_compat.target_policy("arn:aws:sns:us-east-1:111111111111:missing")
    moto_compat.send_to_target(queue, "hello")
    received = session.client("sqs").receive_message(QueueUrl=queue_url)["Messages"]
    assert [m["Body"] for m in received] == ["hello"]


def test_the_inline_policy_of_a_role_cloudformation_made_is_read_as_json(sb: Sandbox) -> None:
    """moto's CloudFormation keeps a role's inline policy as the template's dict (``Role.put_policy`` of the
    ``PolicyDocument`` object: moto/iam/models.py), IAM's API as the JSON given: both are read as JSON."""
    from moto.iam.models import iam_backends

    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]}
    sb.create_role("111111111111", "Made", trusted_account="111111111111")
    iam_backends["111111111111"]["aws"].get_role("Made").put_policy("p", document)  # as a stack makes it
    sb.session("111111111111").client("iam").put_role_policy(
        RoleName="Made", PolicyName="q", PolicyDocument=json.dumps(document)
    )
    found = moto_compat.role_policies("111111111111", "Made")
    assert [(name, json.loads(text)) for name, text in found] == [("p", document), ("q", document)]
