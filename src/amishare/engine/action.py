"""What every step of a plan is: the ``Action`` base class, the names of its kinds (``ActionKind``), and
its place in the ``amishare.plan/1`` document.

Each kind of step amishare can take is one frozen, typed subclass (pure data, ``amishare.engine.kinds``).
A kind declares, in one place: its typed fields, ``describe()`` for humans, its ``symbol`` in the
plan view (``+`` opens or creates, ``-`` closes or deletes, ``~`` edits, ``…`` waits), whether it
``waits`` (on copies or on a batch), and the IAM permissions it needs as data (``needs``,
``amishare.engine.permissions``). The AWS handler of each kind is registered in ``amishare.aws.steps.handlers``.

An action's ``key`` names it in the journal, in log lines and (hashed) as a ClientToken; it depends
only on what the action does, so re-planning the same change gives the same keys. A field whose
value is ``"@<action key>"`` stands for the image that action produces (``"@<key>#<output>"`` for
another of its outputs) and is resolved by the executor (``Action.resolved``, ``amishare.engine.refs``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from amishare.engine.codec import decode, encode, field_hints
from amishare.engine.permissions import Permission, Principal, Resource, permission
from amishare.engine.refs import collect_refs, rekey, resolve
from amishare.model import RoleRef


class ActionKind(StrEnum):
    """The names of the action kinds (stable: they appear in plans, journals and JSON)."""

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
    COPY_TO_DESTINATION = "CopyToDestination"
    REVOKE_DESTINATION = "RevokeDestination"
    DELETE_STAGING = "DeleteStaging"
    PUBLISH_PARAMETER = "PublishParameter"
    UPDATE_LAUNCH_TEMPLATE = "UpdateLaunchTemplate"
    DEPRECATE_IMAGE = "DeprecateImage"
    PROTECT_IMAGE = "ProtectImage"
    TAG_IMAGE = "TagImage"
    DISABLE_IMAGE = "DisableImage"
    DEREGISTER_IMAGE = "DeregisterImage"


@dataclass(frozen=True, kw_only=True)
class Action:
    """What every step has: its key, where it runs, as whom, and what it waits for."""

    key: str
    account: str
    region: str
    depends_on: tuple[str, ...] = ()  # must have succeeded
    after: tuple[str, ...] = ()  # must have finished, whatever their outcome (clean-up, revocation)
    actor: Principal = Principal.SOURCE  # who the call is made as (its permissions' principal)
    role: RoleRef | None = None  # the role assumed in ``account`` (None: the caller's credentials)

    kind: ClassVar[ActionKind]  # set by each concrete kind (``amishare.engine.kinds`` registers it)
    symbol: ClassVar[str] = "~"
    waits: ClassVar[bool] = False  # mostly waits (copies, batches): runs beside the --max-parallel calls
    needs: ClassVar[tuple[Permission, ...]] = ()

    def describe(self) -> str:
        """One line for humans: what this action does."""
        raise NotImplementedError

    @property
    def summary(self) -> str:
        return self.describe()

    @property
    def permissions(self) -> tuple[str, ...]:
        """The IAM actions this action's calls need (its own, then ``sts:AssumeRole`` when it assumes a role)."""
        names = [p.action for p in self.needs]
        if self.role:
            names.append("sts:AssumeRole")
        return tuple(dict.fromkeys(names))

    def declared(self) -> tuple[tuple[Principal, Permission], ...]:
        """Each permission with the principal that needs it."""
        found = [(p.principal or self.actor, p) for p in self.needs]
        if self.role:
            found.append((Principal.CALLER, permission("sts:AssumeRole", Resource.ROLE)))
        return tuple(found)

    @property
    def params(self) -> dict[str, Any]:
        """The kind's own fields (and the role it acts through), as JSON values."""
        out = {f.name: encode(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name not in BASE_FIELDS}
        if self.actor is not Principal.SOURCE:
            out["actor"] = self.actor.value
        if self.role:  # flat in the document (amishare.plan/1), as it always was
            out["role_arn"] = self.role.role_arn
            if self.role.external_id:
                out["external_id"] = self.role.external_id
        return out

    def resolved(self, outputs: dict[str, dict[str, Any]]) -> Action:
        """This action with ``@key`` references replaced by the outputs they name (unresolvable ones stay)."""
        changes = {}
        for f in dataclasses.fields(self):
            if f.name in BASE_FIELDS:
                continue
            value = getattr(self, f.name)
            new = resolve(value, outputs)
            if new is not value:
                changes[f.name] = new
        return dataclasses.replace(self, **changes) if changes else self

    def rekeyed(self, renamed: dict[str, str]) -> Action:
        """This action under ``renamed[key]``, its dependencies and ``@key`` references renamed alike."""
        changes: dict[str, Any] = {
            "key": renamed.get(self.key, self.key),
            "depends_on": tuple(renamed.get(k, k) for k in self.depends_on),
            "after": tuple(renamed.get(k, k) for k in self.after),
        }
        for f in dataclasses.fields(self):
            if f.name not in BASE_FIELDS:
                value = getattr(self, f.name)
                new = rekey(value, renamed)
                if new is not value:
                    changes[f.name] = new
        return dataclasses.replace(self, **changes)

    def unresolved(self) -> str | None:
        """The first ``@key`` reference left in the fields, if any."""
        refs: set[str] = set()
        for f in dataclasses.fields(self):
            if f.name not in BASE_FIELDS:
                collect_refs(getattr(self, f.name), refs)
        return min(refs) if refs else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind.value,
            "account": self.account,
            "region": self.region,
            "summary": self.describe(),
            "params": self.params,
            "depends_on": list(self.depends_on),
            "after": list(self.after),
            "permissions": list(self.permissions),
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Action:
        """The action a ``to_dict`` document describes (the registry picks its class by ``kind``)."""
        # The kinds subclass Action, so their registry is imported when a document is read, not before.
        from amishare.engine.kinds import KINDS

        cls = KINDS[ActionKind(data["kind"])]
        params = dict(data.get("params", {}))
        hints = field_hints(cls)
        values: dict[str, Any] = {
            name: decode(hints[name], params[name])
            for name in (f.name for f in dataclasses.fields(cls) if f.name not in BASE_FIELDS)
            if name in params
        }
        return cls(
            key=data["key"],
            account=data["account"],
            region=data["region"],
            depends_on=tuple(data.get("depends_on", ())),
            after=tuple(data.get("after", ())),
            actor=Principal(params.get("actor", Principal.SOURCE.value)),
            role=_role(data["account"], params),
            **values,
        )


def _role(account: str, params: dict[str, Any]) -> RoleRef | None:
    """The role of an action's document (kept flat: ``role_arn`` and ``external_id``), None when it has none."""
    return RoleRef(account, params["role_arn"], params.get("external_id")) if params.get("role_arn") else None


BASE_FIELDS = frozenset({"key", "account", "region", "depends_on", "after", "actor", "role"})


def client_token(run_id: str, action_key: str, attempt: int = 0) -> str:
    """A CopyImage ClientToken (at most 64 ASCII characters) for an action of a run (and an attempt)."""
    seed = f"{run_id}|{action_key}" + (f"|{attempt}" if attempt else "")
    return "amishare-" + hashlib.sha256(seed.encode()).hexdigest()[:48]
