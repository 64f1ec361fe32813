"""Service control policies: the guardrails of an organization over its member accounts.

Rules (AWS Organizations User Guide, "Service control policies" and "SCP evaluation"):

* SCPs apply to every principal of a member account, its root user included, and never to the
  management account nor to a service-linked role (Auto Scaling's ``AWSServiceRoleForAutoScaling``: "SCPs do not
  affect any service-linked role");
* a request is allowed only when, at every level from the root down to the account (the root, each OU,
  the account), some SCP attached there allows it, and no SCP anywhere on that path denies it; the
  evaluation uses the same policy language (``Action``/``NotAction``, ``Resource``, conditions);
* this also holds for what a service does on the principal's behalf with its credentials: EC2 using a KMS key
  for a launch or a copy is denied when an SCP denies the principal ``kms:...``; such a request carries
  ``aws:ViaAWSService`` true (false on the principal's own requests: IAM User Guide, "AWS global condition context
  keys"), so a data-perimeter SCP that denies only direct use leaves it alone.

* AWS attaches ``FullAWSAccess`` (policy id ``p-FullAWSAccess``) to every root, OU and account; it stays
  until detached.

Simplification (docs/sandbox.md): statements are matched against the resource ``*`` (a statement naming
specific ARNs matches nothing here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from amishare.policy.evaluate import Caller, Request, evaluate, parsed_policy
from amishare.sandbox.state import Organization, World
from amishare.sandbox.wire.protocol import AwsFault

FULL_ACCESS_ID = "p-FullAWSAccess"
SERVICE_LINKED = ":role/aws-service-role/"  # the path of every service-linked role
FULL_ACCESS = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
DENIED = {
    "ec2": ("UnauthorizedOperation", 403),
    "kms": ("AccessDeniedException", 400),
}


def denies(world: World, caller: Caller, action: str, region: str, extra: Mapping[str, Any] | None = None) -> bool:
    """Whether the SCPs over ``caller``'s account refuse ``action`` (``service:Operation``) in ``region``; ``extra``:
    the request's own condition keys (EC2 using a key for the caller: ``kms:ViaService``, ``aws:ViaAWSService``)."""
    org = world.organization_of(caller.account)
    if org is None or caller.account == org.master or not (org.attached or org.without_full_access):
        return False
    if caller.role_arn is not None and SERVICE_LINKED in caller.role_arn:
        return False  # "SCPs do not affect any service-linked role" (Auto Scaling's launches included)
    context = dict(world.principal_context(caller))
    context["aws:RequestedRegion"] = region
    context.update(extra or {})
    request = Request(caller, action, "*", context)
    for level in [*org.path_ids(caller.account), caller.account]:
        documents = [parsed_policy(org.policies[p][1]) for p in sorted(org.attached.get(level, ()))]
        if level not in org.without_full_access:
            documents.append(parsed_policy(FULL_ACCESS))
        decisions = [evaluate(document, request) for document in documents]
        if "Deny" in decisions or "Allow" not in decisions:
            return True
    return False


def refusal(service: str, action: str, caller: Caller) -> AwsFault:
    code, status = DENIED.get(service, ("AccessDenied", 403))
    return AwsFault(
        code,
        f"User: {caller.arn} is not authorized to perform: {service}:{action} with an explicit deny in a service "
        "control policy",
        status,
    )


def policy_summary(org: Organization, policy_id: str) -> dict[str, Any]:
    name, _ = org.policies[policy_id]
    return {
        "Id": policy_id,
        "Arn": f"arn:aws:organizations::{org.master}:policy/{org.org_id}/service_control_policy/{policy_id}",
        "Name": name,
        "Type": "SERVICE_CONTROL_POLICY",
        "AwsManaged": False,
    }
