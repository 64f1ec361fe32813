"""A transfer to 1,000 destination accounts on the sandbox: past what one key policy can hold (about 650
accounts in 32 KB), the destinations get grants of their own, and everything is closed and cleaned up.

The sandbox throttles as AWS does, in an account whose grant quotas were raised through Service Quotas (every KMS
request quota is adjustable) and told to amishare (``kms_request_quotas``): not one call is throttled. At KMS's
default quotas the same transfer spends ~50 s of its time paced (benchmarks/fleet.py measures it; the pacing at the
defaults is tests/integration/test_kms_pacing.py's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from amishare import api
from amishare.policy import key_policy
from amishare.sandbox import Sandbox
from tests.support.world import OWNER, REGION

pytestmark = pytest.mark.slow  # a thousand destinations
DESTINATIONS = 1000


RAISED = {"CreateGrant": 500.0, "RevokeGrant": 500.0}


@pytest.mark.timeout(300)
def test_a_transfer_to_a_thousand_accounts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    accounts = [f"{700000000000 + n:012d}" for n in range(1, DESTINATIONS + 1)]
    with Sandbox(copy_seconds_per_gib=0.001) as sb:
        sb.reset()
        sb.settings.throttle = True
        sb.settings.kms_request_quotas = dict(RAISED)
        share_key = sb.create_key(OWNER, REGION, alias="amishare-share")
        for account in accounts:
            sb.create_role(account, "AmiShareRole", trusted_account=OWNER)
            sb.create_key(account, REGION, alias="mine")
        image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key="aws/ebs")
        (tmp_path / "amishare.toml").write_text(
            f'[defaults]\nregion = "{REGION}"\nshare_key = "alias/amishare-share"\nrole_name = "AmiShareRole"\n'
            f'endpoint_url = "{sb.endpoint_url}"\njournal = "{tmp_path / "journal.sqlite3"}"\nmax_parallel = 16\n'
            f"kms_request_quotas = {{ {', '.join(f'{k} = {v}' for k, v in RAISED.items())} }}\n"
            '[transfer]\ndest_key = "alias/mine"\n'
        )
        for name, value in sb.credentials(OWNER).items():
            monkeypatch.setenv(name, value)
        settings = api.settings(cwd=tmp_path)
        outcome = api.transfer(settings, api.TransferRequest(image, tuple(accounts), source=OWNER))
        result = outcome.result
        assert result is not None and result.status == "succeeded", [r.error for r in result.failures][:3]
        assert any("grant of its own" in note for note in outcome.plan.notes)
        throttled = [c for c in sb.calls() if c.error in ("ThrottlingException", "RequestLimitExceeded")]
        assert throttled == [], throttled[:3]
        kms = sb.session(OWNER, REGION).client("kms")
        assert kms.list_grants(KeyId=share_key)["Grants"] == []  # every destination's grant revoked
        policy = json.loads(kms.get_key_policy(KeyId=share_key, PolicyName="default")["Policy"])
        assert not any(key_policy.is_amishare(s) for s in policy["Statement"])
        for account in accounts[:: DESTINATIONS // 10]:  # a sample: each owns one copy, on its own key
            (copy,) = sb.session(account, REGION).client("ec2").describe_images(Owners=["self"])["Images"]
            assert copy["State"] == "available"
