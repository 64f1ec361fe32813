"""The planner (pure): from an observation and the desired targets, the actions that open or
close the three gates of an AMI share (docs/aws-facts.md section 1) together.

No boto3, no clock, no I/O: ``plan_share`` and ``plan_revoke`` are functions of their inputs.
``open_gates`` is the one gate-opening helper, shared with the transfer planner: key access and
snapshot permission first, launch permission last (so an image never appears to a target before
it is usable). Key policy edits are computed here, so every dry run shows them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from amishare.engine.action import Action
from amishare.engine.kinds.copies import AwaitImage, ReEncryptImage
from amishare.engine.kinds.distribution import DeprecateImage, ProtectImage, PublishParameter, UpdateLaunchTemplate
from amishare.engine.kinds.gates import (
    CreateGrant,
    PutKeyPolicy,
    RevokeGrant,
    ShareImage,
    ShareSnapshots,
    SnapshotChange,
    UnshareImage,
    UnshareSnapshots,
)
from amishare.engine.permissions import Principal
from amishare.engine.plan import Plan
from amishare.errors import PlanRefused
from amishare.model import (
    TAG_MANAGED,
    TAG_SOURCE_IMAGE,
    Distribution,
    ImageInfo,
    KeyInfo,
    Observation,
    Target,
    TargetKind,
)
from amishare.policy import key_policy
from amishare.policy.access import SOURCE_KEY_GRANT_OPERATIONS, account_root, grant_name
from amishare.policy.key_policy import KeyAccess

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
    # What the share leaves behind (docs/concepts.md): the targets' SSM parameters and launch templates, through
    # their roles (account -> (role ARN, external id)); deprecation, protection and tags of a re-encrypted copy.
    distribution: Distribution = field(default_factory=Distribution)
    roles: dict[str, tuple[str, str | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class Audience:
    """Whom the gates open for, split by kind of target."""

    accounts: tuple[str, ...] = ()
    organizations: tuple[Target, ...] = ()
    ous: tuple[Target, ...] = ()
    public: bool = False

    @classmethod
    def of(cls, targets: tuple[Target, ...] | list[Target]) -> Audience:
        return cls(
            tuple(sorted({t.value for t in targets if t.kind is TargetKind.ACCOUNT})),
            tuple(sorted({t for t in targets if t.kind is TargetKind.ORGANIZATION})),
            tuple(sorted({t for t in targets if t.kind is TargetKind.OU})),
            any(t.kind is TargetKind.PUBLIC for t in targets),
        )

    def key_access(self) -> KeyAccess:
        return KeyAccess(
            accounts=frozenset(self.accounts),
            organizations=frozenset(t.org_id for t in self.organizations if t.org_id),
            ous=frozenset((t.org_id, t.ou_id) for t in self.ous if t.org_id and t.ou_id),
        )


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
    role_arn: str | None = None
    external_id: str | None = None


# ---------------------------------------------------------------------- the shared helper
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
    for key in subject.keys:
        gates += _key_access(key, audience, acting, key_access, autoscaling, subject.ready)
    snapshots = _share_snapshots(subject, audience.accounts, acting)
    gates += snapshots
    missing = audience
    if subject.info is not None:
        launch = subject.info.launch
        missing = Audience(
            tuple(a for a in audience.accounts if a not in launch.accounts),
            tuple(t for t in audience.organizations if not launch.includes(t)),
            tuple(t for t in audience.ous if not launch.includes(t)),
            audience.public and not launch.public,
        )
    if missing.accounts or missing.organizations or missing.ous or missing.public:
        gates.append(
            ShareImage(
                key=f"share-image:{acting.scope}",
                account=acting.account,
                region=acting.region,
                role_arn=acting.role_arn,
                external_id=acting.external_id,
                image=subject.image,
                image_label=subject.pending_label,
                accounts=missing.accounts,
                organizations=tuple(t.value for t in missing.organizations),
                ous=tuple(t.value for t in missing.ous),
                public=missing.public,
                depends_on=(*subject.ready, *(a.key for a in gates)) if launch_last else subject.ready,
            )
        )
    return gates


def _key_access(
    key: KeyInfo,
    audience: Audience,
    acting: Acting,
    key_access: str,
    autoscaling: tuple[str, ...],
    ready: tuple[str, ...],
) -> list[Action]:
    wanted = audience.key_access() | KeyAccess(autoscaling=frozenset(autoscaling))
    if not wanted:
        return []
    if key.aws_managed:
        raise PlanRefused(f"key {key.arn} is AWS managed and cannot be shared")
    if key_access == "grant":
        return _grants(key, audience, acting, wanted)
    if key.account != acting.account or key.policy is None:
        raise _uneditable(key, wanted)
    return _key_policy_edit(key, key.policy, acting, ready, add=wanted)


def _key_policy_edit(
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
            role_arn=acting.role_arn,
            external_id=acting.external_id,
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
            role_arn=acting.role_arn,
            external_id=acting.external_id,
            image=subject.image,
            image_label=subject.pending_label,
            accounts=accounts,
            changes=changes,
            depends_on=subject.ready,
        )
    ]


# ------------------------------------------------------------------------------- share
def plan_share(obs: Observation, targets: tuple[Target, ...], options: ShareOptions = ShareOptions()) -> Plan:
    """Open launch permission, snapshot permission and key access for ``targets``."""
    image = obs.image
    audience = Audience.of(targets)
    notes: list[str] = []
    warnings: list[str] = []
    if image.state != "available":
        raise PlanRefused(f"image {image.image_id} is {image.state}: only an available image can be shared")
    if image.owner in audience.accounts:
        raise PlanRefused(
            f"--to {image.owner}: that account owns {image.image_id}, so it can already use it: remove it from --to"
        )
    _check_public(obs, audience.public, options, warnings)
    subject, made = _share_subject(obs, notes, options.distribution.tags)
    if audience.public and (subject.keys or image.encrypted):
        raise PlanRefused(f"image {subject.image} is encrypted: AWS does not allow encrypted images to be public")
    acting = Acting(obs.caller_account, obs.region, subject.image)
    gates = open_gates(subject, audience, acting, key_access=options.key_access)
    if audience.organizations or audience.ous:
        notes.append(
            "snapshots cannot be shared with organizations or OUs (AWS): their members can launch the "
            "image but not copy it; name accounts (--to ACCOUNT) to let them copy"
        )
    gates += _share_distribution(obs, subject, audience, options, made, gates)
    already = [t for t in targets if subject.info is not None and subject.info.launch.includes(t)]
    if already:
        notes.append(f"launch permission already open for {', '.join(str(t) for t in already)}")
    return Plan(
        command="share",
        account=obs.caller_account,
        region=obs.region,
        image_id=image.image_id,
        targets=targets,
        actions=tuple(made + gates),
        subject=subject.image,
        notes=tuple(notes),
        warnings=tuple(warnings),
    )


def pointer_actions(
    dist: Distribution, parameter: str | None, template: str | None, image: str, scope: str, where: dict[str, Any]
) -> list[Action]:
    """An account's SSM parameter and launch template version pointed at ``image`` (keys named for ``scope``;
    ``where``: account, region, role, actor, dependencies)."""
    made: list[Action] = []
    if parameter:
        made.append(PublishParameter(key=f"parameter:{scope}", parameter=parameter, image=image, **where))
    if template:
        made.append(
            UpdateLaunchTemplate(
                key=f"template:{scope}", template=template, image=image, set_default=dist.set_default, **where
            )
        )
    return made


def copy_settings(dist: Distribution, image: str, scope: str, where: dict[str, Any]) -> list[Action]:
    """The deprecation and deregistration protection of a copy amishare makes (never of a user's own image)."""
    made: list[Action] = []
    if dist.deprecate_after:
        made.append(DeprecateImage(key=f"deprecate:{scope}", image=image, after_seconds=dist.deprecate_after, **where))
    if dist.deregistration_protection:
        made.append(ProtectImage(key=f"protect:{scope}", image=image, **where))
    return made


def _share_distribution(
    obs: Observation,
    subject: Subject,
    audience: Audience,
    options: ShareOptions,
    made: list[Action],
    gates: list[Action],
) -> list[Action]:
    """Each target account's SSM parameter and launch template pointed at the shared image (through its role, once
    every gate is open), and the re-encrypted copy's deprecation and protection (amishare never alters the
    user's own image)."""
    dist = options.distribution
    after = tuple(a.key for a in (*made, *gates) if not a.key.startswith("await:")) + subject.ready
    actions: list[Action] = []
    for account in audience.accounts:
        role = options.roles.get(account)
        if role is None:
            continue
        where: dict[str, Any] = {
            "account": account,
            "region": obs.region,
            "role_arn": role[0],
            "external_id": role[1],
            "actor": Principal.DESTINATION,
            "depends_on": after,
        }
        scope = f"{subject.image.lstrip('@')}:{account}"
        actions += pointer_actions(dist, dist.ssm_parameter, dist.launch_template, subject.image, scope, where)
    if subject.info is None:  # a re-encrypted copy this plan makes
        mine: dict[str, Any] = {"account": obs.caller_account, "region": obs.region, "depends_on": subject.ready}
        actions += copy_settings(dist, subject.image, subject.image.lstrip("@"), mine)
    return actions


def _share_subject(
    obs: Observation, notes: list[str], tags: dict[str, str] | None = None
) -> tuple[Subject, list[Action]]:
    """What is shared: the image, its re-encrypted copy, or a copy this plan makes (aws/ebs)."""
    image = obs.image
    keys = tuple(obs.keys[arn] for arn in image.key_arns)
    if not any(k.aws_managed for k in keys):
        return Subject(image.image_id, image, image.image_id, keys), []
    if obs.reencrypted is not None:
        copy = obs.reencrypted
        keys = tuple(obs.keys[arn] for arn in copy.key_arns)
        notes.append(
            f"{image.image_id} is encrypted with aws/ebs, which cannot be shared: sharing its "
            f"re-encrypted copy {copy.image_id} ({', '.join(k.display for k in keys)}) instead"
        )
        return Subject(copy.image_id, copy, copy.image_id, keys), []
    share_key = _usable_share_key(obs)
    copy_action, wait = _reencrypt(obs, share_key, tags)
    notes.append(
        f"{image.image_id} is encrypted with aws/ebs, which cannot be shared: amishare copies it "
        f"re-encrypted with {share_key.display} into a new image (tagged {TAG_SOURCE_IMAGE}) "
        "and shares that copy"
    )
    subject = Subject(
        f"@{copy_action.key}", None, f"the re-encrypted copy of {image.image_id}", (share_key,), (wait.key,)
    )
    return subject, [copy_action, wait]


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


def usable_share_key(key: KeyInfo | None, region: str, image_id: str) -> KeyInfo:
    """``key`` when it can encrypt copies that are shared in ``region``; else why not, and how to make one."""
    howto = SHARE_KEY_HOWTO.format(region=region)
    if key is None:
        raise PlanRefused(
            f"image {image_id} is encrypted with the AWS managed key aws/ebs, which AWS "
            f"never lets you share, and no share key is configured to re-encrypt it with: {howto}"
        )
    if key.aws_managed:
        raise PlanRefused(f"share key {key.display} is an AWS managed key, which cannot be shared: {howto}")
    if key.region != region:
        raise PlanRefused(f"share key {key.arn} is in {key.region}, not {region}: keys are regional; {howto}")
    if key.state != "Enabled":
        raise PlanRefused(f"share key {key.display} is {key.state}: enable it (aws kms enable-key) or use another")
    return key


def _usable_share_key(obs: Observation) -> KeyInfo:
    return usable_share_key(obs.share_key, obs.region, obs.image.image_id)


def _reencrypt(
    obs: Observation, key: KeyInfo, extra_tags: dict[str, str] | None = None
) -> tuple[ReEncryptImage, AwaitImage]:
    image = obs.image
    key_name = f"reencrypt:{image.image_id}:{obs.region}:{key.key_id}"
    tags = {k: v for k, v in image.tags.items() if not k.startswith("aws:")}
    tags.update(extra_tags or {})
    tags.update({TAG_SOURCE_IMAGE: image.image_id, TAG_MANAGED: "true"})
    copy = ReEncryptImage(
        key=key_name,
        account=obs.caller_account,
        region=obs.region,
        source_image=image.image_id,
        source_region=obs.region,
        source_name=image.name,
        name=f"{image.name[:100]}-amishare-{key.key_id[:8]}",
        description=f"{image.image_id} re-encrypted by amishare with {key.arn}",
        kms_key=key.arn,
        key_label=key.display,
        tags=tags,
    )
    wait = AwaitImage(
        key=f"await:{key_name}",
        account=obs.caller_account,
        region=obs.region,
        image=f"@{key_name}",
        label=f"the re-encrypted copy of {image.image_id} to be available",
        depends_on=(key_name,),
    )
    return copy, wait


# ------------------------------------------------------------------------------ revoke
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
                "revoke", obs.caller_account, obs.region, image.image_id, targets, (), image.image_id, tuple(notes)
            )
        subject_info = obs.reencrypted
        notes.append(f"revoking on the re-encrypted copy {subject_info.image_id} of {image.image_id}")
    subject = subject_info.image_id
    audience = Audience.of(targets)
    actions: list[Action] = []
    present = [t for t in targets if subject_info.launch.includes(t)]
    absent = [t for t in targets if t not in present]
    if absent:
        notes.append(f"launch permission already closed for {', '.join(str(t) for t in absent)}")
    first: tuple[str, ...] = ()
    if present:
        closing = Audience.of(present)
        unshare = UnshareImage(
            key=f"unshare-image:{subject}",
            account=obs.caller_account,
            region=obs.region,
            image=subject,
            accounts=closing.accounts,
            organizations=tuple(t.value for t in closing.organizations),
            ous=tuple(t.value for t in closing.ous),
            public=closing.public,
        )
        actions.append(unshare)
        first = (unshare.key,)
    groups = sorted(subject_info.launch.organizations | subject_info.launch.ous)
    if audience.accounts and groups:
        notes.append(
            f"{subject} stays shared with {', '.join(g.rsplit('/', 1)[-1] for g in groups)}: members of those "
            "can still launch it (revoke the organization or OU to stop that)"
        )
    changes = tuple(
        SnapshotChange(s.snapshot_id, shared)
        for s in subject_info.snapshots
        if (shared := tuple(a for a in audience.accounts if a in s.shared_with))
    )
    if changes:
        actions.append(
            UnshareSnapshots(
                key=f"unshare-snapshots:{subject}",
                account=obs.caller_account,
                region=obs.region,
                image=subject,
                changes=changes,
                depends_on=first,
            )
        )
    for arn in subject_info.key_arns:
        actions += _revoke_key(obs, obs.keys[arn], audience, subject, first, notes, warnings)
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


def _still_needed(obs: Observation, key: KeyInfo, target: Target, notes: list[str]) -> bool:
    still = sorted(s.image_id for s in obs.siblings if key.arn in s.key_arns and s.launch.includes(target))
    if still:
        notes.append(f"key access of {target} to {key.display} kept: {', '.join(still)} still shared with it")
    return bool(still)


def _revoke_key(
    obs: Observation,
    key: KeyInfo,
    audience: Audience,
    subject: str,
    first: tuple[str, ...],
    notes: list[str],
    warnings: list[str],
) -> list[Action]:
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
    actions: list[Action] = []
    actions += _key_policy_edit(key, key.policy, Acting(obs.caller_account, obs.region, subject), first, remove=remove)
    for account in sorted(remove.accounts):
        actions += [
            RevokeGrant(
                key=f"revoke-grant:{key.arn}:{grant.grant_id}",
                account=obs.caller_account,
                region=key.region,
                key_arn=key.arn,
                key_label=key.display,
                grant_id=grant.grant_id,
                grantee=account,
                depends_on=first,
            )
            for grant in key.grants
            if grant.name == grant_name(account)
        ]
    return actions
