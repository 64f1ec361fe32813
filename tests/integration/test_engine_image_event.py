"""The local rehearsal's other trigger (docs/engine.md, "Local rehearsal"): the build pipeline makes an image available
in the engine's account (a copy that ends), EC2 puts its ``EC2 AMI State Change`` on the default bus, the engine's
rule sends it to the bridge, and exactly one execution runs: a run for the family that selects the image by name, and
none for a family it does not concern. The engine deployed in a sandbox serving HTTP, the real runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amishare import api
from amishare.api.converge import ConvergeRequest, plan_manifest
from amishare.sandbox import Sandbox
from tests.support.manifests import build_manifest, distribute, family
from tests.support.world import OWNER, REGION, TARGET, seed_destinations

MANIFEST = build_manifest(
    family("app", {"name": "app-*"}, distribute([TARGET])),
    family("web", {"tags": {"role": "web"}}, distribute([TARGET])),
    source=OWNER,
    regions=[REGION],
)


@pytest.mark.slow  # ~5 s on 2 shared cores
def test_an_image_made_available_starts_one_run_for_the_family_that_selects_it(tmp_path: Path) -> None:
    with Sandbox(copy_seconds_per_gib=0.01) as sb:
        sb.reset()
        seed_destinations(sb, (TARGET,))
        (tmp_path / "amishare.toml").write_text(
            f'[defaults]\nregion = "{REGION}"\nshare_key = "alias/amishare-share"\nrole_name = "AmiShareRole"\n'
        )
        (tmp_path / "estate.toml").write_text(MANIFEST)
        built = sb.seed_image(OWNER, REGION, "build-output", volumes_gib=[8], kms_key="alias/amishare-share")
        engine = sb.deploy_engine(tmp_path / "estate.toml", account=OWNER, region=REGION)
        ec2 = sb.session(OWNER, REGION).client("ec2")
        # encrypted with the share key, as the pipeline builds it: amishare shares it as it is (no copy of its own)
        image = ec2.copy_image(
            SourceImageId=built,
            SourceRegion=REGION,
            Name="app-2026.12.01",
            Encrypted=True,
            KmsKeyId="alias/amishare-share",
        )["ImageId"]
        (execution,) = engine.wait(timeout=60, started=1)  # the copy ends, its event is put at the bridge's poll
        (event,) = [e.document() for e in sb.events(OWNER, REGION) if e.detail["ImageId"] == image]
        assert event["detail"]["State"] == "available"
        sfn = sb.session(OWNER, REGION).client("stepfunctions")
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        assert described["status"] == "SUCCEEDED", described
        assert json.loads(described["input"]) == {"trigger": event["id"], "image": image, "region": REGION}
        (run,) = api.runs(engine.settings)
        assert run.status == "succeeded" and run.image_id == image
        actions = api.run(engine.settings, run.run_id).actions
        assert actions and all(a.key.startswith("app/") for a in actions)  # the family selecting it, not web
        assert plan_manifest(engine.settings, ConvergeRequest(str(tmp_path / "estate.toml"), "app")).plan.actions == ()
        visible = sb.session(TARGET, REGION).client("ec2").describe_images(ImageIds=[image])["Images"]
        assert [i["ImageId"] for i in visible] == [image]  # shared with TARGET
