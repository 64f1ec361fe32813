"""Identity policies of assumed roles, enforced when asked (``Sandbox(enforce_iam=True)``).

Rules (IAM User Guide, "Policy evaluation logic"; EC2 API Reference, "Authorization"; KMS Developer Guide,
"Key policies: allowing access through IAM policies"):

* a request by a role session is allowed only when one of the role's identity policies (inline and attached
  managed) allows the action on every resource the request is authorized against, and none denies it; the
  account's root credentials are not limited (they are not subject to IAM policies);
* EC2 authorizes a request against the resources it names: an image, its snapshots, a launch template;
  ``CopyImage`` against the source image and its snapshots as well as the new ones (docs/aws-facts.md section 3),
  and the tags it puts on them as ``ec2:CreateTags`` with ``ec2:CreateAction`` = ``CopyImage``; KMS against the
  key, SSM against the parameter, STS against the role, Lambda against the function (``Invoke`` as
  ``lambda:InvokeFunction``: sandbox/functions.py); ``RunInstances`` with ``resolve:ssm:NAME`` also needs
  ``ssm:GetParameters`` on the parameter (SSM User Guide, "Native parameter support for Amazon Machine Image IDs");
* a key policy statement naming the account (its root) delegates to IAM: the role's identity policy must also
  allow the use, with the request's context (``kms:ViaService`` when EC2 uses the key for it). A statement or
  grant naming the role itself needs no identity policy.

Refusals are worded as AWS words them: ``UnauthorizedOperation`` (EC2), ``AccessDeniedException`` (KMS, SSM,
Organizations, Recycle Bin, Lambda), ``AccessDenied`` (STS, Auto Scaling, others).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from amishare.policy.evaluate import Caller, Request, evaluate, parsed_policy, statement_matches
from amishare.sandbox import functions
from amishare.sandbox.kms.keys import find_key
from amishare.sandbox.state import World
from amishare.sandbox.wire import moto_compat
from amishare.sandbox.wire.protocol import AwsFault

REFUSALS = {
    "ec2": ("UnauthorizedOperation", 403),
    "kms": ("AccessDeniedException", 400),
    "ssm": ("AccessDeniedException", 400),
    "organizations": ("AccessDeniedException", 400),
    "rbin": ("AccessDeniedException", 403),
    "lambda": ("AccessDeniedException", 403),
}
RESOLVE_SSM = "resolve:ssm:"
ALWAYS_ALLOWED = {"sts:GetCallerIdentity"}  # STS API Reference: no permission is needed, and none can deny it
_IMAGE_ID_ACTIONS = {
    "DescribeImageAttribute",
    "ModifyImageAttribute",
    "DeregisterImage",
    "EnableImageDeprecation",
    "DisableImageDeprecation",
    "EnableImageDeregistrationProtection",
    "DisableImageDeregistrationProtection",
    "DisableImage",
    "EnableImage",
    "ResetImageAttribute",
    "CancelImageLaunchPermission",  # Service Authorization Reference: on the image (its keys: ec2:ImageID, ec2:Owner)
}
_SNAPSHOT_ID_ACTIONS = {
    "DescribeSnapshotAttribute",
    "ModifySnapshotAttribute",
    "DeleteSnapshot",
    "ResetSnapshotAttribute",
}


@dataclass(frozen=True)
class Authorization:
    """One authorization an enforced sandbox made (``World.authorizations``): which of the role's statements
    (policy name, Sid) allowed it; a statement that alone allowed some request cannot be taken away."""

    role: str
    action: str
    allowed: bool
    statements: frozenset[tuple[str, str]]


@dataclass(frozen=True)
class Check:
    """One authorization of a request: an IAM action on resources, with its context."""

    action: str
    resources: tuple[str, ...] = ("*",)
    context: Mapping[str, Any] = field(default_factory=dict)


def enforced(world: World, caller: Caller) -> bool:
    return world.settings.enforce_iam and caller.role_arn is not None and caller.service is None


def allows(world: World, caller: Caller, check: Check) -> bool:
    """Whether ``caller``'s identity policies allow ``check`` (always, when not enforced)."""
    if not enforced(world, caller):
        return True
    assert caller.role_arn is not None
    account, name = caller.role_arn.split(":")[4], caller.role_arn.rsplit("/", 1)[-1]
    documents = [(n, parsed_policy(d)) for n, d in moto_compat.role_policies(account, name)]
    context = {**world.principal_context(caller), **check.context}
    for resource in check.resources:
        request = Request(caller, check.action, resource, context)
        decisions = [evaluate(d, request) for _, d in documents]
        if "Deny" in decisions or "Allow" not in decisions:
            world.authorizations.append(Authorization(caller.role_arn, check.action, False, frozenset()))
            return False
        allowing = frozenset(
            (n, str(s.get("Sid", "")))
            for n, d in documents
            for s in d["Statement"]
            if s.get("Effect") == "Allow" and statement_matches(s, request)
        )
        world.authorizations.append(Authorization(caller.role_arn, check.action, True, allowing))
    return True


def authorize(world: World, caller: Caller, service: str, action: str, region: str, params: dict[str, Any]) -> None:
    """Refuse the request when ``caller``'s identity policies do not allow it (enforced sandboxes only)."""
    if not enforced(world, caller) or f"{service}:{action}" in ALWAYS_ALLOWED:
        return
    for check in checks(world, caller, service, action, region, params):
        if not allows(world, caller, check):
            code, status = REFUSALS.get(service, ("AccessDenied", 403))
            raise AwsFault(
                code,
                f"User: {caller.arn} is not authorized to perform: {check.action} on resource: "
                f"{check.resources[0]} because no identity-based policy allows the {check.action} action",
                status,
            )


