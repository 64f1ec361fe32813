"""Key policies the sandbox's contract tests build: the owner's admin statement plus the statements a test
needs (``policy_document``), a statement admitting the target (``allow``), the usual scoping condition (``SCOPED``)."""

from __future__ import annotations

from typing import Any

from tests.support.world import OWNER, REGION, TARGET

USE_ACTIONS = ["kms:DescribeKey", "kms:CreateGrant", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"]

SCOPED = {"StringEquals": {"kms:ViaService": f"ec2.{REGION}.amazonaws.com", "kms:CallerAccount": TARGET}}


def policy_document(*statements: dict[str, Any]) -> dict[str, Any]:
    admin = {
        "Sid": "Admin",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{OWNER}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    return {"Version": "2012-10-17", "Statement": [admin, *statements]}


def allow(
    principal: Any = None, condition: dict[str, Any] | None = None, actions: Any = None, effect: str = "Allow"
) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": effect,
        "Principal": principal or {"AWS": f"arn:aws:iam::{TARGET}:root"},
        "Action": actions or USE_ACTIONS,
        "Resource": "*",
    }
    if condition:
        statement["Condition"] = condition
    return statement
