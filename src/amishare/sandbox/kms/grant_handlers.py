"""KMS grants: CreateGrant (a retry with the same name returns the same grant), ListGrants, RevokeGrant,
RetireGrant (KMS Developer Guide, "Grants")."""

from __future__ import annotations

from typing import Any

from amishare.policy.evaluate import Caller
from amishare.sandbox.kms.access import KmsCalls
from amishare.sandbox.state import Grant, Key, new_id
from amishare.sandbox.wire.protocol import AwsFault

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


def _check_grant_request(operations: list[str], grantee: str) -> None:
    unknown = [o for o in operations if o not in GRANT_OPERATIONS]
    if not operations or unknown:
        raise AwsFault("ValidationException", f"Invalid grant operations: {unknown or operations}")
    if not grantee:
        raise AwsFault("ValidationException", "GranteePrincipal is required")


def _grant_row(g: Grant) -> dict[str, Any]:
    """A grant as ListGrants lists it."""
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
    return row


def _may_retire(caller: Caller, key: Key, grant: Grant) -> None:
    allowed = {grant.retiring, f"arn:aws:iam::{key.account}:root"}
    if "RetireGrant" in grant.operations:
        allowed.add(grant.grantee)
    if not ({caller.arn, caller.role_arn, f"arn:aws:iam::{caller.account}:root"} & allowed):
        raise AwsFault("AccessDeniedException", f"{caller.arn} may not retire grant {grant.grant_id}")


def _drop_grant(key: Key, grant_id: str) -> None:
    for grant in key.grants:
        if grant.grant_id == grant_id:
            key.grants.remove(grant)
            return
    raise AwsFault("NotFoundException", f"Grant ID {grant_id} not found")


class GrantHandlers(KmsCalls):
    """The KMS operations on grants."""

    def CreateGrant(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        operations = list(p.get("Operations", []))
        grantee = p.get("GranteePrincipal", "")
        _check_grant_request(operations, grantee)
        extra = {"kms:GranteePrincipal": grantee, "kms:GrantOperations": operations, "kms:GrantIsForAWSResource": False}
        with self.world.lock:
            key = self._use(caller, region, p.get("KeyId"), "CreateGrant", extra, tokens=p.get("GrantTokens"))
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
                effective_at=self.world.clock() + self.world.settings.grant_delay_seconds,
            )
            key.grants.append(grant)
        return {"GrantToken": grant.token, "GrantId": grant.grant_id}

    def ListGrants(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._use(caller, region, p.get("KeyId"), "ListGrants")
        rows = [
            _grant_row(g)
            for g in key.grants
            if not (p.get("GrantId") and g.grant_id != p["GrantId"])
            and not (p.get("GranteePrincipal") and g.grantee != p["GranteePrincipal"])
        ]
        return {"Grants": rows, "Truncated": False}

    def RevokeGrant(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            key = self._use(caller, region, p.get("KeyId"), "RevokeGrant")
            _drop_grant(key, p.get("GrantId", ""))
        return {}

    def RetireGrant(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            if p.get("GrantToken"):
                for key in self.world.keys.values():
                    for grant in key.grants:
                        if grant.token == p["GrantToken"]:
                            _may_retire(caller, key, grant)
                            key.grants.remove(grant)
                            return {}
                raise AwsFault("NotFoundException", "Grant token not found")
            key = self._key(caller, region, p.get("KeyId"), "RetireGrant")
            found = next((g for g in key.grants if g.grant_id == p.get("GrantId")), None)
            if found is None:
                raise AwsFault("NotFoundException", f"Grant ID {p.get('GrantId')} not found")
            _may_retire(caller, key, found)
            key.grants.remove(found)
        return {}
