"""The world's KMS keys and aliases: creating keys, the managed ``aws/ebs`` key, resolving a key reference,
and the key policies keys are born with (checked against the 32,768-byte quota, docs/aws-facts.md section 2)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from amishare.policy.evaluate import PolicyError, parse_policy
from amishare.sandbox.state import RANDOM, Key, World
from amishare.sandbox.wire.protocol import AwsFault

KEY_POLICY_MAX_BYTES = 32_768  # docs/aws-facts.md section 2: not adjustable
EBS_ALIAS = "alias/aws/ebs"
_KEY_ARN = re.compile(r"^arn:aws:kms:([a-z0-9-]+):(\d{12}):key/(.+)$")
_ALIAS_ARN = re.compile(r"^arn:aws:kms:([a-z0-9-]+):(\d{12}):(alias/.+)$")


def default_key_policy(account: str) -> str:
    """The default key policy KMS gives a key created without one."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Id": "key-default-1",
            "Statement": [
                {
                    "Sid": "Enable IAM User Permissions",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        }
    )


def ebs_managed_key_policy(account: str, region: str) -> str:
    """The policy of ``aws/ebs``: usable only through EC2, only by its own account."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Id": "auto-ebs-2",
            "Statement": [
                {
                    "Sid": "Allow access through EBS for all principals in the account that are authorized to use EBS",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": [
                        "kms:Encrypt",
                        "kms:Decrypt",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:CreateGrant",
                        "kms:DescribeKey",
                    ],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {"kms:CallerAccount": account, "kms:ViaService": f"ec2.{region}.amazonaws.com"}
                    },
                },
                {
                    "Sid": "Allow direct access to key metadata to the account",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                    "Resource": "*",
                },
            ],
        }
    )


def check_policy_document(text: str) -> dict[str, Any]:
    """The parsed key policy, or the fault KMS answers for one too large or malformed."""
    if len(text.encode()) > KEY_POLICY_MAX_BYTES:
        raise AwsFault(
            "LimitExceededException",
            f"Key policy is {len(text.encode())} bytes; the quota is {KEY_POLICY_MAX_BYTES} bytes.",
        )
    try:
        return parse_policy(text)
    except PolicyError as exc:
        raise AwsFault("MalformedPolicyDocumentException", str(exc)) from exc


def create_key(
    world: World, account: str, region: str, policy: str | None = None, description: str = "", manager: str = "CUSTOMER"
) -> Key:
    """A new enabled key of ``account`` in ``region`` (the default key policy unless ``policy``)."""
    with world.lock:
        text = policy if policy is not None else default_key_policy(account)
        check_policy_document(text)
        key = Key(
            key_id=str(uuid.UUID(int=RANDOM.getrandbits(128), version=4)),
            account=account,
            region=region,
            policy=text,
            manager=manager,
            description=description,
        )
        world.keys[key.key_id] = key
        return key


def managed_ebs_key(world: World, account: str, region: str) -> Key:
    """The account's ``aws/ebs`` key in ``region``, created on first use as AWS does."""
    with world.lock:
        key_id = world.aliases.get((account, region, EBS_ALIAS))
        if key_id is not None:
            return world.keys[key_id]
        key = create_key(
            world,
            account,
            region,
            ebs_managed_key_policy(account, region),
            "Default key that protects my EBS volumes when no other key is defined",
            manager="AWS",
        )
        world.aliases[(account, region, EBS_ALIAS)] = key.key_id
        return key


def find_key(world: World, account: str, region: str, ref: str) -> Key | None:
    """Resolve a key id, key ARN, alias name or alias ARN as seen from ``account``/``region``."""
    with world.lock:
        match = _KEY_ARN.match(ref)
        if match:
            key = world.keys.get(match.group(3))
            if key and key.region == match.group(1) and key.account == match.group(2):
                return key
            return None
        match = _ALIAS_ARN.match(ref)
        if match:
            return _by_alias(world, match.group(2), match.group(1), match.group(3))
        if ref.startswith("alias/"):
            return _by_alias(world, account, region, ref)
        key = world.keys.get(ref)
        if key and key.account == account and key.region == region:
            return key
        return None


def _by_alias(world: World, account: str, region: str, alias: str) -> Key | None:
    if alias == EBS_ALIAS:
        return managed_ebs_key(world, account, region)
    key_id = world.aliases.get((account, region, alias))
    return world.keys.get(key_id) if key_id else None
