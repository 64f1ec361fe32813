"""The engine through the sandbox: plans over many images run by one executor, and steps that are
re-entrant (applying a plan again, or a step that already reached AWS, finds the work done)."""

from __future__ import annotations

import json

import pytest

from amishare import api
from amishare.api import Settings
from amishare.engine.plan import Plan
from amishare.policy import key_policy
from amishare.sandbox import Sandbox
from tests.support.world import OTHER, OWNER, REGION, TARGET, Clients, mutating_calls


@pytest.mark.slow
def test_one_plan_over_several_images_runs_once(sb: Sandbox, aws: Clients, builder: Settings) -> None:
    sb.create_key(OWNER, REGION, alias="amishare-share")
    key = sb.create_key(OWNER, REGION, alias="app")
    golden = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key="aws/ebs")
    app = sb.seed_image(OWNER, REGION, "app", volumes_gib=[8, 16], kms_key=key)
    plans = [
        api.plan_share(builder, api.ShareRequest(golden, (TARGET,), reencrypt_key="alias/amishare-share")),
        api.plan_share(builder, api.ShareRequest(app, (TARGET, OTHER))),
    ]
    merged = Plan.merge("share", plans)
    assert merged.extra["images"] == [golden, app]
    outcome = api.apply(builder, merged)
    assert outcome.result is not None and outcome.result.status == "succeeded", outcome.result.failures
    runs = api.runs(builder)
    assert len(runs) == 1 and runs[0].command == "share"  # one run, one journal entry
    launch = aws(OWNER, "ec2").describe_image_attribute(ImageId=app, Attribute="launchPermission")
    assert {p["UserId"] for p in launch["LaunchPermissions"]} == {TARGET, OTHER}
    copy = outcome.result.output(plans[0].subject[1:])["image_id"]
    launch = aws(OWNER, "ec2").describe_image_attribute(ImageId=copy, Attribute="launchPermission")
    assert {p["UserId"] for p in launch["LaunchPermissions"]} == {TARGET}


@pytest.mark.slow
def test_a_plan_applied_again_finds_its_work_done(sb: Sandbox, aws: Clients, builder: Settings) -> None:
    """What a resume meets when a step reached AWS before the process died: done, not failed."""
    key = sb.create_key(OWNER, REGION, alias="app")
    image = sb.seed_image(OWNER, REGION, "app", volumes_gib=[8], kms_key=key)
    plan = api.plan_share(builder, api.ShareRequest(image, (TARGET,)))
    assert [a.kind.value for a in plan.actions] == ["PutKeyPolicy", "ShareSnapshots", "ShareImage"]
    first = api.apply(builder, plan)
    assert first.result is not None and first.result.status == "succeeded"
    policy = aws(OWNER, "kms").get_key_policy(KeyId=key, PolicyName="default")["Policy"]
    sb.clear_calls()
    again = api.apply(builder, plan)  # the same, now stale, plan
    assert again.result is not None and again.result.status == "succeeded"
    assert again.result.output(plan.actions[0].key) == {"key": key, "changed": False}
    assert "kms:PutKeyPolicy" not in mutating_calls(sb)  # the policy already said it
    assert aws(OWNER, "kms").get_key_policy(KeyId=key, PolicyName="default")["Policy"] == policy
    assert key_policy.granted(json.loads(policy)).accounts == {TARGET}
