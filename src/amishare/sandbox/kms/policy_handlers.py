"""KMS key policies: GetKeyPolicy, ListKeyPolicies, PutKeyPolicy (docs/aws-facts.md section 2: at most 32,768
bytes; an AWS managed key's policy cannot be changed; the lockout safety check)."""

from __future__ import annotations

from typing import Any

from amishare.policy.evaluate import Caller
from amishare.sandbox.kms.access import KmsCalls, refuse_lockout
from amishare.sandbox.kms.keys import check_policy_document
from amishare.sandbox.wire.protocol import AwsFault


class KeyPolicyHandlers(KmsCalls):
    """The KMS operations on a key's policy (one, named ``default``)."""

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
            check_policy_document(policy)
            refuse_lockout(self.world, caller, policy, p.get("BypassPolicyLockoutSafetyCheck", False), key)
            key.policy = policy
        return {}
