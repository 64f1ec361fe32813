"""Opening the three gates of an AMI share (pure; docs/aws-facts.md section 1), shared by share and transfer.

``open_gates`` is the one gate-opening helper: key access and snapshot permission first, launch permission
last (so an image never appears to a target before it is usable). Key policy edits are computed here, so
every dry run shows them; ``key_policy_edit`` also serves revoke, which removes what share added.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from amishare.engine.action import Action
from amishare.engine.kinds.gates import CreateGrant, PutKeyPolicy, ShareImage, ShareSnapshots, SnapshotChange
from amishare.errors import PlanRefused
from amishare.model import ImageInfo, KeyInfo, RoleRef, Target, TargetKind
from amishare.policy import key_policy
from amishare.policy.access import SOURCE_KEY_GRANT_OPERATIONS, account_root, grant_name
from amishare.policy.key_policy import KeyAccess


@dataclass(frozen=True)
class Audience:
    """Whom the gates open for, split by kind of target."""

    accounts: tuple[str, ...] = ()
    organizations: tuple[Target, ...] = ()
    ous: tuple[Target, ...] = ()
    public: bool = False

    @classmethod
    def of(cls, targets: tuple[Target, ...] | list[Target]) -> Audience:
        """The audience of ``targets``: each kind sorted, each target once."""
        return cls(
            tuple(sorted({t.value for t in targets if t.kind is TargetKind.ACCOUNT})),
            tuple(sorted({t for t in targets if t.kind is TargetKind.ORGANIZATION})),
            tuple(sorted({t for t in targets if t.kind is TargetKind.OU})),
            any(t.kind is TargetKind.PUBLIC for t in targets),
        )

    def key_access(self) -> KeyAccess:
        """The key access this audience needs (the public needs none: a public image is unencrypted)."""
        return KeyAccess(
            accounts=frozenset(self.accounts),
            organizations=frozenset(t.org_id for t in self.organizations if t.org_id),
            ous=frozenset((t.org_id, t.ou_id) for t in self.ous if t.org_id and t.ou_id),
        )

    @property
    def names_anyone(self) -> bool:
        """Whether any target is left in this audience."""
        return bool(self.accounts or self.organizations or self.ous or self.public)


@dataclass(frozen=True)
class Subject:
    """The image whose gates open: an observed one, or one the plan makes (``image`` ``@<key>``)."""

    image: str
    info: ImageInfo | None  # None: made by this plan
    label: str  # how humans read it
    keys: tuple[KeyInfo, ...]  # the keys that encrypt it
    ready: tuple[str, ...] = ()  # the actions it waits for (the copy that makes it)

    @property
    def pending_label(self) -> str:
        """How an action names the image while it is still to be made ("" once it has an id)."""
        return self.label if self.image.startswith("@") else ""


@dataclass(frozen=True)
class Acting:
    """Where the gate-opening actions run, and as whom."""

    account: str
    region: str
    scope: str  # what names the actions' keys (an image, or an image and region)
    role: RoleRef | None = None


def open_gates(
    subject: Subject,
    audience: Audience,
    acting: Acting,
    *,
    key_access: str = "policy",
    autoscaling: tuple[str, ...] = (),
    launch_last: bool = True,
) -> list[Action]:
    """Key access and snapshot permission for ``audience`` on ``subject``, then launch permission.

    ``launch_last`` False opens the three together (a transfer: its destinations copy only once all
    three are open, so nobody sees the image early, and the gates cost one round trip instead of two)."""
    gates: list[Action] = []
    wanted = audience.key_access() | KeyAccess(autoscaling=frozenset(autoscaling))
    for key in subject.keys:
        gates += _key_access(key, audience, acting, key_access, wanted, subject.ready)
    gates += _share_snapshots(subject, audience.accounts, acting)
    missing = _launch_missing(subject.info, audience)
    if missing.names_anyone:
        depends_on = (*subject.ready, *(a.key for a in gates)) if launch_last else subject.ready
        gates.append(_share_image(subject, missing, acting, depends_on))
    return gates


def _launch_missing(info: ImageInfo | None, audience: Audience) -> Audience:
    """The part of ``audience`` the launch permission of ``info`` does not name yet (all of it for an image to
    be made)."""
    if info is None:
        return audience
    launch = info.launch
    return Audience(
        tuple(a for a in audience.accounts if a not in launch.accounts),
        tuple(t for t in audience.organizations if not launch.includes(t)),
        tuple(t for t in audience.ous if not launch.includes(t)),
        audience.public and not launch.public,
    )


def _share_image(subject: Subject, missing: Audience, acting: Acting, depends_on: tuple[str, ...]) -> ShareImage:
    return ShareImage(
        key=f"share-image:{acting.scope}",
        account=acting.account,
        region=acting.region,
        role=acting.role,
        image=subject.image,
        image_label=subject.pending_label,
        accounts=missing.accounts,
        organizations=tuple(t.value for t in missing.organizations),
        ous=tuple(t.value for t in missing.ous),
        public=missing.public,
        depends_on=depends_on,
    )


def _key_access(
    key: KeyInfo,
    audience: Audience,
    acting: Acting,
    key_access: str,
    wanted: KeyAccess,
    ready: tuple[str, ...],
) -> list[Action]:
    if not wanted:
        return []
    if key.aws_managed:
        raise PlanRefused(f"key {key.arn} is AWS managed and cannot be shared")
    if key_access == "grant":
        return _grants(key, audience, acting, wanted)
    if key.account != acting.account or key.policy is None:
        raise _uneditable(key, wanted)
    return key_policy_edit(key, key.policy, acting, ready, add=wanted)


def key_policy_edit(
    key: KeyInfo,
    policy: dict[str, Any],
    acting: Acting,
    depends_on: tuple[str, ...],
    *,
    add: KeyAccess = key_policy.NO_ACCESS,
    remove: KeyAccess = key_policy.NO_ACCESS,
) -> list[Action]:
    """The PutKeyPolicy that adds and removes access in amishare's statements of ``key`` (none when the policy
    already says so), with the resulting policy computed and size-checked here, before any call."""
    after = key_policy.edited(policy, key.region, add, remove)
    if after == policy:
        return []
    try:
        text = key_policy.check_size(after)
    except key_policy.KeyPolicyTooLarge as exc:
        raise PlanRefused(f"key {key.arn}: {exc}") from exc
    before = key_policy.granted(policy)
    return [
        PutKeyPolicy(
            key=f"key-policy:{acting.scope}:{key.arn}",
            account=acting.account,
            region=key.region,
            role=acting.role,
            key_arn=key.arn,
            key_label=key.display,
            add=add - before,
            remove=remove & before,
            policy=text,
            previous=json.dumps(policy),
            depends_on=depends_on,
        )
    ]


def _grants(key: KeyInfo, audience: Audience, acting: Acting, wanted: KeyAccess) -> list[Action]:
    if audience.organizations or audience.ous:
        raise PlanRefused(
            "KMS grants name one principal each and cannot name an organization or OU: "
            "use --key-access policy for organization and OU targets"
        )
    if key.account != acting.account:
        raise _uneditable(key, wanted)
    return [
        CreateGrant(
            key=f"grant:{key.arn}:{account}",
            account=acting.account,
            region=key.region,
            key_arn=key.arn,
            key_label=key.display,
            grantee=account_root(account),
            operations=SOURCE_KEY_GRANT_OPERATIONS,
            name=grant_name(account),
            purpose=f"grant on key {key.display} for {account} ({', '.join(SOURCE_KEY_GRANT_OPERATIONS)})",
        )
        for account in audience.accounts
        if not _has_grant(key, account)
    ]


def _uneditable(key: KeyInfo, access: KeyAccess) -> PlanRefused:
    statements = json.dumps(key_policy.statements_for(key.region, access), indent=2)
    reason = key.policy_error or "its policy cannot be read"
    return PlanRefused(
        f"amishare cannot edit the policy of key {key.arn} ({reason}). Ask the key's owner (account "
        f"{key.account}) to add these statements to its key policy, then run again:\n{statements}"
    )


def _has_grant(key: KeyInfo, account: str) -> bool:
    root = account_root(account)
    return any(
        g.name == grant_name(account) or (g.grantee == root and set(SOURCE_KEY_GRANT_OPERATIONS) <= set(g.operations))
        for g in key.grants
    )


def _share_snapshots(subject: Subject, accounts: tuple[str, ...], acting: Acting) -> list[Action]:
    if not accounts:
        return []
    changes: tuple[SnapshotChange, ...] | None = None
    if subject.info is not None:
        changes = tuple(
            SnapshotChange(s.snapshot_id, missing)
            for s in subject.info.snapshots
            if (missing := tuple(a for a in accounts if a not in s.shared_with))
        )
        if not changes:
            return []
    return [
        ShareSnapshots(
            key=f"share-snapshots:{acting.scope}",
            account=acting.account,
            region=acting.region,
            role=acting.role,
            image=subject.image,
            image_label=subject.pending_label,
            accounts=accounts,
            changes=changes,
            depends_on=subject.ready,
        )
    ]
