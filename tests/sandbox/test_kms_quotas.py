"""Rule: with throttling on, KMS request quotas per account and region (KMS Developer Guide, "Request quotas":
CreateGrant 50, RevokeGrant and RetireGrant 50, PutKeyPolicy 15, GetKeyPolicy 1,000, DescribeKey 2,000, ListGrants
100 requests per second ...; the symmetric cryptographic operations share 10,000, 20,000 or 100,000 by region;
"Cross-account requests": the calling account is throttled, not the key's owner; "Throttling AWS KMS requests": over
a quota, the rest of that second answers ThrottlingException). The figures have moved (RevokeGrant 15, then 30;
PutKeyPolicy 5): ``kms_request_quotas`` sets others."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.config import Config

from amishare.sandbox import Sandbox
from amishare.sandbox.wire.throttle import KMS_CRYPTO, Throttle
from tests.support.key_policies import allow, policy_document
from tests.support.world import OWNER, REGION, REGION2, TARGET, error_of

NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})
THROTTLED = "ThrottlingException"


def _admitted(call: Callable[[int], Any], times: int) -> int:
    """How many of ``times`` calls in a row pass before the first ThrottlingException (then stop)."""
    for n in range(times):
        try:
            call(n)
        except Exception as exc:
            assert getattr(exc, "response", {}).get("Error", {}).get("Code") == THROTTLED, exc
            return n
    return times


def test_rule_grant_and_key_policy_calls_are_throttled_per_second_per_calling_account_and_region() -> None:
    now = [1000.0]
    with Sandbox(throttle=True, clock=lambda: now[0]) as sb:
        key = sb.create_key(OWNER, REGION, policy=policy_document(allow(actions=["kms:CreateGrant"])))
        kms = sb.session(OWNER, REGION).client("kms", config=NO_RETRIES)

        def grant(n: int, client: Any = kms) -> str:
            principal = f"arn:aws:iam::{n % 1000:012d}:root"
            return str(client.create_grant(KeyId=key, GranteePrincipal=principal, Operations=["Decrypt"])["GrantId"])

        assert _admitted(grant, 60) == 50  # CreateGrant: 50 a second
        error = error_of(grant, 99)
        assert (error["Code"], error["Message"]) == (
            THROTTLED,
            "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.",
        )
        assert kms.describe_key(KeyId=key)["KeyMetadata"]["Arn"] == key  # each operation has its own quota
        target = sb.session(TARGET, REGION).client("kms", config=NO_RETRIES)
        assert grant(7, target)  # a cross-account request counts against the caller, not the key's owner
        other_region = sb.session(OWNER, REGION2).client("kms", config=NO_RETRIES)
        assert other_region.create_key()["KeyMetadata"]["Arn"]  # another region: quotas of its own

        now[0] += 1.0  # the next second
        grants = [grant(n) for n in range(50)]
        now[0] += 1.0
        assert _admitted(lambda n: kms.revoke_grant(KeyId=key, GrantId=grants[n]), 50) == 50  # RevokeGrant: 50
        policy = json.dumps(policy_document())
        put = _admitted(lambda n: kms.put_key_policy(KeyId=key, PolicyName="default", Policy=policy), 20)
        assert put == 15  # PutKeyPolicy: 15

        sb.settings.kms_request_quotas = {"PutKeyPolicy": 5.0}  # an account with the guide's older figure
        now[0] += 1.0
        assert _admitted(lambda n: kms.put_key_policy(KeyId=key, PolicyName="default", Policy=policy), 10) == 5


def test_rule_without_throttling_kms_answers_every_request(sb: Sandbox) -> None:
    key = sb.create_key(OWNER, REGION)
    kms = sb.session(OWNER, REGION).client("kms", config=NO_RETRIES)
    policy = json.dumps(policy_document())
    assert _admitted(lambda n: kms.put_key_policy(KeyId=key, PolicyName="default", Policy=policy), 40) == 40


def test_rule_kms_quota_table_and_the_shared_cryptographic_quota() -> None:
    now = [0.0]
    throttle = Throttle(lambda: now[0])
    for action, per_second in (("DescribeKey", 2000), ("ListGrants", 100), ("GetKeyPolicy", 1000), ("RetireGrant", 50)):
        assert sum(throttle.admit_kms(OWNER, REGION, action) for _ in range(per_second + 10)) == per_second, action
    # Encrypt, Decrypt, GenerateDataKey* and ReEncrypt share one quota: 100,000 in us-east-1, 10,000 elsewhere
    assert sum(throttle.admit_kms(OWNER, "ca-central-1", a) for a in ("Encrypt", "Decrypt") * 6000) == 10_000
    assert throttle.admit_kms(OWNER, REGION, "Decrypt")
    overrides = {KMS_CRYPTO: 3.0}
    assert sum(throttle.admit_kms(TARGET, REGION, "ReEncrypt", overrides) for _ in range(5)) == 3
    now[0] += 0.5
    assert not throttle.admit_kms(OWNER, REGION, "DescribeKey")  # still the same second
    now[0] += 0.5
    assert throttle.admit_kms(OWNER, REGION, "DescribeKey")  # a new second
    assert throttle.admit_kms(OWNER, REGION, "GetKeyRotationStatus")  # no quota the sandbox counts
