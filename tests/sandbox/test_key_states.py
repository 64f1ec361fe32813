"""A key pending deletion can still be managed, not used: its policy, grants and tags are read and changed as on
an enabled key; cryptographic use is KMSInvalidStateException (KMS Developer Guide, "Key states of AWS KMS keys",
the key state table; docs/aws-facts.md section 2)."""

from __future__ import annotations

import json

import pytest

from amishare.sandbox import Sandbox
from tests.support.world import OWNER, REGION, TARGET, Clients, error_of


@pytest.fixture
def pending(sb: Sandbox, aws: Clients) -> tuple[str, str]:
    """A key of OWNER with a grant to TARGET and a tag, scheduled for deletion: (key ARN, grant id)."""
    kms = aws(OWNER, "kms")
    key = sb.create_key(OWNER, REGION)
    grant = kms.create_grant(KeyId=key, GranteePrincipal=f"arn:aws:iam::{TARGET}:root", Operations=["Decrypt"])
    kms.tag_resource(KeyId=key, Tags=[{"TagKey": "team", "TagValue": "images"}])
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    return key, str(grant["GrantId"])


def test_rule_get_key_policy_answers_on_a_key_pending_deletion(aws: Clients, pending: tuple[str, str]) -> None:
    key, _ = pending
    policy = json.loads(aws(OWNER, "kms").get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    assert policy["Statement"]


def test_rule_put_key_policy_answers_on_a_key_pending_deletion(aws: Clients, pending: tuple[str, str]) -> None:
    key, _ = pending
    kms = aws(OWNER, "kms")
    policy = json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    policy["Statement"].append(
        {
            "Sid": "Added",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{TARGET}:root"},
            "Action": "kms:DescribeKey",
            "Resource": "*",
        }
    )
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(policy))
    assert "Added" in kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]


def test_rule_revoke_grant_answers_on_a_key_pending_deletion(aws: Clients, pending: tuple[str, str]) -> None:
    key, grant = pending
    kms = aws(OWNER, "kms")
    kms.revoke_grant(KeyId=key, GrantId=grant)
    assert kms.list_grants(KeyId=key)["Grants"] == []


def test_rule_list_resource_tags_answers_on_a_key_pending_deletion(aws: Clients, pending: tuple[str, str]) -> None:
    key, _ = pending
    assert aws(OWNER, "kms").list_resource_tags(KeyId=key)["Tags"] == [{"TagKey": "team", "TagValue": "images"}]


def test_rule_a_key_pending_deletion_refuses_cryptographic_use(aws: Clients, pending: tuple[str, str]) -> None:
    key, _ = pending
    kms = aws(OWNER, "kms")
    assert error_of(kms.encrypt, KeyId=key, Plaintext=b"x")["Code"] == "KMSInvalidStateException"
    assert error_of(kms.generate_data_key, KeyId=key, KeySpec="AES_256")["Code"] == "KMSInvalidStateException"
    refused = error_of(
        kms.create_grant, KeyId=key, GranteePrincipal=f"arn:aws:iam::{TARGET}:root", Operations=["Decrypt"]
    )
    assert refused["Code"] == "KMSInvalidStateException"
