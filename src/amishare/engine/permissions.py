"""The IAM permissions amishare declares as data: who calls (``Principal``), on which resources
(``Resource`` ARN patterns), under which conditions (``Permission``), and what observation reads.

Action kinds declare their own ``needs`` with ``permission``; IAM policies, docs/iam.md and the
permissions test derive from these declarations.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Principal(StrEnum):
    """Who makes a call.

    ``caller``: the credentials amishare runs with (it assumes the roles); ``source``: the image
    owner (the caller, or the source role a transfer names); ``destination``: a destination
    account's role; ``auditor``: a read-only role of an account amishare inspects.
    """

    CALLER = "caller"
    SOURCE = "source"
    DESTINATION = "destination"
    AUDITOR = "auditor"


class Resource(StrEnum):
    """Which resources a call is authorized against, as ARN patterns (``RESOURCE_ARNS``)."""

    IMAGE = "image"
    SNAPSHOT = "snapshot"
    SOURCE_KEY = "source-key"  # a key of the image owner: the image's own key or its share key
    DESTINATION_KEY = "destination-key"  # a destination's own key, which its copies are encrypted with
    ROLE = "role"  # a role amishare assumes
    PARAMETER = "parameter"  # an SSM parameter of a destination
    LAUNCH_TEMPLATE = "launch-template"  # a launch template of a destination
    ANY = "*"  # calls that support no resource-level permission (Describe*, ...)


RESOURCE_ARNS: dict[Resource, str] = {
    Resource.IMAGE: "arn:aws:ec2:{region}::image/*",
    Resource.SNAPSHOT: "arn:aws:ec2:{region}::snapshot/*",
    Resource.SOURCE_KEY: "arn:aws:kms:{region}:{source}:key/*",
    Resource.DESTINATION_KEY: "arn:aws:kms:{region}:{destination}:key/*",
    Resource.ROLE: "arn:aws:iam::{destination}:role/{role}",
    Resource.PARAMETER: "arn:aws:ssm:{region}:{destination}:parameter/*",
    Resource.LAUNCH_TEMPLATE: "arn:aws:ec2:{region}:{destination}:launch-template/*",
    Resource.ANY: "*",
}


@dataclass(frozen=True)
class Permission:
    """One IAM action a kind calls: by whom, on which resources, under which conditions.

    ``principal`` ``None`` means "the principal the action runs as" (its ``actor``)."""

    action: str
    resources: tuple[Resource, ...] = (Resource.ANY,)
    principal: Principal | None = None
    conditions: tuple[tuple[str, str, str], ...] = ()  # (operator, key, value template)


def permission(
    action: str, *resources: Resource, principal: Principal | None = None, via_ec2: bool = False
) -> Permission:
    """``action`` on ``resources`` (any resource when none is named); ``via_ec2``: only through EC2 (a KMS call
    EC2 makes on the principal's behalf)."""
    conditions: tuple[tuple[str, str, str], ...] = ()
    if via_ec2:
        conditions = (("StringEquals", "kms:ViaService", "ec2.{region}.amazonaws.com"),)
        if action == "kms:CreateGrant":  # EC2 creates grants for AWS resources only (docs/aws-facts.md section 2)
            conditions += (("Bool", "kms:GrantIsForAWSResource", "true"),)
    return Permission(action, resources or (Resource.ANY,), principal, conditions)


# What observation reads (every command, --dry-run included), by the principal that reads.
READ_NEEDS: tuple[Permission, ...] = (
    permission("sts:GetCallerIdentity", principal=Principal.CALLER),
    permission("ec2:DescribeImages", principal=Principal.SOURCE),
    permission("ec2:DescribeImageAttribute", Resource.IMAGE, principal=Principal.SOURCE),
    permission("ec2:DescribeSnapshots", principal=Principal.SOURCE),
    permission("ec2:DescribeSnapshotAttribute", Resource.SNAPSHOT, principal=Principal.SOURCE),
    permission("ec2:GetImageBlockPublicAccessState", principal=Principal.SOURCE),
    permission("kms:DescribeKey", Resource.SOURCE_KEY, principal=Principal.SOURCE),
    permission("kms:ListAliases", principal=Principal.SOURCE),
    permission("kms:GetKeyPolicy", Resource.SOURCE_KEY, principal=Principal.SOURCE),
    permission("kms:ListGrants", Resource.SOURCE_KEY, principal=Principal.SOURCE),
    # a transfer's preflight, through each destination's role: its key, and its launch template when one is named
    permission("kms:DescribeKey", Resource.DESTINATION_KEY, principal=Principal.DESTINATION),
    permission("ec2:DescribeLaunchTemplates", principal=Principal.DESTINATION),
    # cleanup: what still uses an image, in its owner's account and the accounts it is shared with
    permission("ec2:DescribeImageReferences", principal=Principal.SOURCE),
    permission("autoscaling:DescribeLaunchConfigurations", principal=Principal.SOURCE),
    permission("rbin:ListRules", principal=Principal.SOURCE),
    permission("ec2:DescribeImageReferences", principal=Principal.DESTINATION),
    permission("autoscaling:DescribeLaunchConfigurations", principal=Principal.DESTINATION),
    # a manifest's plan: each family's versions (an SSM parameter's history), what each target's pointers name
    permission("ssm:GetParameterHistory", Resource.PARAMETER, principal=Principal.SOURCE),
    permission("ssm:GetParameter", Resource.PARAMETER, principal=Principal.DESTINATION),
    permission("ec2:DescribeLaunchTemplateVersions", principal=Principal.DESTINATION),
)
READ_PERMISSIONS = tuple(p.action for p in READ_NEEDS)
