"""KMS: multi-account keys, aliases, enforced key policies and grants.

Rules (docs/aws-facts.md section 2; KMS Developer Guide "Key policies", "Grants",
"Allowing users in other accounts to use a KMS key", "AWS managed keys"):

* every account and region has an AWS managed key ``alias/aws/ebs`` (``KeyManager: AWS``)
  whose policy lets only principals of that account use it, only through EC2 of that region;
* a customer managed key's policy is evaluated on every call (explicit Deny wins), then its
  grants; principals of the owning account need the policy too (``arn:aws:iam::<acct>:root``
  delegates to IAM, which the sandbox does not model: such a statement allows the account);
* another account's key is reachable only by key ARN or alias ARN, and only for the
  operations KMS supports across accounts;
* key state: a disabled key refuses cryptographic use (``DisabledException``), a key pending
  deletion refuses everything but describe (``KMSInvalidStateException``);
* a key policy is at most 32,768 bytes, and PutKeyPolicy refuses a policy that would lock the
  caller out unless ``BypassPolicyLockoutSafetyCheck`` is set.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from amishare.policy.evaluate import Caller, PolicyError, Request, evaluate, parse_policy, parsed_policy
from amishare.sandbox import authz, scp
from amishare.sandbox.state import RANDOM, Grant, Key, World, new_id, utcnow
from amishare.sandbox.wire.protocol import AwsFault

KEY_POLICY_MAX_BYTES = 32_768  # docs/aws-facts.md section 2: not adjustable
EBS_ALIAS = "alias/aws/ebs"
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
GRANT_OPERATIONS = {
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "Sign",
    "Verify",
    "GetPublicKey",
    "CreateGrant",
    "RetireGrant",
    "DescribeKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
}
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


# ----------------------------------------------------------------------- world helpers
def create_key(
    world: World, account: str, region: str, policy: str | None = None, description: str = "", manager: str = "CUSTOMER"
) -> Key:
    with world.lock:
        text = policy if policy is not None else default_key_policy(account)
        _check_policy_document(text)
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


def is_allowed(world: World, key: Key, caller: Caller, action: str, extra: Mapping[str, Any] | None = None) -> bool:
    """SCPs over the caller's account, then the key policy, then grants (KMS Developer Guide, "Authentication
    and access control"; an SCP limits what EC2 does with the caller's credentials too). A statement or grant
    naming the account delegates to IAM: when the sandbox enforces identity policies, the role's must allow it."""
    if scp.denies(world, caller, f"kms:{action}", key.region):
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
    named = {caller.arn} | ({caller.role_arn} if caller.role_arn else set())
    root = f"arn:aws:iam::{caller.account}:root"
    grants = [g for g in key.grants if action in g.operations]
    if any(g.grantee in named for g in grants):
        return True
    return caller.delegated and any(g.grantee == root for g in grants) and authz.allows(world, caller, delegated)


def usable_via_ec2(world: World, key: Key, caller: Caller, ec2_region: str, actions: list[str]) -> str | None:
    """Why EC2, acting for ``caller`` in ``ec2_region``, cannot use ``key`` (None when it can)."""
    if key.region != ec2_region:
        return f"Given key ID is not accessible: key {key.arn} is not in {ec2_region}"
    if key.state != "Enabled":
        return f"Given key ID is not accessible: key {key.arn} is {key.state}"
    via = {"kms:ViaService": f"ec2.{ec2_region}.amazonaws.com", "kms:GrantIsForAWSResource": True}
    for action in actions:
        if not is_allowed(world, key, caller, action, via):
            return f"Given key ID is not accessible: {caller.arn} may not kms:{action} on {key.arn}"
    return None


def _check_policy_document(text: str) -> dict[str, Any]:
    if len(text.encode()) > KEY_POLICY_MAX_BYTES:
        raise AwsFault(
            "LimitExceededException",
            f"Key policy is {len(text.encode())} bytes; the quota is {KEY_POLICY_MAX_BYTES} bytes.",
        )
    try:
        return parse_policy(text)
    except PolicyError as exc:
        raise AwsFault("MalformedPolicyDocumentException", str(exc)) from exc


