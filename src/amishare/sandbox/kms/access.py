"""Who may use a KMS key for what: SCPs, the key policy, then grants (KMS Developer Guide, "Authentication and
access control"); what EC2 may do with a key for a caller; and ``KmsCalls``, the resolution and authorization
every KMS handler goes through (cross-account reach, key state)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

from amishare.policy.evaluate import Caller, Request, evaluate, parsed_policy
from amishare.sandbox import authz, scp
from amishare.sandbox.kms.keys import find_key
from amishare.sandbox.state import Key, World
from amishare.sandbox.wire.protocol import AwsFault

CROSS_ACCOUNT_OPERATIONS = {
    # KMS Developer Guide, "Permissions reference", column "Cross-account use".
    "CreateGrant",
    "Decrypt",
    "DescribeKey",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GetPublicKey",
    "ListGrants",
    "ReEncrypt",
    "ReEncryptFrom",
    "ReEncryptTo",
    "RetireGrant",
    "RevokeGrant",
    "Sign",
    "Verify",
}
CRYPTO_OPERATIONS = {
    "Encrypt",
    "Decrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "ReEncrypt",
    "CreateGrant",
}

# What a key pending deletion still answers (KMS Developer Guide, "Key states of AWS KMS keys"; docs/aws-facts.md
# section 2): reading and managing its policy, grants and tags; everything else, cryptographic use first of all,
# is KMSInvalidStateException. (RetireGrant, reached by its grant, never asks the key's state.)
PENDING_DELETION_OPERATIONS = {
    "DescribeKey",
    "CancelKeyDeletion",
    "GetKeyPolicy",
    "ListKeyPolicies",
    "PutKeyPolicy",
    "ListGrants",
    "RevokeGrant",
    "ListResourceTags",
}


def is_allowed(
    world: World,
    key: Key,
    caller: Caller,
    action: str,
    extra: Mapping[str, Any] | None = None,
    tokens: Collection[str] = (),
) -> bool:
    """SCPs over the caller's account, then the key policy, then grants (KMS Developer Guide, "Authentication
    and access control"; an SCP limits what EC2 does with the caller's credentials too). A statement or grant
    naming the account delegates to IAM: when the sandbox enforces identity policies, the role's must allow it.
    ``tokens``: the request's ``GrantTokens`` (a grant still propagating counts only through its token)."""
    if scp.denies(world, caller, f"kms:{action}", key.region, extra):
        return False
    context: dict[str, Any] = world.principal_context(caller)
    context["kms:CallerAccount"] = caller.account
    context.update(extra or {})
    policy = parsed_policy(key.policy)
    decision = evaluate(policy, Request(caller, f"kms:{action}", key.arn, context))
    if decision == "Deny":
        return False
    delegated = authz.Check(f"kms:{action}", (key.arn,), dict(extra or {}))
    if decision == "Allow":
        if not authz.enforced(world, caller):
            return True
        direct = evaluate(policy, Request(replace(caller, delegated=False), f"kms:{action}", key.arn, context))
        return direct == "Allow" or authz.allows(world, caller, delegated)
    return _granted(world, key, caller, action, delegated, tokens)


def _granted(
    world: World, key: Key, caller: Caller, action: str, delegated: authz.Check, tokens: Collection[str]
) -> bool:
    """A grant for ``action`` names the caller (its ARN or its role's), or names its account and IAM allows it. A
    grant authorizes nothing until it has propagated (``grant_delay_seconds`` after it was made, on the sandbox's
    clock) unless the request carries its grant token (KMS Developer Guide, "Eventual consistency", "Grant
    tokens"): EC2's own use of a key (a copy, a launch) carries none."""
    named = {caller.arn} | ({caller.role_arn} if caller.role_arn else set())
    root = f"arn:aws:iam::{caller.account}:root"
    now = world.clock()
    grants = [g for g in key.grants if action in g.operations and (g.effective_at <= now or g.token in tokens)]
    if any(g.grantee in named for g in grants):
        return True
    return caller.delegated and any(g.grantee == root for g in grants) and authz.allows(world, caller, delegated)


