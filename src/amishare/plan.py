"""The planner (pure): from an observation and the desired targets, the actions that open or
close the three gates of an AMI share (AWS-RULES.md section 1) together.

No boto3, no clock, no I/O: ``plan_share`` and ``plan_revoke`` are functions of their inputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from amishare import keypolicy
from amishare.actions import Action, ActionKind, Plan
from amishare.errors import PlanRefused
from amishare.keypolicy import KeyAccess
from amishare.model import (
    TAG_MANAGED,
    TAG_SOURCE_IMAGE,
    ImageInfo,
    KeyInfo,
    Observation,
    Target,
    TargetKind,
)

# AWS-RULES.md section 2: what a target needs on the source key, as grant operations.
GRANT_OPERATIONS = ("Decrypt", "DescribeKey", "CreateGrant", "ReEncryptFrom", "GenerateDataKeyWithoutPlaintext")
MAX_SNAPSHOT_CHANGES = 500  # AWS-RULES.md section 4: per ModifySnapshotAttribute call
SHARE_KEY_HOWTO = (
    "create a customer managed key in {region} and name it, for example:\n"
    "  aws kms create-key --region {region} --description 'amishare: re-encrypts images before sharing'\n"
    "  aws kms create-alias --region {region} --alias-name alias/amishare-share --target-key-id <KeyId from above>\n"
    'then pass --reencrypt-key alias/amishare-share, or set share_key = "alias/amishare-share" under [defaults] '
    "in amishare.toml"
)


@dataclass(frozen=True)
class ShareOptions:
    key_access: str = "policy"  # "policy" (key policy statements) or "grant" (KMS grants)
    allow_public: bool = False


def grant_name(account: str) -> str:
    return f"amishare-{account}"


def _split(targets: tuple[Target, ...]) -> tuple[list[str], list[Target], list[Target], bool]:
    accounts = sorted({t.value for t in targets if t.kind is TargetKind.ACCOUNT})
    orgs = sorted({t for t in targets if t.kind is TargetKind.ORGANIZATION})
    ous = sorted({t for t in targets if t.kind is TargetKind.OU})
    return accounts, orgs, ous, any(t.kind is TargetKind.PUBLIC for t in targets)


def _access(accounts: list[str], orgs: list[Target], ous: list[Target]) -> KeyAccess:
    return KeyAccess(
        accounts=frozenset(accounts),
        organizations=frozenset(t.org_id for t in orgs if t.org_id),
        ous=frozenset((t.org_id, t.ou_id) for t in ous if t.org_id and t.ou_id),
    )


def _names(accounts: list[str], orgs: list[Target], ous: list[Target], public: bool = False) -> str:
    parts = accounts + [str(t) for t in orgs] + [str(t) for t in ous] + (["public"] if public else [])
    return ", ".join(parts)


# ------------------------------------------------------------------------------ share
def plan_share(obs: Observation, targets: tuple[Target, ...], options: ShareOptions = ShareOptions()) -> Plan:
    """Open launch permission, snapshot permission and key access for ``targets``."""
    image = obs.image
    accounts, orgs, ous, public = _split(targets)
    notes: list[str] = []
    warnings: list[str] = []
    if image.state != "available":
        raise PlanRefused(f"image {image.image_id} is {image.state}: only an available image can be shared")
    _check_public(obs, public, options, warnings)

    actions: list[Action] = []
    waits: tuple[str, ...] = ()
    subject_info: ImageInfo | None = image
    subject = image.image_id
    keys = [obs.keys[arn] for arn in image.key_arns]
    if any(k.aws_managed for k in keys):
        if obs.reencrypted is not None:
            subject_info = obs.reencrypted
            subject = obs.reencrypted.image_id
            keys = [obs.keys[arn] for arn in obs.reencrypted.key_arns]
            notes.append(
                f"{image.image_id} is encrypted with aws/ebs, which cannot be shared: sharing its "
                f"re-encrypted copy {subject} ({', '.join(k.display for k in keys)}) instead"
            )
        else:
            share_key = _usable_share_key(obs)
            copy, wait = _reencrypt(obs, share_key)
            actions += [copy, wait]
            waits = (wait.key,)
            subject_info = None
            subject = f"@{copy.key}"
            keys = [share_key]
            notes.append(
                f"{image.image_id} is encrypted with aws/ebs, which cannot be shared: amishare copies it "
                f"re-encrypted with {share_key.display} into a new image (tagged {TAG_SOURCE_IMAGE}) "
                "and shares that copy"
            )
    if public and (keys or image.encrypted):
        raise PlanRefused(f"image {subject} is encrypted: AWS does not allow encrypted images to be public")

    gate_actions: list[Action] = []
    gate_actions += _share_keys(obs, keys, accounts, orgs, ous, options)
    gate_actions += _share_snapshots(obs, subject, subject_info, accounts, waits)
    if orgs or ous:
        notes.append(
            "snapshots cannot be shared with organizations or OUs (AWS): their members can launch the "
            "image but not copy it; name accounts (--to ACCOUNT) to let them copy"
        )
    missing = [t for t in targets if subject_info is None or not subject_info.launch.includes(t)]
    already = [t for t in targets if t not in missing]
    if already:
        notes.append(f"launch permission already open for {', '.join(str(t) for t in already)}")
    if missing:
        m_accounts, m_orgs, m_ous, m_public = _split(tuple(missing))
        actions_before = waits + tuple(a.key for a in gate_actions)
        gate_actions.append(
            Action(
                key=f"share-image:{subject}",
                kind=ActionKind.SHARE_IMAGE,
                account=obs.caller_account,
                region=obs.region,
                summary=f"launch permission on {_display(subject, image)} for "
                f"{_names(m_accounts, m_orgs, m_ous, m_public)}",
                params={
                    "image": subject,
                    "accounts": m_accounts,
                    "organizations": [t.value for t in m_orgs],
                    "ous": [t.value for t in m_ous],
                    "public": m_public,
                },
                depends_on=actions_before,
            )
        )
    return Plan(
        command="share",
        account=obs.caller_account,
        region=obs.region,
        image_id=image.image_id,
        targets=targets,
        actions=tuple(actions + gate_actions),
        subject=subject,
        notes=tuple(notes),
        warnings=tuple(warnings),
    )


def _display(subject: str, image: ImageInfo) -> str:
    return f"the re-encrypted copy of {image.image_id}" if subject.startswith("@") else subject


def _check_public(obs: Observation, public: bool, options: ShareOptions, warnings: list[str]) -> None:
    if not public:
        return
    if not options.allow_public:
        raise PlanRefused(
            f"refusing to make {obs.image.image_id} public (every AWS account could launch it): "
            "pass --allow-public if that is what you want"
        )
    if obs.block_public_access == "block-new-sharing":
        raise PlanRefused(
            f"image block public access is on for account {obs.caller_account} in {obs.region}, so "
            "AWS refuses public sharing: turn it off first with "
            f"`aws ec2 disable-image-block-public-access --region {obs.region}` if you mean it"
        )
    warnings.append(
        f"{obs.image.image_id} will be PUBLIC: every AWS account can launch it (its snapshots stay private)"
    )


def _usable_share_key(obs: Observation) -> KeyInfo:
    key = obs.share_key
    howto = SHARE_KEY_HOWTO.format(region=obs.region)
    if key is None:
        raise PlanRefused(
            f"image {obs.image.image_id} is encrypted with the AWS managed key aws/ebs, which AWS "
            f"never lets you share, and no share key is configured to re-encrypt it with: {howto}"
        )
    if key.aws_managed:
        raise PlanRefused(f"share key {key.display} is an AWS managed key, which cannot be shared: {howto}")
    if key.region != obs.region:
        raise PlanRefused(f"share key {key.arn} is in {key.region}, not {obs.region}: keys are regional; {howto}")
    if key.state != "Enabled":
        raise PlanRefused(f"share key {key.display} is {key.state}: enable it (aws kms enable-key) or use another")
    return key


def _reencrypt(obs: Observation, key: KeyInfo) -> tuple[Action, Action]:
    image = obs.image
    key_name = f"reencrypt:{image.image_id}:{obs.region}:{key.key_id}"
    tags = {k: v for k, v in image.tags.items() if not k.startswith("aws:")}
    tags.update({TAG_SOURCE_IMAGE: image.image_id, TAG_MANAGED: "true"})
    copy = Action(
        key=key_name,
        kind=ActionKind.REENCRYPT_IMAGE,
        account=obs.caller_account,
        region=obs.region,
        summary=f"copy {image.image_id} ({image.name}) re-encrypted with {key.display}",
        params={
            "source_image": image.image_id,
            "name": f"{image.name[:100]}-amishare-{key.key_id[:8]}",
            "description": f"{image.image_id} re-encrypted by amishare with {key.arn}",
            "kms_key": key.arn,
            "tags": tags,
        },
    )
    wait = Action(
        key=f"await:{key_name}",
        kind=ActionKind.AWAIT_IMAGE,
        account=obs.caller_account,
        region=obs.region,
        summary=f"wait until the re-encrypted copy of {image.image_id} is available",
        params={"image": f"@{key_name}"},
        depends_on=(key_name,),
    )
    return copy, wait


def _uneditable(key: KeyInfo, access: KeyAccess, region: str) -> PlanRefused:
    statements = json.dumps(keypolicy.statements_for(key.region, access), indent=2)
    reason = key.policy_error or "its policy cannot be read"
    return PlanRefused(
        f"amishare cannot edit the policy of key {key.arn} ({reason}). Ask the key's owner (account "
        f"{key.account}) to add these statements to its key policy, then run again:\n{statements}"
    )


def _share_keys(
    obs: Observation,
    keys: list[KeyInfo],
    accounts: list[str],
    orgs: list[Target],
    ous: list[Target],
    options: ShareOptions,
) -> list[Action]:
    actions: list[Action] = []
    wanted = _access(accounts, orgs, ous)
    if not wanted:
        return actions
    for key in keys:
        if key.aws_managed:
            raise PlanRefused(f"key {key.arn} is AWS managed and cannot be shared")
        if options.key_access == "grant":
            if orgs or ous:
                raise PlanRefused(
                    "KMS grants name one principal each and cannot name an organization or OU: "
                    "use --key-access policy for organization and OU targets"
                )
            if key.account != obs.caller_account:
                raise _uneditable(key, wanted, obs.region)
            for account in accounts:
                if _has_grant(key, account):
                    continue
                actions.append(
                    Action(
                        key=f"grant:{key.arn}:{account}",
                        kind=ActionKind.CREATE_GRANT,
                        account=obs.caller_account,
                        region=key.region,
                        summary=f"grant on key {key.display} for {account} ({', '.join(GRANT_OPERATIONS)})",
                        params={
                            "key": key.arn,
                            "grantee": f"arn:aws:iam::{account}:root",
                            "operations": list(GRANT_OPERATIONS),
                            "name": grant_name(account),
                        },
                    )
                )
            continue
        if key.account != obs.caller_account or key.policy is None:
            raise _uneditable(key, wanted, obs.region)
        before = keypolicy.granted(key.policy)
        after = keypolicy.with_access(key.policy, key.region, wanted)
        if after == key.policy:
            continue
        try:
            text = keypolicy.check_size(after)
        except keypolicy.KeyPolicyTooLarge as exc:
            raise PlanRefused(f"key {key.arn}: {exc}") from exc
        added = wanted - before
        actions.append(
            Action(
                key=f"key-policy:{key.arn}",
                kind=ActionKind.PUT_KEY_POLICY,
                account=obs.caller_account,
                region=key.region,
                summary=f"key policy of {key.display}: allow {_access_names(added)} through EC2 in {key.region}",
                params={"key": key.arn, "policy": text, "previous": json.dumps(key.policy)},
            )
        )
    return actions


def _access_names(access: KeyAccess) -> str:
    parts = sorted(access.accounts) + sorted(access.organizations) + [ou for _, ou in sorted(access.ous)]
    return ", ".join(parts)


def _has_grant(key: KeyInfo, account: str) -> bool:
    root = f"arn:aws:iam::{account}:root"
    return any(
        g.name == grant_name(account) or (g.grantee == root and set(GRANT_OPERATIONS) <= set(g.operations))
        for g in key.grants
    )


def _share_snapshots(
    obs: Observation, subject: str, subject_info: ImageInfo | None, accounts: list[str], waits: tuple[str, ...]
) -> list[Action]:
    if not accounts:
        return []
    if subject_info is None:  # a copy still to be made: every snapshot, every account
        changes = None
        count = len(accounts)
    else:
        changes = []
        for snapshot in subject_info.snapshots:
            missing = [a for a in accounts if a not in snapshot.shared_with]
            if missing:
                changes.append({"snapshot": snapshot.snapshot_id, "accounts": missing})
        if not changes:
            return []
        count = max(len(c["accounts"]) for c in changes)
    calls = -(-count // MAX_SNAPSHOT_CHANGES)
    return [
        Action(
            key=f"share-snapshots:{subject}",
            kind=ActionKind.SHARE_SNAPSHOTS,
            account=obs.caller_account,
            region=obs.region,
            summary=(
                f"createVolumePermission on the snapshots of {_display(subject, obs.image)} for "
                f"{', '.join(accounts)}" + (f" ({calls} calls of at most 500 per snapshot)" if calls > 1 else "")
            ),
            params={"image": subject, "accounts": accounts, "changes": changes},
            depends_on=waits,
        )
    ]


# ----------------------------------------------------------------------------- revoke
def plan_revoke(obs: Observation, targets: tuple[Target, ...]) -> Plan:
    """Close the three gates for ``targets`` only; keep key access still needed by other images."""
    image = obs.image
    notes: list[str] = []
    warnings: list[str] = []
    subject_info = image
    if any(obs.keys[a].aws_managed for a in image.key_arns if a in obs.keys):
        if obs.reencrypted is None:
            notes.append(
                f"{image.image_id} is encrypted with aws/ebs and has no re-encrypted copy: nothing of it "
                "can be shared, so nothing needs revoking"
            )
            return Plan(
                command="revoke",
                account=obs.caller_account,
                region=obs.region,
                image_id=image.image_id,
                targets=targets,
                actions=(),
                subject=image.image_id,
                notes=tuple(notes),
            )
        subject_info = obs.reencrypted
        notes.append(f"revoking on the re-encrypted copy {subject_info.image_id} of {image.image_id}")
    subject = subject_info.image_id
    actions: list[Action] = []
    present = [t for t in targets if subject_info.launch.includes(t)]
    absent = [t for t in targets if t not in present]
    if absent:
        notes.append(f"launch permission already closed for {', '.join(str(t) for t in absent)}")
    first: tuple[str, ...] = ()
    if present:
        accounts, orgs, ous, public = _split(tuple(present))
        unshare = Action(
            key=f"unshare-image:{subject}",
            kind=ActionKind.UNSHARE_IMAGE,
            account=obs.caller_account,
            region=obs.region,
            summary=f"launch permission on {subject} for {_names(accounts, orgs, ous, public)}",
            params={
                "image": subject,
                "accounts": accounts,
                "organizations": [t.value for t in orgs],
                "ous": [t.value for t in ous],
                "public": public,
            },
        )
        actions.append(unshare)
        first = (unshare.key,)
    accounts, orgs, ous, _ = _split(targets)
    groups = sorted(subject_info.launch.organizations | subject_info.launch.ous)
    if accounts and groups:
        notes.append(
            f"{subject} stays shared with {', '.join(g.rsplit('/', 1)[-1] for g in groups)}: members of those "
            "can still launch it (revoke the organization or OU to stop that)"
        )
    changes = []
    for snapshot in subject_info.snapshots:
        shared = [a for a in accounts if a in snapshot.shared_with]
        if shared:
            changes.append({"snapshot": snapshot.snapshot_id, "accounts": shared})
    if changes:
        actions.append(
            Action(
                key=f"unshare-snapshots:{subject}",
                kind=ActionKind.UNSHARE_SNAPSHOTS,
                account=obs.caller_account,
                region=obs.region,
                summary=f"createVolumePermission on the snapshots of {subject} for "
                f"{', '.join(sorted({a for c in changes for a in c['accounts']}))}",
                params={"image": subject, "changes": changes},
                depends_on=first,
            )
        )
    for arn in subject_info.key_arns:
        key = obs.keys[arn]
        actions += _revoke_key(obs, key, accounts, orgs, ous, first, notes, warnings)
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


def _revoke_key(
    obs: Observation,
    key: KeyInfo,
    accounts: list[str],
    orgs: list[Target],
    ous: list[Target],
    first: tuple[str, ...],
    notes: list[str],
    warnings: list[str],
) -> list[Action]:
    removable_accounts: list[Target] = []
    removable_orgs: list[Target] = []
    removable_ous: list[Target] = []
    for target in [*(Target(TargetKind.ACCOUNT, a) for a in accounts), *orgs, *ous]:
        still = sorted(s.image_id for s in obs.siblings if key.arn in s.key_arns and s.launch.includes(target))
        if still:
            notes.append(f"key access of {target} to {key.display} kept: {', '.join(still)} still shared with it")
            continue
        {TargetKind.ACCOUNT: removable_accounts, TargetKind.ORGANIZATION: removable_orgs, TargetKind.OU: removable_ous}[
            target.kind
        ].append(target)
    remove = _access([t.value for t in removable_accounts], removable_orgs, removable_ous)
    if not remove:
        return []
    actions: list[Action] = []
    if key.account != obs.caller_account or key.policy is None:
        warnings.append(
            f"key {key.arn} is not editable by {obs.caller_account} ({key.policy_error}): its owner "
            f"must remove the access of {_access_names(remove)}"
        )
        return actions
    after = keypolicy.without_access(key.policy, key.region, remove)
    if after != key.policy:
        actions.append(
            Action(
                key=f"key-policy:{key.arn}",
                kind=ActionKind.PUT_KEY_POLICY,
                account=obs.caller_account,
                region=key.region,
                summary=f"key policy of {key.display}: remove {_access_names(remove & keypolicy.granted(key.policy))}",
                params={"key": key.arn, "policy": keypolicy.check_size(after), "previous": json.dumps(key.policy)},
                depends_on=first,
            )
        )
    for account in sorted(remove.accounts):
        for grant in key.grants:
            if grant.name == grant_name(account):
                actions.append(
                    Action(
                        key=f"revoke-grant:{key.arn}:{grant.grant_id}",
                        kind=ActionKind.REVOKE_GRANT,
                        account=obs.caller_account,
                        region=key.region,
                        summary=f"grant {grant.grant_id} on key {key.display} for {account}",
                        params={"key": key.arn, "grant_id": grant.grant_id},
                        depends_on=first,
                    )
                )
    return actions
