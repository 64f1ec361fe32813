"""docs/iam.md, generated from the action registry's declared permissions (pure).

``python -m amishare.generate.iam_doc > docs/iam.md`` rewrites the page; a test keeps it in step with the code.
"""

from __future__ import annotations

import json

from amishare.engine.kinds import KINDS
from amishare.engine.permissions import READ_NEEDS, RESOURCE_ARNS, Permission, Principal, Resource

HEADER = """# IAM permissions

Every action kind amishare plans declares the IAM actions its calls need, with the principal that
makes them and the resources they are authorized against (`src/amishare/engine/kinds/`); observation
declares its reads the same way. This page is generated from those declarations
(`python -m amishare.generate.iam_doc > docs/iam.md`) and a test keeps it in step. A plan lists the IAM actions
of each of its actions (`permissions`, also in `--output json`).

Principals: **caller** is the credentials amishare runs with (it assumes the roles); **source** the
image owner (the caller, or the source role a transfer names); **destination** a destination
account's role; **auditor** a read-only role. Resources are ARN patterns: `{region}`, `{source}`,
`{destination}` and `{role}` stand for the values of a run.
"""


def _resources(permission: Permission) -> str:
    return ", ".join(f"`{RESOURCE_ARNS[r]}`" for r in permission.resources)


def _conditions(permission: Permission) -> str:
    return "; ".join(f"`{op}` `{key}` = `{value}`" for op, key, value in permission.conditions) or "-"


def _row(principal: Principal | str, permission: Permission) -> str:
    return f"| {principal} | `{permission.action}` | {_resources(permission)} | {_conditions(permission)} |"


def _policies() -> list[str]:
    """Each role's generated policy for every command (``amishare iam --role ROLE``)."""
    from amishare.generate import iam_policy

    lines = [
        "## Policies by role",
        "",
        "`amishare iam [--role ROLE] [--for COMMAND,...] [--regions R] [--source ACCOUNT] [--output json]` prints",
        "these, for the commands a role runs and scoped to the regions and accounts given (`*` otherwise). They",
        "are derived from the declarations below, and proved on the local AWS: with `Sandbox(enforce_iam=True)`",
        "(`amishare sandbox serve --enforce-iam`) enforcing identity policies, share, revoke, show, transfer (with",
        "its distribution), verify, doctor, audit and cleanup run end to end as roles that carry exactly these",
        "policies, and every action of every statement is the only one allowing some call they make",
        "(`tests/integration/test_least_privilege.py`). `sts:GetCallerIdentity` needs no permission. `doctor --probe`",
        "also needs `ec2:RunInstances` and `ec2:CopyImage` in the auditor role (dry runs).",
        "",
        "The policies pass parliament (a policy linter: `tests/unit/test_iam.py`), whose list of IAM actions lacks",
        "`ec2:DescribeImageReferences` (allowlisted there); the templates of `amishare bootstrap` pass cfn-lint.",
        "",
        "amishare assumes one role per account, so the role a destination account gives it plays the",
        "destination, auditor and cleanup roles: `amishare bootstrap` gives it their merged policy (below, last).",
        "",
    ]
    for role in (*iam_policy.ROLES, iam_policy.TARGET_ROLES):
        commands = [c for c in iam_policy.COMMANDS if iam_policy.policy(role, [c])["Statement"]]
        title = role if isinstance(role, str) else f"a destination account's role ({', '.join(role)})"
        lines += [f"### {title}", "", f"For: {', '.join(commands)}.", "", "```json"]
        lines += json.dumps(iam_policy.policy(role, iam_policy.COMMANDS), indent=2).splitlines()
        lines += ["```", ""]
    return lines


def render() -> str:
    """The whole page."""
    lines = [HEADER, *_policies(), "## Reading (every command, `--dry-run` included)", "", "<!-- permissions:read -->"]
    lines += ["| principal | IAM action | resources | conditions |", "|---|---|---|---|"]
    lines += [_row(p.principal or Principal.SOURCE, p) for p in READ_NEEDS]
    lines += ["", "## Changing, by action kind", "", "<!-- permissions:actions -->"]
    for name, cls in sorted(KINDS.items(), key=lambda item: item[0].value):
        doc = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        lines += ["", f"### {name.value}", "", doc, ""]
        lines += ["| principal | IAM action | resources | conditions |", "|---|---|---|---|"]
        lines += [_row(p.principal or "the actor", p) for p in cls.needs]
        role = RESOURCE_ARNS[Resource.ROLE]
        lines.append(f"| caller | `sts:AssumeRole` | `{role}` | when the action runs through a role |")
    lines += [
        "",
        "The actor of an action is the source, except the steps a destination takes in its own account (its",
        "copy, its wait, its Auto Scaling grant), whose actor is the destination role.",
        "",
        "## What targets get",
        "",
        "On the source key, through EC2 of the key's region only: `kms:Decrypt`, `kms:DescribeKey`,",
        "`kms:CreateGrant`, `kms:ReEncrypt*`, `kms:GenerateDataKey*` (see [concepts.md](concepts.md)).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")  # noqa: T201