def usable_via_ec2(world: World, key: Key, caller: Caller, ec2_region: str, actions: list[str]) -> str | None:
    """Why EC2, acting for ``caller`` in ``ec2_region``, cannot use ``key`` (None when it can)."""
    if key.region != ec2_region:
        return f"Given key ID is not accessible: key {key.arn} is not in {ec2_region}"
    if key.state != "Enabled":
        return f"Given key ID is not accessible: key {key.arn} is {key.state}"
    via = {
        "kms:ViaService": f"ec2.{ec2_region}.amazonaws.com",
        "kms:GrantIsForAWSResource": True,
        "aws:ViaAWSService": "true",  # IAM User Guide, global condition keys: a service acting for the principal
    }
    for action in actions:
        if not is_allowed(world, key, caller, action, via):
            return f"Given key ID is not accessible: {caller.arn} may not kms:{action} on {key.arn}"
    return None


def refuse_lockout(world: World, caller: Caller, policy: str, bypass: bool, key: Key | None = None) -> None:
    """The policy lockout safety check of CreateKey and PutKeyPolicy: ``policy`` must leave the caller able to
    change it again (its grants aside), unless ``BypassPolicyLockoutSafetyCheck``."""
    if bypass:
        return
    probe = key or Key(key_id="probe", account=caller.account, region="", policy=policy)
    saved, probe.policy, saved_grants = probe.policy, policy, probe.grants
    try:
        probe.grants = []
        allowed = is_allowed(world, probe, caller, "PutKeyPolicy")
    finally:
        probe.policy, probe.grants = saved, saved_grants
    if not allowed:
        raise AwsFault(
            "MalformedPolicyDocumentException",
            "The new key policy will not allow you to update the key policy in the future.",
        )


class KmsCalls:
    """What every KMS handler does first: resolve the key a call names, then authorize the call on it."""

    def __init__(self, world: World) -> None:
        self.world = world

    def _key(self, caller: Caller, region: str, ref: str | None, action: str) -> Key:
        if not ref:
            raise AwsFault("ValidationException", "1 validation error detected: KeyId must not be empty")
        key = find_key(self.world, caller.account, region, ref)
        if key is None:
            raise AwsFault("NotFoundException", f"Key '{self._display(caller, region, ref)}' does not exist")
        if key.region != region:
            raise AwsFault("NotFoundException", f"Key '{ref}' does not exist in {region}")
        if key.account != caller.account and action not in CROSS_ACCOUNT_OPERATIONS:
            raise AwsFault(
                "AccessDeniedException",
                f"kms:{action} does not support cross-account use; {caller.arn} cannot call it on {key.arn}",
            )
        return key

    @staticmethod
    def _display(caller: Caller, region: str, ref: str) -> str:
        if ref.startswith("arn:"):
            return ref
        if ref.startswith("alias/"):
            return f"arn:aws:kms:{region}:{caller.account}:{ref}"
        return f"arn:aws:kms:{region}:{caller.account}:key/{ref}"

    def _authorize(
        self,
        key: Key,
        caller: Caller,
        action: str,
        extra: Mapping[str, Any] | None = None,
        tokens: Collection[str] = (),
    ) -> None:
        if not is_allowed(self.world, key, caller, action, extra, tokens):
            raise AwsFault(
                "AccessDeniedException",
                f"User: {caller.arn} is not authorized to perform: kms:{action} on resource: {key.arn} "
                f"because no resource-based policy allows the kms:{action} action",
            )
        if key.state == "PendingDeletion" and action not in PENDING_DELETION_OPERATIONS:
            raise AwsFault("KMSInvalidStateException", f"{key.arn} is pending deletion.")
        if key.state == "Disabled" and action in CRYPTO_OPERATIONS:
            raise AwsFault("DisabledException", f"{key.arn} is disabled.")

    def _use(
        self,
        caller: Caller,
        region: str,
        ref: str | None,
        action: str,
        extra: Mapping[str, Any] | None = None,
        tokens: Collection[str] | None = None,
    ) -> Key:
        """The key ``ref`` names, once ``caller`` may ``action`` on it (``tokens``: the request's ``GrantTokens``)."""
        with self.world.lock:
            key = self._key(caller, region, ref, action)
            self._authorize(key, caller, action, extra, tokens or ())
            return key
