"""Actions and plans: data, with stable keys and the IAM permissions each action needs.

An action's ``key`` names it in the journal, in log lines and (hashed) as a ClientToken; it
depends only on what the action does, so re-planning the same change gives the same keys.
Parameters are JSON-serializable; an image produced by an earlier action is written
``"@<action key>"`` and resolved by the executor.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from amishare.model import Target


class ActionKind(StrEnum):
    REENCRYPT_IMAGE = "ReEncryptImage"
    AWAIT_IMAGE = "AwaitImage"
    PUT_KEY_POLICY = "PutKeyPolicy"
    CREATE_GRANT = "CreateGrant"
    REVOKE_GRANT = "RevokeGrant"
    SHARE_SNAPSHOTS = "ShareSnapshots"
    UNSHARE_SNAPSHOTS = "UnshareSnapshots"
    SHARE_IMAGE = "ShareImage"
    UNSHARE_IMAGE = "UnshareImage"
    STAGE_IMAGE = "StageImage"
    UPDATE_KEY_ACCESS = "UpdateKeyAccess"
    COPY_TO_DESTINATION = "CopyToDestination"
    REVOKE_DESTINATION = "RevokeDestination"
    DELETE_STAGING = "DeleteStaging"


# What CopyImage with a re-encryption needs: the call, its tags, and the keys through EC2.
COPY_IMAGE = (
    "ec2:CopyImage",
    "ec2:CreateTags",
    "kms:DescribeKey",
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKeyWithoutPlaintext",
)
# The IAM actions each kind calls (least privilege is derived from this table).
PERMISSIONS: dict[ActionKind, tuple[str, ...]] = {
    ActionKind.REENCRYPT_IMAGE: COPY_IMAGE,
    ActionKind.AWAIT_IMAGE: ("ec2:DescribeImages",),
    ActionKind.PUT_KEY_POLICY: ("kms:GetKeyPolicy", "kms:PutKeyPolicy"),
    ActionKind.CREATE_GRANT: ("kms:CreateGrant",),
    ActionKind.REVOKE_GRANT: ("kms:RevokeGrant",),
    ActionKind.SHARE_SNAPSHOTS: ("ec2:DescribeImages", "ec2:ModifySnapshotAttribute"),
    ActionKind.UNSHARE_SNAPSHOTS: ("ec2:ModifySnapshotAttribute",),
    ActionKind.SHARE_IMAGE: ("ec2:ModifyImageAttribute",),
    ActionKind.UNSHARE_IMAGE: ("ec2:ModifyImageAttribute",),
    ActionKind.STAGE_IMAGE: COPY_IMAGE,
    ActionKind.UPDATE_KEY_ACCESS: ("kms:GetKeyPolicy", "kms:PutKeyPolicy"),
    ActionKind.COPY_TO_DESTINATION: ("sts:AssumeRole", *COPY_IMAGE),
    ActionKind.REVOKE_DESTINATION: (
        "ec2:ModifyImageAttribute",
        "ec2:ModifySnapshotAttribute",
        "kms:GetKeyPolicy",
        "kms:PutKeyPolicy",
    ),
    ActionKind.DELETE_STAGING: ("ec2:DescribeImages", "ec2:DeregisterImage", "ec2:DeleteSnapshot"),
}
# Kinds that mostly wait (for copies, or for a batch): they run outside the --max-parallel bound.
WAITING_KINDS = {ActionKind.AWAIT_IMAGE, ActionKind.REVOKE_DESTINATION}
ADDS = {
    ActionKind.REENCRYPT_IMAGE,
    ActionKind.CREATE_GRANT,
    ActionKind.SHARE_SNAPSHOTS,
    ActionKind.SHARE_IMAGE,
    ActionKind.STAGE_IMAGE,
    ActionKind.COPY_TO_DESTINATION,
}
REMOVES = {
    ActionKind.REVOKE_GRANT,
    ActionKind.UNSHARE_SNAPSHOTS,
    ActionKind.UNSHARE_IMAGE,
    ActionKind.REVOKE_DESTINATION,
    ActionKind.DELETE_STAGING,
}


@dataclass(frozen=True)
class Action:
    key: str
    kind: ActionKind
    account: str
    region: str
    summary: str
    params: dict[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()  # must have succeeded
    after: tuple[str, ...] = ()  # must have finished, whatever their outcome (clean-up, revocation)

    @property
    def permissions(self) -> tuple[str, ...]:
        return PERMISSIONS[self.kind]

    @property
    def symbol(self) -> str:
        if self.kind in ADDS:
            return "+"
        if self.kind in REMOVES:
            return "-"
        return "~" if self.kind in (ActionKind.PUT_KEY_POLICY, ActionKind.UPDATE_KEY_ACCESS) else "…"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind.value,
            "account": self.account,
            "region": self.region,
            "summary": self.summary,
            "params": self.params,
            "depends_on": list(self.depends_on),
            "after": list(self.after),
            "permissions": list(self.permissions),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Action:
        return cls(
            key=data["key"],
            kind=ActionKind(data["kind"]),
            account=data["account"],
            region=data["region"],
            summary=data["summary"],
            params=data["params"],
            depends_on=tuple(data["depends_on"]),
            after=tuple(data.get("after", ())),
        )


def client_token(run_id: str, action_key: str) -> str:
    """A CopyImage ClientToken (at most 64 ASCII characters) for an action of a run."""
    return "amishare-" + hashlib.sha256(f"{run_id}|{action_key}".encode()).hexdigest()[:48]


@dataclass(frozen=True)
class Plan:
    """What a command will do: actions in dependency order, and what a reader should know."""

    command: str  # "share", "revoke" or "transfer"
    account: str
    region: str
    image_id: str
    targets: tuple[Target, ...]
    actions: tuple[Action, ...]
    subject: str  # the image that is shared: the image itself, a re-encrypted copy, or "@<action key>"
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # command-specific data (transfer: notification ...)

    @property
    def changes(self) -> bool:
        return bool(self.actions)

    def action(self, key: str) -> Action:
        for action in self.actions:
            if action.key == key:
                return action
        raise KeyError(key)

    def permissions(self) -> tuple[str, ...]:
        return tuple(sorted({p for a in self.actions for p in a.permissions}))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        from amishare.model import Target, TargetKind

        return cls(
            command=data["command"],
            account=data["account"],
            region=data["region"],
            image_id=data["image_id"],
            subject=data["subject"],
            targets=tuple(Target(TargetKind(t["kind"]), t["value"], t.get("label", "")) for t in data["targets"]),
            actions=tuple(Action.from_dict(a) for a in data["actions"]),
            notes=tuple(data["notes"]),
            warnings=tuple(data["warnings"]),
            extra=data.get("extra", {}),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "account": self.account,
            "region": self.region,
            "image_id": self.image_id,
            "subject": self.subject,
            "targets": [{"kind": t.kind.value, "value": t.value, "label": t.label} for t in self.targets],
            "actions": [a.to_dict() for a in self.actions],
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            "permissions": list(self.permissions()),
            "extra": self.extra,
        }
