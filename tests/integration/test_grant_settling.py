"""A transfer whose destinations reach the source key through fresh grants, on a local AWS where a grant authorizes
nothing for 20 s (KMS Developer Guide, "Eventual consistency"; CopyImage cannot pass a grant token): each copy
refused for key access is made again, by the same run, until the grant has settled; no `resume` is needed, and the
journal shows each copy done again and why (docs/aws-facts.md section 9)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from amishare import api
from amishare.sandbox import Sandbox
from tests.support.world import OTHER, OWNER, REGION, TARGET

SPEED = 10.0  # the sandbox's clock runs ten times as fast as the wall clock: 20 s of grant delay take 2 s


@pytest.mark.slow
def test_a_copy_refused_by_a_fresh_grant_is_made_again_by_the_same_run(tmp_path: Path, monkeypatch: Any) -> None:
    start = time.monotonic()
    with Sandbox(copy_seconds_per_gib=0.05, clock=lambda: start + (time.monotonic() - start) * SPEED) as sb:
        sb.settings.grant_delay_seconds = 20.0
        sb.create_key(OWNER, REGION, alias="amishare-share")
        for account in (TARGET, OTHER):
            sb.create_role(account, "AmiShareRole", trusted_account=OWNER)
            sb.create_key(account, REGION, alias="mine")
        image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key="alias/amishare-share")
        (tmp_path / "amishare.toml").write_text(
            f'[defaults]\nregion = "{REGION}"\nshare_key = "alias/amishare-share"\nrole_name = "AmiShareRole"\n'
            f'endpoint_url = "{sb.endpoint_url}"\njournal = "{tmp_path / "journal.sqlite3"}"\n'
            '[transfer]\ndest_key = "alias/mine"\n'
        )
        for name, value in sb.credentials(OWNER).items():
            monkeypatch.setenv(name, value)
        settings = api.settings(cwd=tmp_path)
        request = api.TransferRequest(image, (TARGET, OTHER), source=OWNER, regions=(REGION,), key_access="grant")
        outcome = api.transfer(settings, request)
        assert outcome.result is not None
        assert outcome.result.status == "succeeded", [r.error for r in outcome.result.failures]
        copies = [c for c in sb.calls() if c.action == "CopyImage" and c.account in (TARGET, OTHER)]
        assert len(copies) >= 4  # each destination: a copy the unsettled grant failed, then one that worked
        for account in (TARGET, OTHER):
            owned = sb.session(account, REGION).client("ec2").describe_images(Owners=["self"])["Images"]
            assert [i["State"] for i in owned] == ["available"]  # the failed copies deregistered, one copy kept
        record = api.run(settings, outcome.result.run_id)
        again = {a.key: a.output for a in record.actions if a.key.startswith("copy:")}
        assert len(again) == 2
        for output in again.values():  # the journal tells: done again, what it replaced, and why
            assert output["generation"] >= 1 and output["replaced"]
            assert "is not accessible" in output["redo_reason"]
