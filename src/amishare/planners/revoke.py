"""The revoke planner (pure): close the three gates of an AMI share for some targets only.

Launch permission closes first (so the image stops appearing to the targets), then snapshot permission and
key access; key access still needed by another image shared with the same target is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from amishare.engine.action import Action
from amishare.engine.kinds.gates import RevokeGrant, SnapshotChange, UnshareImage, UnshareSnapshots
from amishare.engine.plan import Plan
from amishare.model import ImageInfo, KeyInfo, Observation, Target, TargetKind
from amishare.planners.gates import Acting, Audience, key_policy_edit
from amishare.policy.access import grant_name


@dataclass(frozen=True)
class _Closing:
    """What the revocation of one image's key access needs to know: for whom, on which image, after what."""

    obs: Observation
    audience: Audience
    subject: str  # the image whose gates close (the image itself, or its re-encrypted copy)
    first: tuple[str, ...]  # the launch permission's closing, which the other gates wait for


def plan_revoke(obs: Observation, targets: tuple[Target, ...]) -> Plan:
    """Close the three gates for ``targets`` only; keep key access still needed by other images."""
    image = obs.image
    notes: list[str] = []
    warnings: list[str] = []
    subject_info = _revoked_image(obs, notes)
    if subject_info is None:
        return Plan("revoke", obs.caller_account, obs.region, image.image_id, targets, (), image.image_id, tuple(notes))
    subject = subject_info.image_id
    audience = Audience.of(targets)
    actions = _unshare_image(obs, subject_info, targets, notes)
    first = tuple(a.key for a in actions)
    notes += _still_shared_with_groups(subject_info, audience)
    actions += _unshare_snapshots(obs, subject_info, audience.accounts, first)
    closing = _Closing(obs, audience, subject, first)
    for arn in subject_info.key_arns:
        actions += _revoke_key(closing, obs.keys[arn], notes, warnings)
    return Plan(
        command="revoke",
        account=obs.caller_account,
        region=obs.region,
        image_id=image.image_id,
        targets=targets,
        actions=tuple(actions),
        subject=subject,
        notes=tuple(notes),
        warnings=tuple(warnings),
    )


def _revoked_image(obs: Observation, notes: list[str]) -> ImageInfo | None:
    """The image whose gates close: the image, or its re-encrypted copy when it is on aws/ebs (None: neither
    can have been shared)."""
    image = obs.image
    if not any(obs.keys[a].aws_managed for a in image.key_arns if a in obs.keys):
        return image
    if obs.reencrypted is None:
        notes.append(
            f"{image.image_id} is encrypted with aws/ebs and has no re-encrypted copy: nothing of it "
            "can be shared, so nothing needs revoking"
        )
        return None
    notes.append(f"revoking on the re-encrypted copy {obs.reencrypted.image_id} of {image.image_id}")
    return obs.reencrypted


def _unshare_image(obs: Observation, info: ImageInfo, targets: tuple[Target, ...], notes: list[str]) -> list[Action]:
    """The launch permission's closing for the targets it names (none when it names none of them)."""
    present = [t for t in targets if info.launch.includes(t)]
    absent = [t for t in targets if t not in present]
    if absent:
        notes.append(f"launch permission already closed for {', '.join(str(t) for t in absent)}")
    if not present:
        return []
    closing = Audience.of(present)
    return [
        UnshareImage(
            key=f"unshare-image:{info.image_id}",
            account=obs.caller_account,
            region=obs.region,
            image=info.image_id,
            accounts=closing.accounts,
            organizations=tuple(t.value for t in closing.organizations),
            ous=tuple(t.value for t in closing.ous),
            public=closing.public,
        )
    ]


def _still_shared_with_groups(info: ImageInfo, audience: Audience) -> list[str]:
    """A note when accounts are revoked from an image still shared with organizations or OUs they may be in."""
    groups = sorted(info.launch.organizations | info.launch.ous)
    if not (audience.accounts and groups):
        return []
    return [
        f"{info.image_id} stays shared with {', '.join(g.rsplit('/', 1)[-1] for g in groups)}: members of those "
        "can still launch it (revoke the organization or OU to stop that)"
    ]


def _unshare_snapshots(
    obs: Observation, info: ImageInfo, accounts: tuple[str, ...], first: tuple[str, ...]
) -> list[Action]:
    changes = tuple(
        SnapshotChange(s.snapshot_id, shared)
        for s in info.snapshots
        if (shared := tuple(a for a in accounts if a in s.shared_with))
    )
    if not changes:
        return []
    return [
        UnshareSnapshots(
            key=f"unshare-snapshots:{info.image_id}",
            account=obs.caller_account,
            region=obs.region,
            image=info.image_id,
            changes=changes,
            depends_on=first,
        )
    ]


def _still_needed(obs: Observation, key: KeyInfo, target: Target, notes: list[str]) -> bool:
    still = sorted(s.image_id for s in obs.siblings if key.arn in s.key_arns and s.launch.includes(target))
    if still:
        notes.append(f"key access of {target} to {key.display} kept: {', '.join(still)} still shared with it")
    return bool(still)


def _revoke_key(closing: _Closing, key: KeyInfo, notes: list[str], warnings: list[str]) -> list[Action]:
    """The key policy edit and grant revocations that remove the audience's access to ``key``, but the access
    another image shared with them still needs (a warning instead when the key is not the caller's to edit)."""
    obs, audience = closing.obs, closing.audience
    candidates = [*(Target(TargetKind.ACCOUNT, a) for a in audience.accounts), *audience.organizations, *audience.ous]
    removable = [t for t in candidates if not _still_needed(obs, key, t, notes)]
    remove = Audience.of(removable).key_access()
    if not remove:
        return []
    if key.account != obs.caller_account or key.policy is None:
        names = ", ".join(sorted(remove.accounts) + sorted(remove.organizations) + [u for _, u in sorted(remove.ous)])
        warnings.append(
            f"key {key.arn} is not editable by {obs.caller_account} ({key.policy_error}): its owner "
            f"must remove the access of {names}"
        )
        return []
    acting = Acting(obs.caller_account, obs.region, closing.subject)
    actions = key_policy_edit(key, key.policy, acting, closing.first, remove=remove)
    return actions + _revoke_grants(closing, key, sorted(remove.accounts))


def _revoke_grants(closing: _Closing, key: KeyInfo, accounts: list[str]) -> list[Action]:
    """The revocation of amishare's grants on ``key`` for ``accounts``."""
    return [
        RevokeGrant(
            key=f"revoke-grant:{key.arn}:{grant.grant_id}",
            account=closing.obs.caller_account,
            region=key.region,
            key_arn=key.arn,
            key_label=key.display,
            grant_id=grant.grant_id,
            grantee=account,
            depends_on=closing.first,
        )
        for account in accounts
        for grant in key.grants
        if grant.name == grant_name(account)
    ]