# ---------------------------------------------------------------------------- handlers
class KmsHandlers:
    """The KMS operations the sandbox answers, in boto3's terms."""

    def __init__(self, world: World) -> None:
        self.world = world

    # -- resolution and authorization
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

    def _authorize(self, key: Key, caller: Caller, action: str, extra: Mapping[str, Any] | None = None) -> None:
        if not is_allowed(self.world, key, caller, action, extra):
            raise AwsFault(
                "AccessDeniedException",
                f"User: {caller.arn} is not authorized to perform: kms:{action} on resource: {key.arn} "
                f"because no resource-based policy allows the kms:{action} action",
            )
        if key.state == "PendingDeletion" and action not in ("DescribeKey", "CancelKeyDeletion", "ListGrants"):
            raise AwsFault("KMSInvalidStateException", f"{key.arn} is pending deletion.")
        if key.state == "Disabled" and action in CRYPTO_OPERATIONS:
            raise AwsFault("DisabledException", f"{key.arn} is disabled.")

    def _use(
        self, caller: Caller, region: str, ref: str | None, action: str, extra: Mapping[str, Any] | None = None
    ) -> Key:
        with self.world.lock:
            key = self._key(caller, region, ref, action)
            self._authorize(key, caller, action, extra)
            return key

    def _metadata(self, key: Key) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "AWSAccountId": key.account,
            "KeyId": key.key_id,
            "Arn": key.arn,
            "CreationDate": key.created,
            "Enabled": key.state == "Enabled",
            "Description": key.description,
            "KeyUsage": "ENCRYPT_DECRYPT",
            "KeyState": key.state,
            "Origin": "AWS_KMS",
            "KeyManager": key.manager,
            "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
            "KeySpec": "SYMMETRIC_DEFAULT",
            "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
            "MultiRegion": False,
        }
        if key.deletion_date:
            meta["DeletionDate"] = key.deletion_date
        return meta

    # -- keys
    def CreateKey(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        policy = p.get("Policy")
        if policy is not None:
            _check_policy_document(policy)
            self._lockout_check(caller, policy, p.get("BypassPolicyLockoutSafetyCheck", False))
        key = create_key(self.world, caller.account, region, policy, p.get("Description", ""))
        key.tags = {t["TagKey"]: t["TagValue"] for t in p.get("Tags", [])}
        return {"KeyMetadata": self._metadata(key)}

    def DescribeKey(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._use(caller, region, p.get("KeyId"), "DescribeKey")
        return {"KeyMetadata": self._metadata(key)}

    def ListKeys(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            managed_ebs_key(self.world, caller.account, region)
            keys = [k for k in self.world.keys.values() if k.account == caller.account and k.region == region]
        return {"Keys": [{"KeyId": k.key_id, "KeyArn": k.arn} for k in keys], "Truncated": False}

    def EnableKey(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._use(caller, region, p.get("KeyId"), "EnableKey")
        self._customer_only(key)
        key.state = "Enabled"
        return {}

    def DisableKey(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._use(caller, region, p.get("KeyId"), "DisableKey")
        self._customer_only(key)
        key.state = "Disabled"
        return {}

    def ScheduleKeyDeletion(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._use(caller, region, p.get("KeyId"), "ScheduleKeyDeletion")
        self._customer_only(key)
        days = int(p.get("PendingWindowInDays", 30))
        if not 7 <= days <= 30:
            raise AwsFault("ValidationException", "PendingWindowInDays must be between 7 and 30")
        key.state = "PendingDeletion"
        key.deletion_date = utcnow() + dt.timedelta(days=days)
        return {"KeyId": key.arn, "DeletionDate": key.deletion_date, "KeyState": key.state, "PendingWindowInDays": days}

    def CancelKeyDeletion(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._use(caller, region, p.get("KeyId"), "CancelKeyDeletion")
        key.state, key.deletion_date = "Disabled", None
        return {"KeyId": key.arn}

    @staticmethod
    def _customer_only(key: Key) -> None:
        if key.manager == "AWS":
            raise AwsFault("UnsupportedOperationException", f"{key.arn} is an AWS managed key.")

    # -- aliases
    def CreateAlias(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        name = p.get("AliasName", "")
        if not re.fullmatch(r"alias/[a-zA-Z0-9/_-]{1,250}", name):
            raise AwsFault("ValidationException", f"Alias {name!r} must start with alias/ and use [a-zA-Z0-9/_-]")
        if name.startswith("alias/aws/"):
            raise AwsFault("NotAuthorizedException", "Aliases beginning with alias/aws/ are reserved for AWS.")
        with self.world.lock:
            key = self._use(caller, region, p.get("TargetKeyId"), "CreateAlias")
            if key.account != caller.account:
                raise AwsFault("AccessDeniedException", "An alias must point to a key of the caller's account")
            if (caller.account, region, name) in self.world.aliases:
                raise AwsFault(
                    "AlreadyExistsException",
                    f"An alias with the name arn:aws:kms:{region}:{caller.account}:{name} already exists",
                )
            self.world.aliases[(caller.account, region, name)] = key.key_id
        return {}

    def DeleteAlias(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        name = p.get("AliasName", "")
        with self.world.lock:
            if self.world.aliases.pop((caller.account, region, name), None) is None:
                raise AwsFault("NotFoundException", f"Alias arn:aws:kms:{region}:{caller.account}:{name} is not found.")
        return {}

    def ListAliases(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            managed_ebs_key(self.world, caller.account, region)
            wanted = None
            if p.get("KeyId"):
                wanted = self._key(caller, region, p["KeyId"], "ListAliases").key_id
            rows = [
                {"AliasName": alias, "AliasArn": f"arn:aws:kms:{reg}:{acct}:{alias}", "TargetKeyId": kid}
                for (acct, reg, alias), kid in sorted(self.world.aliases.items())
                if acct == caller.account and reg == region and (wanted is None or kid == wanted)
            ]
        return {"Aliases": rows, "Truncated": False}

    # -- policies
    def GetKeyPolicy(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._use(caller, region, p.get("KeyId"), "GetKeyPolicy")
        return {"Policy": key.policy, "PolicyName": "default"}

    def ListKeyPolicies(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        self._use(caller, region, p.get("KeyId"), "ListKeyPolicies")
        return {"PolicyNames": ["default"], "Truncated": False}

    def PutKeyPolicy(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        policy = p.get("Policy", "")
        with self.world.lock:
            key = self._use(caller, region, p.get("KeyId"), "PutKeyPolicy")
            if key.manager == "AWS":
                raise AwsFault("AccessDeniedException", f"The policy of AWS managed key {key.arn} cannot be changed.")
            _check_policy_document(policy)
            self._lockout_check(caller, policy, p.get("BypassPolicyLockoutSafetyCheck", False), key)
            key.policy = policy
        return {}

    def _lockout_check(self, caller: Caller, policy: str, bypass: bool, key: Key | None = None) -> None:
        if bypass:
            return
        probe = key or Key(key_id="probe", account=caller.account, region="", policy=policy)
        saved, probe.policy, saved_grants = probe.policy, policy, probe.grants
        try:
            probe.grants = []
            allowed = is_allowed(self.world, probe, caller, "PutKeyPolicy")
        finally:
            probe.policy, probe.grants = saved, saved_grants
        if not allowed:
            raise AwsFault(
                "MalformedPolicyDocumentException",
                "The new key policy will not allow you to update the key policy in the future.",
            )

    # -- grants
    def CreateGrant(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        operations = list(p.get("Operations", []))
        unknown = [o for o in operations if o not in GRANT_OPERATIONS]
        if not operations or unknown:
            raise AwsFault("ValidationException", f"Invalid grant operations: {unknown or operations}")
        grantee = p.get("GranteePrincipal", "")
        if not grantee:
            raise AwsFault("ValidationException", "GranteePrincipal is required")
        extra = {"kms:GranteePrincipal": grantee, "kms:GrantOperations": operations, "kms:GrantIsForAWSResource": False}
        with self.world.lock:
            key = self._use(caller, region, p.get("KeyId"), "CreateGrant", extra)
            name = p.get("Name")
            for grant in key.grants:  # a retried CreateGrant with the same name returns the same grant
                if name and grant.name == name and grant.grantee == grantee and grant.operations == operations:
                    return {"GrantToken": grant.token, "GrantId": grant.grant_id}
            grant = Grant(
                grant_id=new_id("g", 32)[2:],
                key_arn=key.arn,
                grantee=grantee,
                operations=operations,
                issuing_account=f"arn:aws:iam::{caller.account}:root",
                name=name,
                retiring=p.get("RetiringPrincipal"),
                constraints=p.get("Constraints"),
            )
            key.grants.append(grant)
        return {"GrantToken": grant.token, "GrantId": grant.grant_id}

    def ListGrants(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._use(caller, region, p.get("KeyId"), "ListGrants")
        rows = []
        for g in key.grants:
            if p.get("GrantId") and g.grant_id != p["GrantId"]:
                continue
            if p.get("GranteePrincipal") and g.grantee != p["GranteePrincipal"]:
                continue
            row: dict[str, Any] = {
                "KeyId": g.key_arn,
                "GrantId": g.grant_id,
                "CreationDate": g.created,
                "GranteePrincipal": g.grantee,
                "IssuingAccount": g.issuing_account,
                "Operations": g.operations,
            }
            if g.name:
                row["Name"] = g.name
            if g.retiring:
                row["RetiringPrincipal"] = g.retiring
            if g.constraints:
                row["Constraints"] = g.constraints
            rows.append(row)
        return {"Grants": rows, "Truncated": False}

    def RevokeGrant(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            key = self._use(caller, region, p.get("KeyId"), "RevokeGrant")
            self._drop_grant(key, p.get("GrantId", ""))
        return {}

    def RetireGrant(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            if p.get("GrantToken"):
                for key in self.world.keys.values():
                    for grant in key.grants:
                        if grant.token == p["GrantToken"]:
                            self._may_retire(caller, key, grant)
                            key.grants.remove(grant)
                            return {}
                raise AwsFault("NotFoundException", "Grant token not found")
            key = self._key(caller, region, p.get("KeyId"), "RetireGrant")
            found = next((g for g in key.grants if g.grant_id == p.get("GrantId")), None)
            if found is None:
                raise AwsFault("NotFoundException", f"Grant ID {p.get('GrantId')} not found")
            self._may_retire(caller, key, found)
            key.grants.remove(found)
        return {}

    @staticmethod
    def _may_retire(caller: Caller, key: Key, grant: Grant) -> None:
        allowed = {grant.retiring, f"arn:aws:iam::{key.account}:root"}
        if "RetireGrant" in grant.operations:
            allowed.add(grant.grantee)
        if not ({caller.arn, caller.role_arn, f"arn:aws:iam::{caller.account}:root"} & allowed):
            raise AwsFault("AccessDeniedException", f"{caller.arn} may not retire grant {grant.grant_id}")

    @staticmethod
    def _drop_grant(key: Key, grant_id: str) -> None:
        for grant in key.grants:
            if grant.grant_id == grant_id:
                key.grants.remove(grant)
                return
        raise AwsFault("NotFoundException", f"Grant ID {grant_id} not found")

    # -- tags
    def TagResource(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._use(caller, region, p.get("KeyId"), "TagResource")
        key.tags.update({t["TagKey"]: t["TagValue"] for t in p.get("Tags", [])})
        return {}

    def ListResourceTags(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._use(caller, region, p.get("KeyId"), "ListResourceTags")
        return {"Tags": [{"TagKey": k, "TagValue": v} for k, v in sorted(key.tags.items())], "Truncated": False}

    # -- cryptography (an opaque envelope: enough to prove who may use which key)
    def Encrypt(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._use(caller, region, p.get("KeyId"), "Encrypt")
        plaintext = base64.b64decode(p.get("Plaintext", ""))
        return {"CiphertextBlob": _seal(key, plaintext), "KeyId": key.arn, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}

    def Decrypt(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        arn, plaintext = _open(base64.b64decode(p.get("CiphertextBlob", "")))
        key = self._use(caller, region, p.get("KeyId") or arn, "Decrypt")
        if key.arn != arn:
            raise AwsFault(
                "IncorrectKeyException", "The key ID in the request does not identify the key used to encrypt"
            )
        return {"KeyId": key.arn, "Plaintext": plaintext, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}

    def GenerateDataKey(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._use(caller, region, p.get("KeyId"), "GenerateDataKey")
        plaintext = uuid.uuid4().bytes + uuid.uuid4().bytes
        return {"CiphertextBlob": _seal(key, plaintext), "Plaintext": plaintext, "KeyId": key.arn}

    def GenerateDataKeyWithoutPlaintext(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._use(caller, region, p.get("KeyId"), "GenerateDataKeyWithoutPlaintext")
        return {"CiphertextBlob": _seal(key, uuid.uuid4().bytes * 2), "KeyId": key.arn}

    def ReEncrypt(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        arn, plaintext = _open(base64.b64decode(p.get("CiphertextBlob", "")))
        source = self._use(caller, region, p.get("SourceKeyId") or arn, "ReEncryptFrom")
        destination = self._use(caller, region, p.get("DestinationKeyId"), "ReEncryptTo")
        return {"CiphertextBlob": _seal(destination, plaintext), "SourceKeyId": source.arn, "KeyId": destination.arn}


def _seal(key: Key, plaintext: bytes) -> bytes:
    return b"amishare-sandbox:" + key.arn.encode() + b":" + base64.b64encode(plaintext)


def _open(blob: bytes) -> tuple[str, bytes]:
    try:
        prefix, rest = blob.split(b":", 1)
        arn, payload = rest.rsplit(b":", 1)
        if prefix != b"amishare-sandbox":
            raise ValueError(prefix)
        return arn.decode(), base64.b64decode(payload)
    except ValueError as exc:
        raise AwsFault("InvalidCiphertextException", "The ciphertext is not valid.") from exc