def checks(world: World, caller: Caller, service: str, action: str, region: str, p: dict[str, Any]) -> list[Check]:
    """What AWS authorizes a request against."""
    name = f"{service}:{action}"
    if service == "ec2":
        return _ec2(world, caller, action, region, p)
    if service == "kms" and p.get("KeyId"):
        return [Check(name, (_key_arn(world, caller, region, str(p["KeyId"])),))]
    if service == "ssm" and p.get("Name"):
        parameter = str(p["Name"]).partition(":")[0].lstrip("/")
        return [Check(name, (f"arn:aws:ssm:{region}:{caller.account}:parameter/{parameter}",))]
    if service == "sts" and action == "AssumeRole":
        return [Check(name, (str(p.get("RoleArn", "*")),))]
    if service == "lambda" and p.get("FunctionName"):
        qualifier = str(p.get("Qualifier") or "") or None
        arn = functions.function_arn(str(p["FunctionName"]), region, caller.account, qualifier)
        return [Check(functions.iam_action(action), (arn,))]
    if service == "lambda":
        return [Check(functions.iam_action(action))]
    return [Check(name)]


def _image(region: str, image_id: str) -> str:
    return f"arn:aws:ec2:{region}::image/{image_id}"


def _snapshot(region: str, snapshot_id: str) -> str:
    return f"arn:aws:ec2:{region}::snapshot/{snapshot_id}"


def _ec2(world: World, caller: Caller, action: str, region: str, p: dict[str, Any]) -> list[Check]:
    name = f"ec2:{action}"
    if action == "DeregisterImage" and p.get("DeleteAssociatedSnapshots") and p.get("ImageId"):
        return _deregister_with_snapshots(world, region, str(p["ImageId"]))
    if action in _IMAGE_ID_ACTIONS and p.get("ImageId"):
        return [Check(name, (_image(region, str(p["ImageId"])),))]
    if action in _SNAPSHOT_ID_ACTIONS and p.get("SnapshotId"):
        return [Check(name, (_snapshot(region, str(p["SnapshotId"])),))]
    if action == "CopyImage":
        return _copy(world, region, p)
    if action == "RunInstances" and str(p.get("ImageId", "")).startswith(RESOLVE_SSM):
        # SSM User Guide, "Native parameter support for Amazon Machine Image IDs": whoever launches with
        # resolve:ssm: needs ssm:GetParameters on the parameter
        parameter = str(p["ImageId"])[len(RESOLVE_SSM) :].partition(":")[0].lstrip("/")
        return [
            Check(name),
            Check("ssm:GetParameters", (f"arn:aws:ssm:{region}:{caller.account}:parameter/{parameter}",)),
        ]
    if action in ("CreateLaunchTemplateVersion", "ModifyLaunchTemplate", "DeleteLaunchTemplate"):
        return [Check(name, (_template(world, caller, region, p),))]
    if action == "CreateTags":
        return [Check(name, tuple(_resource(world, region, r) for r in p.get("Resources") or []) or ("*",))]
    return [Check(name)]


def _deregister_with_snapshots(world: World, region: str, image_id: str) -> list[Check]:
    """The snapshots go with the image: deleting them is authorized as ec2:DeleteSnapshot."""
    image = world.images.get(image_id)
    snapshots = tuple(_snapshot(region, s) for s in (image.snapshot_ids() if image else []))
    found = [Check("ec2:DeregisterImage", (_image(region, image_id),))]
    return found + ([Check("ec2:DeleteSnapshot", snapshots)] if snapshots else [])


def _copy(world: World, region: str, p: dict[str, Any]) -> list[Check]:
    source_region = str(p.get("SourceRegion", region))
    source = world.images.get(str(p.get("SourceImageId", "")))
    resources = [_image(source_region, str(p.get("SourceImageId", "")))]
    if source is not None:
        resources += [_snapshot(source_region, s) for s in source.snapshot_ids()]
    made = (_image(region, "ami-00000000000000000"), _snapshot(region, "snap-00000000000000000"))
    found = [Check("ec2:CopyImage", (*resources, *made))]
    if p.get("TagSpecifications"):
        found.append(Check("ec2:CreateTags", made, {"ec2:CreateAction": "CopyImage"}))
    return found


def _resource(world: World, region: str, resource_id: str) -> str:
    if resource_id.startswith("ami-"):
        return _image(region, resource_id)
    if resource_id.startswith("snap-"):
        return _snapshot(region, resource_id)
    return "*"


def _template(world: World, caller: Caller, region: str, p: dict[str, Any]) -> str:
    found = next(
        (
            t
            for t in world.launch_templates.values()
            if t.account == caller.account
            and t.region == region
            and (t.template_id == p.get("LaunchTemplateId") or t.name == p.get("LaunchTemplateName"))
        ),
        None,
    )
    template_id = found.template_id if found else str(p.get("LaunchTemplateId") or "*")
    return f"arn:aws:ec2:{region}:{caller.account}:launch-template/{template_id}"


def _key_arn(world: World, caller: Caller, region: str, ref: str) -> str:
    if ref.startswith("arn:") and ":key/" in ref:
        return ref
    account = ref.split(":")[4] if ref.startswith("arn:") else caller.account
    name = ref.split(":", 5)[5] if ref.startswith("arn:") else ref
    key = find_key(world, account, region, name)
    return key.arn if key else f"arn:aws:kms:{region}:{account}:key/{ref}"
