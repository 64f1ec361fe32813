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
    outcome = api.cleanup(builder, api.CleanupRequest(action="deregister", name="golden-*", keep_last=0))
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


PHASES = {  # (deregistered_visible_seconds, deregistered_empty_seconds) -> how the poller's next look goes
    "described as deregistered": ((60.0, 3600.0), "deregistered"),
    "an empty answer": ((0.0, 3600.0), "no longer exists (deregistered)"),
    "not found": ((0.0, 0.0), "no longer exists"),
}


@pytest.mark.parametrize("phase", list(PHASES))
def test_a_copy_deregistered_while_awaited_fails_its_wait_in_every_phase(
    sb: Sandbox, builder: Settings, phase: str
) -> None:
    """The poller watches a copy; someone deregisters it. Whatever DescribeImages then answers (docs/aws-facts.md
    section 3: the image as deregistered, then an empty list, then InvalidAMIID.NotFound), the wait fails at once
    with the reason: never waits for the timeout."""
    (sb.settings.deregistered_visible_seconds, sb.settings.deregistered_empty_seconds), words = PHASES[phase]
    sb.settings.copy_seconds_per_gib = 1.0  # 8 GiB: 8 s, pending when first looked at
    sb.create_key(OWNER, REGION, alias="amishare-share")
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key="aws/ebs")
    ec2 = sb.session(OWNER, REGION).client("ec2")
    copies: list[str] = []

    def deregister_the_copy() -> None:
        (copy,) = [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"] if i["ImageId"] != image]
        ec2.deregister_image(ImageId=copy)
        copies.append(copy)

    sb.after("ec2:DescribeImages", deregister_the_copy, when=_by_step("AwaitImage"))
    request = api.ShareRequest(image, (TARGET,), reencrypt_key="alias/amishare-share")
    outcome = api.share(builder, request)
    assert outcome.result is not None and outcome.result.status == "partial"  # the key policy edit went through
    (wait,) = [a.key for a in outcome.plan.actions if a.kind.value == "AwaitImage"]
    (failure,) = outcome.result.failures
    assert failure.key == wait and failure.error is not None, failure
    assert words in failure.error and copies[0] in failure.error, failure.error
    polls = [c for c in sb.calls() if c.action == "DescribeImages" and "AwaitImage" in c.user_agent]
    assert len(polls) == 2  # the look that saw it pending, and the one that saw it gone


def test_an_image_in_the_empty_answer_phase_is_not_found_with_the_reason(sb: Sandbox, builder: Settings) -> None:
    """revoke (and share, show, verify: one read) of an image AWS answers with an empty list: NotFound, naming
    why, and no change."""
    from amishare.errors import NotFound

    sb.settings.deregistered_visible_seconds = 0.0
    image = sb.seed_image(OWNER, REGION, "gone", kms_key=None)
    ec2 = sb.session(OWNER, REGION).client("ec2")
    ec2.deregister_image(ImageId=image)
    assert ec2.describe_images(ImageIds=[image])["Images"] == []
    sb.clear_calls()
    with pytest.raises(NotFound, match=f"image {image} not found in {REGION} \\(an empty answer"):
        api.revoke(builder, api.RevokeRequest(image, (TARGET,)))
    assert not [c for c in sb.calls() if c.mutating]
