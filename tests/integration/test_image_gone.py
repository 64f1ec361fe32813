"""amishare's steps when an image goes while they work on it (docs/aws-facts.md section 3): AWS answers
``InvalidAMIID.Unavailable`` while the image is still described as ``deregistered``, ``InvalidAMIID.NotFound``
later; wherever amishare takes an image as already gone it takes both. Another writer's deregistration is made
to fall exactly between a step's read and its call with ``Sandbox.after``."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from amishare import api
from amishare.api import Settings
from amishare.sandbox import Sandbox
from amishare.sandbox.state import Call
from tests.support.world import OWNER, REGION, TARGET, share_by_hand


def _by_step(step: str, image: str | None = None) -> Any:
    """A ``Sandbox.after`` filter: a DescribeImages of one image id made by the amishare step ``step``."""

    def when(call: Call, params: dict[str, Any]) -> bool:
        ids = params.get("ImageIds") or []
        return f"amishare-step/{step}" in call.user_agent and len(ids) == 1 and image in (None, ids[0])

    return when


def _errors(sb: Sandbox, action: str) -> list[str | None]:
    return [c.error for c in sb.calls() if c.action == action]


def test_a_deregistration_another_caller_made_first_is_already_gone(
    sb: Sandbox, builder: Settings, tmp_path: Path
) -> None:
    """cleanup's DeregisterImage step read the image, then someone deregistered it: AWS answers the step's own
    DeregisterImage InvalidAMIID.Unavailable (EC2 API Reference, error codes), which is done, not failed."""
    image = sb.seed_image(OWNER, REGION, "golden-old", kms_key=None)
    ec2 = sb.session(OWNER, REGION).client("ec2")
    sb.after("ec2:DescribeImages", lambda: ec2.deregister_image(ImageId=image), when=_by_step("DeregisterImage", image))
    outcome = api.cleanup(builder, api.CleanupRequest(action="deregister", name="golden-*"))
    assert outcome.result is not None and outcome.result.status == "succeeded", outcome.result.failures
    (step,) = [a for a in outcome.plan.actions if a.kind.value == "DeregisterImage"]
    assert outcome.result.output(step.key) == {"image_id": image, "deregistered": False, "reason": "already gone"}
    assert _errors(sb, "DeregisterImage") == [None, "InvalidAMIID.Unavailable"]  # the other caller's, then amishare's


@pytest.mark.parametrize("visible_seconds", [60.0, 0.0], ids=["unavailable", "not found"])
def test_revoking_an_image_deregistered_since_the_plan_finishes(
    sb: Sandbox, builder: Settings, visible_seconds: float
) -> None:
    """ModifyImageAttribute on an image deregistered meanwhile: Unavailable while it is described as deregistered,
    NotFound after; either way nobody can launch it any more, so the UnshareImage step is done."""
    sb.settings.deregistered_visible_seconds = visible_seconds
    image = sb.seed_image(OWNER, REGION, "golden", kms_key=None)
    ec2 = sb.session(OWNER, REGION).client("ec2")
    share_by_hand(ec2, image, TARGET)
    plan = api.plan_revoke(builder, api.RevokeRequest(image, (TARGET,)))
    ec2.deregister_image(ImageId=image)
    outcome = api.apply(builder, plan)
    assert outcome.result is not None and outcome.result.status == "succeeded", outcome.result.failures
    (unshare,) = [a for a in plan.actions if a.kind.value == "UnshareImage"]
    assert outcome.result.output(unshare.key)["reason"] == "already gone"
    code = "InvalidAMIID.Unavailable" if visible_seconds else "InvalidAMIID.NotFound"
    assert _errors(sb, "ModifyImageAttribute") == [None, code]  # share_by_hand's, then the revocation's


@pytest.mark.slow
def test_the_revoker_takes_a_staging_image_deregistered_meanwhile_as_gone(tmp_path: Path, monkeypatch: Any) -> None:
    """A transfer's revocations and its DeleteStaging run side by side (revoking a deleted image is moot). The
    revoker read the staging image, then it was deregistered: its ModifyImageAttribute answers Unavailable (the
    image is still described as deregistered), which revokes nothing more; DeleteStaging finds it already gone (its
    read waits for the deregistration, so that the order is always this one); the transfer succeeds."""
    with Sandbox() as sb:
        sb.reset()
        sb.create_key(OWNER, REGION, alias="amishare-share")
        sb.create_role(TARGET, "AmiShareRole", trusted_account=OWNER)
        sb.create_key(TARGET, REGION, alias="mine")
        image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key="aws/ebs")
        (tmp_path / "amishare.toml").write_text(
            f'[defaults]\nregion = "{REGION}"\nshare_key = "alias/amishare-share"\nrole_name = "AmiShareRole"\n'
            f'endpoint_url = "{sb.endpoint_url}"\njournal = "{tmp_path / "journal.sqlite3"}"\n'
            f'[accounts.dev]\nid = "{TARGET}"\nkeys = {{ {REGION} = "alias/mine" }}\n'
        )
        for name, value in sb.credentials(OWNER).items():
            monkeypatch.setenv(name, value)
        ec2 = sb.session(OWNER, REGION).client("ec2")
        deregistered = threading.Event()

        def deregister_the_staging_image() -> None:
            (staging,) = [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"] if i["ImageId"] != image]
            ec2.deregister_image(ImageId=staging)
            deregistered.set()

        sb.after("ec2:DescribeImages", deregister_the_staging_image, when=_by_step("RevokeDestination"))
        sb.after("ec2:DescribeImages", lambda: deregistered.wait(10), when=_by_step("DeleteStaging"))
        request = api.TransferRequest(image, ("dev",), source=OWNER)
        outcome = api.transfer(api.settings(cwd=tmp_path), request)
        assert outcome.result is not None and outcome.result.status == "succeeded", outcome.result.failures
        assert deregistered.is_set(), "the revoker never read the staging image"
        revoker = [c for c in sb.calls() if c.action == "ModifyImageAttribute" and "RevokeDestination" in c.user_agent]
        assert [c.error for c in revoker] == ["InvalidAMIID.Unavailable"]
        (delete,) = [a for a in outcome.plan.actions if a.kind.value == "DeleteStaging"]
        assert outcome.result.output(delete.key)["reason"] == "already gone"
