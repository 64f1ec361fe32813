"""KMS keys, aliases and tags: CreateKey, DescribeKey, ListKeys, Enable/DisableKey, key deletion, aliases, tags."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from amishare.policy.evaluate import Caller
from amishare.sandbox.kms.access import KmsCalls, refuse_lockout
from amishare.sandbox.kms.keys import check_policy_document, create_key, managed_ebs_key
from amishare.sandbox.state import Key, utcnow
from amishare.sandbox.wire.protocol import AwsFault


def key_metadata(key: Key) -> dict[str, Any]:
    """``KeyMetadata`` as CreateKey and DescribeKey answer it."""
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


def _customer_only(key: Key) -> None:
    if key.manager == "AWS":
        raise AwsFault("UnsupportedOperationException", f"{key.arn} is an AWS managed key.")


class KeyHandlers(KmsCalls):
    """The KMS operations on keys, their aliases and their tags."""

    # -- keys
    def CreateKey(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        policy = p.get("Policy")
        if policy is not None:
            check_policy_document(policy)
            refuse_lockout(self.world, caller, policy, p.get("BypassPolicyLockoutSafetyCheck", False))
        key = create_key(self.world, caller.account, region, policy, p.get("Description", ""))
        key.tags = {t["TagKey"]: t["TagValue"] for t in p.get("Tags", [])}
        return {"KeyMetadata": key_metadata(key)}

    def DescribeKey(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._use(caller, region, p.get("KeyId"), "DescribeKey", tokens=p.get("GrantTokens"))
        return {"KeyMetadata": key_metadata(key)}

    def ListKeys(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            managed_ebs_key(self.world, caller.account, region)
            keys = [k for k in self.world.keys.values() if k.account == caller.account and k.region == region]
        return {"Keys": [{"KeyId": k.key_id, "KeyArn": k.arn} for k in keys], "Truncated": False}

    def EnableKey(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._use(caller, region, p.get("KeyId"), "EnableKey")
        _customer_only(key)
        key.state = "Enabled"
        return {}

    def DisableKey(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._use(caller, region, p.get("KeyId"), "DisableKey")
        _customer_only(key)
        key.state = "Disabled"
        return {}

    def ScheduleKeyDeletion(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._use(caller, region, p.get("KeyId"), "ScheduleKeyDeletion")
        _customer_only(key)
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

    # -- tags
    def TagResource(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._use(caller, region, p.get("KeyId"), "TagResource")
        key.tags.update({t["TagKey"]: t["TagValue"] for t in p.get("Tags", [])})
        return {}

    def ListResourceTags(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._use(caller, region, p.get("KeyId"), "ListResourceTags")
        return {"Tags": [{"TagKey": k, "TagValue": v} for k, v in sorted(key.tags.items())], "Truncated": False}
