"""The real engine on the local AWS at some scale (the issue's "sandbox in server mode" level): three families, each
transferred to the same ACCOUNTS accounts in 2 regions through the same share keys, started at once by their
parameters' events, driven by the generated state machine in slices with the journal in DynamoDB, converge to what
`amishare apply -f MANIFEST` leaves: the manifest plans nothing afterwards, every destination owns one copy of each
family in each region, and no staging copy is left. (50 accounts x 2 regions x 3 families: 300 destination-regions,
about 100 s on 2 cores, the local AWS, moto's executor and the runner in one process; benchmarks/engine_sandbox.py
runs larger scales.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from amishare import api
from amishare.api.converge import ConvergeRequest, plan_manifest
from amishare.model import TAG_STAGING
from amishare.sandbox import Sandbox
from tests.support.engine_world import SOURCE, destinations, engine_world, publish

REGIONS = ["us-east-1", "eu-west-1"]
ACCOUNTS = 50


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_three_families_at_once_to_the_same_accounts_converge_like_apply(tmp_path: Path) -> None:
    accounts = destinations(ACCOUNTS)
    with Sandbox(copy_seconds_per_gib=0.01) as sb:
        sb.reset()
        families = engine_world(sb, tmp_path, accounts, REGIONS, families=3)
        engine = sb.deploy_engine(tmp_path / "estate.toml", account=SOURCE, region=REGIONS[0], budget=30)
        for family in families:
            publish(sb, family, REGIONS[0])
        executions = engine.wait(timeout=300, started=3)
        runs = api.runs(engine.settings)
        errors = {
            a.key: a.error for r in runs for a in api.run(engine.settings, r.run_id).actions if a.state != "succeeded"
        }
        assert sorted(e["status"] for e in executions) == ["SUCCEEDED"] * 3, list(errors.items())[:5]
        assert len(runs) == 3 and {r.status for r in runs} == {"succeeded"}
        assert plan_manifest(engine.settings, ConvergeRequest(str(tmp_path / "estate.toml"))).plan.actions == ()
        for account in accounts:  # every family's copy, once, in each region
            for region in REGIONS:
                owned = sb.session(account, region).client("ec2").describe_images(Owners=["self"])["Images"]
                assert sorted(i["Name"].split("-1-from-")[0] for i in owned) == families, (account, region)
        for region in REGIONS:
            ec2 = sb.session(SOURCE, region).client("ec2")
            staging = ec2.describe_images(Owners=["self"], Filters=[{"Name": f"tag:{TAG_STAGING}", "Values": ["true"]}])
            assert staging["Images"] == []
