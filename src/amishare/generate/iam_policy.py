"""Least-privilege IAM policies, derived from what amishare calls (pure; ``amishare iam``).

Every action kind declares the IAM actions its calls need, on which resources and under which conditions
(``engine/kinds/``); every command's reads are declared here. A role's policy for some commands is the union of
what those commands' steps need when that role runs them, grouped into statements by resources and conditions,
with the ARN patterns filled in (``*`` where a value is not given).

Roles (docs/iam.md):

    source       the credentials amishare runs with in the image owner's account (a pipeline's role): it reads,
                 shares, revokes, stages and cleans up, and assumes the other roles
    destination  the role amishare assumes in each destination account: it copies the image with its own key,
                 waits, and leaves its SSM parameter and launch template pointing at the copy
    auditor      the read-only role amishare assumes to audit an account, or to see an image from a target's side
    cleanup      the role amishare assumes to clean up another account's images (cleanup --accounts)
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from amishare.engine.action import ActionKind
from amishare.engine.kinds import KINDS
from amishare.engine.permissions import READ_NEEDS, RESOURCE_ARNS, Permission, Principal, Resource

ROLES = ("source", "destination", "auditor", "cleanup")
COMMANDS = (
    "share",
    "revoke",
    "show",
    "transfer",
    "verify",
    "shared-with-me",
    "doctor",
    "audit",
    "cleanup",
    "plan",
    "apply",
    "init",
    "leave-share",
)

K = ActionKind
_CLEANUP_KINDS = (
    K.DEPRECATE_IMAGE,
    K.DISABLE_IMAGE,
    K.DEREGISTER_IMAGE,
    K.UNSHARE_IMAGE,
    K.UNSHARE_SNAPSHOTS,
    K.PUT_KEY_POLICY,
    K.REVOKE_GRANT,
)
# The kinds each command's plans contain, by the role that runs them.
COMMAND_KINDS: dict[str, dict[str, tuple[ActionKind, ...]]] = {
    "share": {
        "source": (
            K.REENCRYPT_IMAGE,
            K.AWAIT_IMAGE,
            K.PUT_KEY_POLICY,
            K.CREATE_GRANT,
            K.SHARE_SNAPSHOTS,
            K.SHARE_IMAGE,
            K.DEPRECATE_IMAGE,
            K.PROTECT_IMAGE,
        ),
        "destination": (K.PUBLISH_PARAMETER, K.UPDATE_LAUNCH_TEMPLATE),
    },
    "revoke": {"source": (K.UNSHARE_IMAGE, K.UNSHARE_SNAPSHOTS, K.PUT_KEY_POLICY, K.REVOKE_GRANT)},
    "transfer": {
        "source": (
            K.STAGE_IMAGE,
            K.AWAIT_IMAGE,
            K.PUT_KEY_POLICY,
            K.CREATE_GRANT,
            K.SHARE_SNAPSHOTS,
            K.SHARE_IMAGE,
            K.REVOKE_DESTINATION,
            K.DELETE_STAGING,
            K.REVOKE_GRANT,
        ),
        "destination": (
            K.COPY_TO_DESTINATION,
            K.AWAIT_IMAGE,
            K.CREATE_GRANT,
            K.PUBLISH_PARAMETER,
            K.UPDATE_LAUNCH_TEMPLATE,
            K.DEPRECATE_IMAGE,
            K.PROTECT_IMAGE,
        ),
    },
    # the source cleans its own account; the cleanup role, another account (cleanup --accounts): the same steps
    "cleanup": dict.fromkeys(("source", "cleanup"), _CLEANUP_KINDS),
}


def _read(action: str, *resources: Resource) -> Permission:
    return Permission(action, resources or (Resource.ANY,))


# sts:GetCallerIdentity needs no permission (STS API Reference: it cannot even be denied): in no policy.
NO_PERMISSION_NEEDED = frozenset({"sts:GetCallerIdentity"})
# the reads only a manifest's plan makes (the _MANIFEST_READS below): not in every command's policy
MANIFEST_ONLY_READS = frozenset({"ssm:GetParameterHistory"})
_OWNER_READS = tuple(
    p
    for p in READ_NEEDS
    if (p.principal or Principal.SOURCE) is not Principal.DESTINATION
    and p.action not in NO_PERMISSION_NEEDED | MANIFEST_ONLY_READS
)
_IMAGE_READS = (
    _read("ec2:DescribeImages"),
    _read("ec2:DescribeImageAttribute", Resource.IMAGE),
    _read("ec2:DescribeSnapshots"),
    _read("ec2:DescribeSnapshotAttribute", Resource.SNAPSHOT),
)
_KEY_READS = (
    _read("kms:DescribeKey", Resource.SOURCE_KEY),
    _read("kms:ListAliases"),
    _read("kms:GetKeyPolicy", Resource.SOURCE_KEY),
    _read("kms:ListGrants", Resource.SOURCE_KEY),
)
_USE_READS = (_read("ec2:DescribeImageReferences"), _read("autoscaling:DescribeLaunchConfigurations"))
# What each command reads, by role (the steps' calls are the kinds' own, above).
COMMAND_READS: dict[str, dict[str, tuple[Permission, ...]]] = {
    "share": {
        "source": _OWNER_READS,
        "destination": (
            _read("ec2:DescribeLaunchTemplates"),
            # what the parameter and template name now: one already right is not written again (a run again)
            _read("ssm:GetParameter", Resource.PARAMETER),
            _read("ec2:DescribeLaunchTemplateVersions"),
        ),
    },
    "revoke": {"source": _OWNER_READS},
    "show": {"source": _OWNER_READS},
    "transfer": {
        "source": _OWNER_READS,
        "destination": (
            _read("kms:DescribeKey", Resource.DESTINATION_KEY),
            _read("ec2:DescribeLaunchTemplates"),
            # the copy a destination already owns, and what its parameter and template name (a run again)
            _read("ec2:DescribeImages"),
            _read("ssm:GetParameter", Resource.PARAMETER),
            _read("ec2:DescribeLaunchTemplateVersions"),
        ),
    },
    "verify": {
        "source": (
            _read("ec2:DescribeImages"),
            _read("ec2:DescribeSnapshots"),
            _read("kms:DescribeKey", Resource.SOURCE_KEY),
        )
    },
    "shared-with-me": {
        "source": (
            _read("ec2:GetAllowedImagesSettings"),
            _read("ec2:DescribeImages"),
            _read("ec2:DescribeSnapshots"),
        )
    },
    "doctor": {
        "source": (
            *_IMAGE_READS,
            *_KEY_READS,
            _read("ec2:DescribeRegions"),
            _read("organizations:DescribeOrganization"),
            _read("organizations:ListParents"),
        ),
        "auditor": (
            _read("ec2:DescribeImages"),
            _read("ec2:GetAllowedImagesSettings"),
            _read("ec2:DescribeSnapshots"),
            _read("kms:DescribeKey", Resource.DESTINATION_KEY),
        ),
    },
    "audit": {
        "source": (
            *_IMAGE_READS,
            *_KEY_READS,
            _read("ec2:GetImageBlockPublicAccessState"),
            _read("ec2:DescribeRegions"),
            _read("organizations:DescribeOrganization"),
            _read("organizations:ListAccounts"),
        ),
        "auditor": (*_IMAGE_READS, *_KEY_READS, _read("ec2:GetImageBlockPublicAccessState")),
    },
    "cleanup": {
        "source": (*_OWNER_READS, *_USE_READS, _read("rbin:ListRules")),
        "cleanup": (*_OWNER_READS, *_USE_READS, _read("rbin:ListRules")),
        "auditor": _USE_READS,  # an account an image is shared with: what uses it there
    },
}
# A manifest (plan, drift: reads only; apply: the plan's kinds too): each family's versions, each OU's members,
# then what share, revoke and transfer read.
_MANIFEST_READS = (
    _read("ssm:GetParameterHistory", Resource.PARAMETER),
    _read("ec2:DescribeImages"),
    _read("organizations:DescribeOrganization"),
    _read("organizations:ListAccounts"),
    _read("organizations:ListAccountsForParent"),
    _read("organizations:ListOrganizationalUnitsForParent"),
)
COMMAND_READS["plan"] = {
    "source": (*_OWNER_READS, *_MANIFEST_READS),
    "destination": tuple(
        dict.fromkeys((*COMMAND_READS["share"]["destination"], *COMMAND_READS["transfer"]["destination"]))
    ),
}
COMMAND_READS["apply"] = COMMAND_READS["plan"]
# init: the organization's accounts and OUs (as its management account or a delegated administrator), the caller's
# key aliases, then each member account's through the role it assumes there (AssumeRole and ListAliases only).
COMMAND_READS["init"] = {
    "source": (
        _read("organizations:DescribeOrganization"),
        _read("organizations:ListRoots"),
        _read("organizations:ListOrganizationalUnitsForParent"),
        _read("organizations:ListAccountsForParent"),
        _read("kms:ListAliases"),
    ),
    "auditor": (_read("kms:ListAliases"),),
}
# leave-share runs as the consumer's own credentials (the source role's place: the caller). Its one change is a call
# of its own, not an action kind (api/leaving.py), so its permission is listed here with its read; on images (the
# Service Authorization Reference authorizes it against the image it names, as the sandbox does).
COMMAND_READS["leave-share"] = {
    "source": (_read("ec2:DescribeImages"), _read("ec2:CancelImageLaunchPermission", Resource.IMAGE)),
}
COMMAND_KINDS["apply"] = {
    role: tuple(dict.fromkeys(k for c in ("share", "revoke", "transfer") for k in COMMAND_KINDS[c].get(role, ())))
    for role in ("source", "destination")
}

# doctor --probe: the target's launch and copy tried as dry runs through its role (what its SCPs allow); the role
# then needs these too (a dry run needs the permission of the real call; nothing is launched or copied).
PROBE_NEEDS = (_read("ec2:RunInstances"), _read("ec2:CopyImage", Resource.IMAGE, Resource.SNAPSHOT))


@dataclass(frozen=True)
class Scope:
    """The values a policy's ARN patterns are filled with (``*`` when not given)."""

    regions: tuple[str, ...] = ()
    source: str | None = None  # the image owner's account
    destination: str | None = None
    role_names: tuple[str, ...] = ()  # the roles the source may assume (default: any)


