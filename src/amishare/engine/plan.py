"""Plans: what a command will do, as data. ``Plan`` holds the actions in dependency order with what a
reader should know; ``Plan.merge`` joins the plans of many images into one; ``Plan.to_dict`` /
``Plan.from_dict`` give the versioned JSON document the journal stores and ``resume`` replays
(docs/output.md, ``amishare.plan/1``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from amishare.engine.action import Action
from amishare.model import Target, TargetKind


@dataclass(frozen=True)
class Plan:
    """What a command will do: actions in dependency order, and what a reader should know.

    A plan may span many images and regions (``Plan.merge``); ``image_id`` and ``region`` name the
    first image and its region (what a one-image command was asked about)."""

    command: str  # "share", "revoke", "transfer", ...
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

    def named(self, unit: str) -> Plan:
        """This plan with every action key under ``unit`` (``<unit>:<key>``), references and dependencies alike:
        plans of many units (a manifest's) merge without their keys meeting."""
        renamed = {a.key: f"{unit}:{a.key}" for a in self.actions}
        return replace(self, actions=tuple(a.rekeyed(renamed) for a in self.actions))

    @classmethod
    def merge(cls, command: str, plans: list[Plan]) -> Plan:
        """One plan doing what ``plans`` do (their actions' keys must be distinct: they name their images)."""
        if not plans:
            raise ValueError("nothing to merge")
        keys = [a.key for p in plans for a in p.actions]
        if len(keys) != len(set(keys)):
            raise ValueError("plans to merge share action keys")
        first = plans[0]
        return cls(
            command=command,
            account=first.account,
            region=first.region,
            image_id=first.image_id,
            targets=tuple(dict.fromkeys(t for p in plans for t in p.targets)),
            actions=tuple(a for p in plans for a in p.actions),
            subject=first.subject,
            notes=tuple(n for p in plans for n in p.notes),
            warnings=tuple(w for p in plans for w in p.warnings),
            extra={"images": [p.image_id for p in plans], **first.extra},
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
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
