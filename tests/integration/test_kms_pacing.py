"""amishare paces its own KMS calls to KMS's request quotas (aws/pacer.py; KMS Developer Guide, "Request quotas":
counted per second, per calling account and region): a burst of grants and key policy writes from many threads,
against a local AWS that throttles KMS as AWS does, is never throttled, and no second of the sandbox's call log
holds more calls of an operation than its quota."""

from __future__ import annotations

import math
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from amishare.aws.pacer import KMS_QUOTAS
from amishare.sandbox import Sandbox
from tests.support.key_policies import policy_document
from tests.support.world import OWNER, REGION, TARGET


@pytest.mark.slow
def test_a_burst_of_grants_and_policy_writes_is_paced_below_the_quotas(sb: Sandbox, builder: Any) -> None:
    sb.settings.throttle = True
    key = sb.create_key(OWNER, REGION)
    kms = builder.sessions().client("kms", REGION)  # amishare's client: paced
    sb.clear_calls()

    def grant(n: int) -> None:
        kms.create_grant(KeyId=key, GranteePrincipal=f"arn:aws:iam::{TARGET}:root", Operations=["DescribeKey"])

    def write(n: int) -> None:
        kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json_policy())

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(grant, range(70)))
        list(pool.map(write, range(25)))
    calls = [c for c in sb.calls() if c.service == "kms"]
    assert [c for c in calls if c.error == "ThrottlingException"] == []
    assert Counter(c.action for c in calls) == {"CreateGrant": 70, "PutKeyPolicy": 25}  # each sent once
    per_second = Counter((c.action, math.floor(c.at)) for c in calls)
    for (action, _), count in per_second.items():
        assert count <= KMS_QUOTAS[action]


def json_policy() -> str:
    import json

    return json.dumps(policy_document())