def needs(role: str, commands: Iterable[str]) -> list[Permission]:
    """Every permission ``role`` needs to run ``commands``: its steps' and its reads, without repeats."""
    found: list[Permission] = []
    for command in commands:
        for kind in COMMAND_KINDS.get(command, {}).get(role, ()):
            cls = KINDS[kind]
            found += [p for p in cls.needs if _runs_as(p, role)]
        found += list(COMMAND_READS.get(command, {}).get(role, ()))
        if role == "source" and _assumes_roles(command):
            found.append(Permission("sts:AssumeRole", (Resource.ROLE,)))
    return list(dict.fromkeys(found))


def _runs_as(permission: Permission, role: str) -> bool:
    """Whether a kind's permission is made by ``role`` when that role runs the kind (a permission declared for
    another principal, such as the caller's AssumeRole, is not)."""
    principal = permission.principal
    return principal is None or (principal is Principal.SOURCE and role in ("source", "cleanup"))


def _assumes_roles(command: str) -> bool:
    return any(r != "source" for r in (*COMMAND_KINDS.get(command, {}), *COMMAND_READS.get(command, {})))


# amishare assumes one role per account (its config names one): in a destination account that role copies,
# audits and cleans up, so it carries these three roles' permissions in one policy.
TARGET_ROLES = ("destination", "auditor", "cleanup")


