"""The share planner (pure): from an observation and the desired targets, the actions that open the three
gates of an AMI share (docs/aws-facts.md section 1) together, with what the share leaves behind.

No boto3, no clock, no I/O: ``plan_share`` is a function of its inputs. The gates open through
``planners.gates.open_gates`` (shared with the transfer planner); an image on ``aws/ebs`` is shared through
its re-encrypted copy, made by the plan when there is none yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from amishare.engine.action import Action
from amishare.engine.kinds.copies import AwaitImage, ReEncryptImage
from amishare.engine.permissions import Principal
from amishare.engine.plan import Plan
from amishare.errors import PlanRefused
from amishare.model import TAG_MANAGED, TAG_SOURCE_IMAGE, Distribution, KeyInfo, Observation, RoleRef, Target
from amishare.planners.distribution import Pointing, copy_settings, pointer_actions
from amishare.planners.gates import Acting, Audience, Subject, open_gates

SHARE_KEY_HOWTO = (
    "create a customer managed key in {region} and name it, for example:\n"
    "  aws kms create-key --region {region} --description 'amishare: re-encrypts images before sharing'\n"
    "  aws kms create-alias --region {region} --alias-name alias/amishare-share --target-key-id KEY_ID\n"
    "(KEY_ID: the KeyId create-key printed), "
    'then pass --reencrypt-key alias/amishare-share, or set share_key = "alias/amishare-share" under [defaults] '
    "in amishare.toml"
)


@dataclass(frozen=True)
class ShareOptions:
    """How a share opens the gates (key policy or grants, public allowed) and what it leaves behind."""

    key_access: str = "policy"  # "policy" (key policy statements) or "grant" (KMS grants)
    allow_public: bool = False
    # What the share leaves behind (docs/concepts.md): the targets' SSM parameters and launch templates, through
    # their roles (account -> the role amishare assumes there); deprecation, protection and tags of a re-encrypted copy.
    distribution: Distribution = field(default_factory=Distribution)
    roles: dict[str, RoleRef] = field(default_factory=dict)
    per_account: dict[str, Distribution] = field(default_factory=dict)  # an account's own pointers (a manifest)
    pointing: dict[str, Pointing] = field(default_factory=dict)  # what each account's pointers name now


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
        own = options.per_account.get(account, dist)
        now = options.pointing.get(account, Pointing())
        where: dict[str, Any] = {
            "account": account,
            "region": obs.region,
            "role": role,
            "actor": Principal.DESTINATION,
            "depends_on": after,
        }
        scope = f"{subject.image.lstrip('@')}:{account}"
        parameter = own.ssm_parameter if now.parameter_image != subject.image else None
        template = own.launch_template if now.template_image != subject.image else None
        actions += pointer_actions(own, parameter, template, subject.image, scope, where)
    if subject.info is None:  # a re-encrypted copy this plan makes
        mine: dict[str, Any] = {"account": obs.caller_account, "region": obs.region, "depends_on": subject.ready}
        actions += copy_settings(dist, subject.image, subject.image.lstrip("@"), mine)
    return actions


def _share_subject(
    obs: Observation, notes: list[str], tags: dict[str, str] | None = None
) -> tuple[Subject, list[Action]]:
    """What is shared: the image, its re-encrypted or regional copy, or a copy this plan makes (aws/ebs, or an
    image of another region: AMIs are regional, so another region shares a copy made there)."""
    image = obs.image
    regional = image.region != obs.region
    keys = () if regional else tuple(obs.keys[arn] for arn in image.key_arns)
    if not regional and not any(k.aws_managed for k in keys):
        return Subject(image.image_id, image, image.image_id, keys), []
    why = (
        f"{image.image_id} is an image of {image.region}: in {obs.region} amishare shares its regional copy"
        if regional
        else f"{image.image_id} is encrypted with aws/ebs, which cannot be shared"
    )
    what = "regional copy" if regional else "re-encrypted copy"
    if obs.reencrypted is not None:
        copy = obs.reencrypted
        keys = tuple(obs.keys[arn] for arn in copy.key_arns)
        notes.append(f"{why}: sharing its {what} {copy.image_id} ({', '.join(k.display for k in keys)}) instead")
        if copy.state == "available":
            return Subject(copy.image_id, copy, copy.image_id, keys), []
        # still being made (an earlier run was interrupted): AWS refuses to share a pending image
        # (InvalidAMIID.Unavailable, docs/aws-facts.md section 9), and a consumer could not launch it yet
        notes.append(f"{copy.image_id} is still {copy.state}: the share waits until it is available")
        wait = _await(obs, copy.image_id, f"the {what} {copy.image_id} of {image.image_id}", ())
        return Subject(copy.image_id, copy, copy.image_id, keys, (wait.key,)), [wait]
    share_key = _usable_share_key(obs)
    copy_action, wait = _reencrypt(obs, share_key, tags)
    notes.append(
        f"{why}: amishare copies it re-encrypted with {share_key.display} into a new image (tagged "
        f"{TAG_SOURCE_IMAGE}) and shares that copy"
    )
    subject = Subject(f"@{copy_action.key}", None, f"the {what} of {image.image_id}", (share_key,), (wait.key,))
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
        raise PlanRefused(
            f"share key {key.display} is {key.state}: enable it (`aws kms enable-key --key-id {key.arn} --region "
            f"{key.region}`) or use another"
        )
    return key


def _usable_share_key(obs: Observation) -> KeyInfo:
    if obs.share_key is None and obs.image.region != obs.region:
        raise PlanRefused(
            f"image {obs.image.image_id} of {obs.image.region} is shared in {obs.region} through a copy made there, "
            f"encrypted with {obs.region}'s share key, and none is configured for {obs.region}: "
            + SHARE_KEY_HOWTO.format(region=obs.region)
        )
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
        source_region=image.region,
        source_name=image.name,
        name=f"{image.name[:100]}-amishare-{key.key_id[:8]}",
        description=f"{image.image_id} ({image.region}) re-encrypted by amishare with {key.arn}",
        kms_key=key.arn,
        key_label=key.display,
        tags=tags,
    )
    return copy, _await(obs, f"@{key_name}", f"the re-encrypted copy of {image.image_id}", (key_name,))


def _await(obs: Observation, image: str, label: str, depends_on: tuple[str, ...]) -> AwaitImage:
    """Wait for ``image`` (an id, or ``@<copy>`` made by this plan) to be available before it is shared."""
    return AwaitImage(
        key=f"await:{image.lstrip('@')}",
        account=obs.caller_account,
        region=obs.region,
        image=image,
        label=f"{label} to be available",
        depends_on=depends_on,
    )