def policy(role: str | tuple[str, ...], commands: Iterable[str], scope: Scope = Scope()) -> dict[str, Any]:
    """The identity policy of ``role`` (or of one principal playing several roles) for ``commands``: one
    statement per set of resources and conditions, each action once."""
    roles = (role,) if isinstance(role, str) else role
    for name in roles:
        if name not in ROLES:
            raise ValueError(f"unknown role {name!r}: one of {', '.join(ROLES)}")
    wanted = list(commands)
    groups: dict[tuple[tuple[str, ...], tuple[tuple[str, str, str], ...]], list[str]] = {}
    for permission in dict.fromkeys(p for name in roles for p in needs(name, wanted)):
        resources = tuple(sorted({arn for r in permission.resources for arn in _arns(r, scope)}))
        conditions = tuple(permission.conditions)
        groups.setdefault((resources, conditions), [])
        if permission.action not in groups[(resources, conditions)]:
            groups[(resources, conditions)].append(permission.action)
    # An action allowed on the same resources without a condition needs no conditional statement as well.
    for (resources, conditions), actions in groups.items():
        if conditions and (resources, ()) in groups:
            actions[:] = [a for a in actions if a not in groups[(resources, ())]]
    groups = {k: v for k, v in groups.items() if v}
    statements = []
    for number, ((resources, conditions), actions) in enumerate(sorted(groups.items(), key=_order), 1):
        statement: dict[str, Any] = {
            "Sid": f"Amishare{number}",
            "Effect": "Allow",
            "Action": sorted(actions),
            "Resource": list(resources) if len(resources) > 1 else resources[0],
        }
        if conditions:
            statement["Condition"] = _conditions(conditions, scope)
        statements.append(statement)
    return {"Version": "2012-10-17", "Statement": statements}


def _order(item: tuple[tuple[tuple[str, ...], tuple[tuple[str, str, str], ...]], list[str]]) -> tuple[int, str]:
    (resources, conditions), actions = item
    return (0 if resources == ("*",) else 1, json.dumps([resources, conditions, sorted(actions)]))


def _arns(resource: Resource, scope: Scope) -> list[str]:
    template = RESOURCE_ARNS[resource]
    regions = scope.regions or ("*",)
    roles = scope.role_names or ("*",)
    return [
        template.format(
            region=region,
            source=scope.source or "*",
            destination=scope.destination or "*",
            role=role,
        )
        for region in regions
        for role in roles
    ]


def _conditions(conditions: tuple[tuple[str, str, str], ...], scope: Scope) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for operator, key, value in conditions:
        values = list(dict.fromkeys(value.format(region=r) for r in (scope.regions or ("*",))))  # CopyImage once
        uses_wildcard = any("*" in v for v in values)
        op = (
            operator.replace("StringEquals", "StringLike") if uses_wildcard and operator == "StringEquals" else operator
        )
        out.setdefault(op, {})[key] = values if len(values) > 1 else values[0]
    return out


def policies(commands: Iterable[str], scope: Scope = Scope()) -> dict[str, dict[str, Any]]:
    """The policy of every role that ``commands`` use (roles with nothing to do are left out)."""
    wanted = list(commands)
    return {r: p for r in ROLES if (p := policy(r, wanted, scope))["Statement"]}
