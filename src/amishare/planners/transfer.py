"""The transfer planner (pure): share -> copy -> re-encrypt -> revoke, into many accounts and regions.

For each requested region: stage the image in the source account when it must be (an image on
``aws/ebs`` or unencrypted is re-encrypted under the share key; another region always gets a copy
under that region's share key), open the three gates for every destination at once (the same
``open_gates`` as ``share``: one call per gate, the key policy edit computed here), have each
destination copy the staged image with its own key, wait (batched), revoke each destination's
access as its copy completes, and delete the staging copies this run made.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, replace
from typing import Any

from amishare.engine.action import Action
from amishare.engine.kinds.copies import AwaitImage, CopyToDestination, DeleteStaging, StageImage
from amishare.engine.kinds.gates import CreateGrant, PutKeyPolicy, RevokeDestination
from amishare.engine.permissions import Principal
from amishare.engine.plan import Plan
from amishare.errors import PlanRefused
from amishare.model import (
    TAG_MANAGED,
    TAG_SOURCE_ACCOUNT,
    TAG_SOURCE_IMAGE,
    TAG_STAGING,
    Distribution,
    ImageInfo,
    KeyInfo,
    Target,
    TargetKind,
    arn_account,
)
from amishare.planners.share import (
    SHARE_KEY_HOWTO,
    Acting,
    Audience,
    Subject,
    copy_settings,
    open_gates,
    pointer_actions,
)
from amishare.policy import key_policy
from amishare.policy.access import AUTOSCALING_GRANT_OPERATIONS, AUTOSCALING_ROLE


@dataclass(frozen=True)
class Party:
    """An account amishare acts in, and how to get there."""

    account: str
    role_arn: str | None = None  # None: the caller's own credentials
    external_id: str | None = None
    label: str = ""


@dataclass(frozen=True)
class Destination(Party):
    keys: dict[str, str] = field(default_factory=dict)  # region -> key reference for its copies
    ssm_parameter: str | None = None  # its own parameter name (overrides the transfer's)
    launch_template: str | None = None  # its own launch template (overrides the transfer's)


@dataclass(frozen=True)
class TransferSpec:
    """A transfer, validated and resolved: who, where, with which keys and options."""

    source: Party
    destinations: tuple[Destination, ...]
    regions: tuple[str, ...]
    share_keys: dict[str, str] = field(default_factory=dict)  # region -> the source's share key reference
    dest_key: str | None = None  # one key reference for every destination (overrides their config)
    allow_default_key: bool = False
    keep_share: bool = False
    keep_staging: bool = False
    grant_autoscaling: bool = False
    timeout: float = 24 * 3600
    notify_email: str | None = None
    ses_sender: str | None = None
    notify_sns: str | None = None
    key_access: str = "auto"  # "policy", "grant", or "auto": the key policy while the destinations fit in it
    distribution: Distribution = field(default_factory=Distribution)
    expansions: tuple[str, ...] = ()  # what each organization or OU of --to expanded to, for the plan's notes

    def dest_key_for(self, destination: Destination, region: str) -> str | None:
        return self.dest_key or destination.keys.get(region)

    def to_dict(self) -> dict[str, Any]:
        """JSON data (kept in the plan, so that a resume can plan a destination's part again)."""
        data: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(self)))  # tuples as lists, as stored
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TransferSpec:
        fields = dict(data)
        fields["source"] = Party(**data["source"])
        fields["destinations"] = tuple(Destination(**d) for d in data["destinations"])
        fields["regions"] = tuple(data["regions"])
        fields["distribution"] = Distribution(**data.get("distribution", {}))
        fields["expansions"] = tuple(data.get("expansions", ()))
        return cls(**fields)


@dataclass(frozen=True)
class DestinationCheck:
    """What the preflight found in one destination: can its role be assumed, and its key in each region."""

    account: str
    role_error: str | None = None
    keys: dict[str, KeyInfo] = field(default_factory=dict)  # region -> the key its copies will use
    key_errors: dict[str, str] = field(default_factory=dict)  # region -> why that key could not be read
    template_errors: dict[str, str] = field(default_factory=dict)  # region -> why its launch template is unusable


@dataclass(frozen=True)
class TransferObservation:
    caller_account: str
    source_region: str
    image: ImageInfo
    keys: dict[str, KeyInfo]  # the image's keys
    share_keys: dict[str, KeyInfo]  # region -> the source account's share key there
    destinations: dict[str, DestinationCheck] = field(default_factory=dict)  # account -> its preflight


def plan_transfer(obs: TransferObservation, spec: TransferSpec) -> Plan:
    """Every action of the transfer, in every region (see the module docstring)."""
    missing = _check(obs, spec)
    notes: list[str] = list(spec.expansions)
    actions: list[Action] = []
    for region in spec.regions:
        actions += _region(obs, spec, region, notes)
    if spec.keep_share:
        notes.append(
            "--keep-share: destinations keep access to the source (a live share); staging copies are kept "
            "because they carry that share"
        )
    elif spec.keep_staging:
        notes.append("--keep-staging: the staging copies are kept after the transfer")
    warnings = [f"{len(missing)} copy(ies) will use the destination's default EBS key (--allow-default-key)"] * bool(
        missing
    )
    return Plan(
        command="transfer",
        account=spec.source.account,
        region=obs.source_region,
        image_id=obs.image.image_id,
        targets=tuple(Target(TargetKind.ACCOUNT, d.account, d.label) for d in spec.destinations),
        actions=tuple(actions),
        subject=obs.image.image_id,
        notes=tuple(notes),
        warnings=tuple(warnings),
        extra={
            "regions": list(spec.regions),
            "notify": {"email": spec.notify_email, "ses_sender": spec.ses_sender, "sns": spec.notify_sns},
            "spec": spec.to_dict(),
        },
    )


def _check(obs: TransferObservation, spec: TransferSpec) -> list[tuple[str, str]]:
    """Refuse what cannot work; return the (account, region) copies that will use a default key."""
    if obs.image.state != "available":
        raise PlanRefused(
            f"image {obs.image.image_id} is {obs.image.state}: only an available image can be transferred"
        )
    if not spec.destinations:
        raise PlanRefused("no destination: name at least one with --to")
    if any(d.account == spec.source.account for d in spec.destinations):
        raise PlanRefused(f"account {spec.source.account} is the source: it cannot also be a destination")
    missing = [(d.account, r) for d in spec.destinations for r in spec.regions if not spec.dest_key_for(d, r)]
    if missing and not spec.allow_default_key:
        shown = ", ".join(f"{a} in {r}" for a, r in missing[:6]) + (" ..." if len(missing) > 6 else "")
        raise PlanRefused(
            f"no destination key for {shown}: a copy without an explicit key is encrypted with the destination "
            "account's default EBS key, often aws/ebs, which can never be shared onward. Give each account a key "
            'per region (keys = { <region> = "alias/..." } under [accounts.NAME]) or --dest-key, or pass '
            "--allow-default-key to accept the default"
        )
    problems = [p for d in spec.destinations for p in _preflight_problems(obs, spec, d)]
    if problems:
        listed = problems[:MAX_PROBLEMS_SHOWN] + [f"... and {len(problems) - MAX_PROBLEMS_SHOWN} more"] * (
            len(problems) > MAX_PROBLEMS_SHOWN
        )
        raise PlanRefused(
            f"{len(problems)} problem(s) in the destinations; nothing was changed. Fix them, then run again:\n  "
            + "\n  ".join(listed)
        )
    return missing


MAX_PROBLEMS_SHOWN = 25


def _preflight_problems(obs: TransferObservation, spec: TransferSpec, dest: Destination) -> list[str]:
    """Why ``dest`` cannot receive its copies, each with its fix (empty: it can)."""
    check = obs.destinations.get(dest.account)
    if check is None:  # not checked (a plan made without the preflight)
        return []
    who = f"{dest.label} ({dest.account})" if dest.label else dest.account
    if check.role_error is not None:
        return [
            f"{who}: cannot assume {dest.role_arn}: {check.role_error}. Fix the role's name ([accounts.NAME] role, "
            f"or role_name under [defaults]) or its trust policy (it must trust account {obs.caller_account})"
        ]
    problems = []
    for region in spec.regions:
        ref = spec.dest_key_for(dest, region)
        if region in check.key_errors:
            problems.append(
                f"{who} in {region}: key {ref}: {check.key_errors[region]}. Create it, or fix keys.{region} "
                "under its [accounts.NAME] (or --dest-key)"
            )
        elif region in check.keys:
            why = _unusable(check.keys[region], region)
            if why:
                problems.append(f"{who} in {region}: key {ref} {why}")
        if region in check.template_errors:
            template = spec.distribution.template_for(dest)
            problems.append(
                f"{who} in {region}: launch template {template}: {check.template_errors[region]}. Create it there "
                "first, or name another (--launch-template, or launch_template under its [accounts.NAME])"
            )
    return problems


def _unusable(key: KeyInfo, region: str) -> str | None:
    """Why a destination's copies cannot be encrypted with ``key`` in ``region`` (None: they can)."""
    if key.aws_managed:
        return (
            "is AWS managed (aws/ebs): a copy encrypted with it can never be shared onward; give a customer managed key"
        )
    if key.region != region:
        return f"is a key of {key.region}: KMS keys are regional; give the key of {region}"
    if key.state != "Enabled":
        return f"is {key.state}: enable it (or cancel its deletion), or give another key"
    if key.spec != "SYMMETRIC_DEFAULT" or key.usage != "ENCRYPT_DECRYPT":
        return f"is {key.spec} for {key.usage}: EBS encrypts with symmetric encryption keys only"
    return None


def _acting(spec: TransferSpec, region: str, scope: str) -> Acting:
    return Acting(spec.source.account, region, scope, spec.source.role_arn, spec.source.external_id)


def _region(obs: TransferObservation, spec: TransferSpec, region: str, notes: list[str]) -> list[Action]:
    image = obs.image
    scope = f"{image.image_id}:{region}"
    actions, subject = _subject(obs, spec, region)
    staged = subject.info is None
    accounts = tuple(d.account for d in spec.destinations)
    key = subject.keys[0] if subject.keys else None
    key_before = key_policy.granted(key.policy).accounts if key and key.policy else frozenset()
    image_before = (
        set() if staged else {a for a in image.launch.accounts if all(a in s.shared_with for s in image.snapshots)}
    )
    kept = sorted((set(key_before) | image_before) & set(accounts))
    if kept and not spec.keep_share:
        notes.append(f"{', '.join(kept)} already had access in {region} before this run: it is kept")
    by_grant = _key_access(spec, key, region, accounts, notes) == "grant"
    gates = open_gates(
        subject,
        Audience(accounts=accounts),
        _acting(spec, region, scope),
        key_access="grant" if by_grant else "policy",
        autoscaling=accounts if spec.grant_autoscaling else (),
        launch_last=False,  # the destinations copy once all three are open
    )
    # a transfer's grants are its own (named for the run): another run never revokes them, nor they its
    gates = [replace(g, run_scoped=True) if isinstance(g, CreateGrant) else g for g in gates]
    actions += gates
    grants = {arn_account(g.grantee): g.key for g in gates if isinstance(g, CreateGrant)}
    shared = tuple(a.key for a in gates if not isinstance(a, CreateGrant))  # every destination waits for these
    policy_edit = next((a.key for a in gates if isinstance(a, PutKeyPolicy)), None)
    waits: list[str] = []
    for dest in spec.destinations:
        own = (grants[dest.account],) if dest.account in grants else ()
        made = _destination(obs, spec, region, dest, subject, (*shared, *own), policy_edit)
        waits.append(made[1].key)
        actions += made
        if not spec.keep_share:
            actions.append(
                RevokeDestination(
                    key=f"revoke:{image.image_id}:{dest.account}:{region}",
                    account=spec.source.account,
                    region=region,
                    role_arn=spec.source.role_arn,
                    external_id=spec.source.external_id,
                    image=subject.image,
                    target=dest.account,
                    label=dest.label,
                    # only what this run opened is closed: access the destination had before stays
                    key_arn=key.arn if key and not by_grant and dest.account not in key_before else None,
                    grant_key_arn=key.arn if key and dest.account in grants else None,
                    image_access=dest.account not in image_before,
                    depends_on=subject.ready,
                    after=(made[1].key,),
                )
            )
    if staged and not spec.keep_staging and not spec.keep_share:
        actions.append(
            DeleteStaging(
                key=f"delete-staging:{scope}",
                account=spec.source.account,
                region=region,
                role_arn=spec.source.role_arn,
                external_id=spec.source.external_id,
                image=subject.image,
                depends_on=(f"stage:{scope}",),
                after=tuple(waits),  # revocations of a deleted image are moot (their key access still goes)
            )
        )
    return actions


GRANT_HOWTO = (
    "{count} destinations do not fit in the key policy of {key} (KMS allows 32 KB, about 650 accounts): each "
    "gets a grant of its own for this run instead (up to 50,000 per key, each revoked when its copy is done)"
)


def _key_access(
    spec: TransferSpec, key: KeyInfo | None, region: str, accounts: tuple[str, ...], notes: list[str]
) -> str:
    """How the destinations get access to the source key: its policy's statements while they fit, else grants.

    A grant names one account and is created and revoked on its own: no read-modify-write of a shared
    document, no size limit; it costs two calls per destination and region, where the policy costs two per
    batch (docs/concepts.md, "Key access at scale")."""
    if spec.key_access != "auto" or key is None or key.policy is None:
        return "grant" if spec.key_access == "grant" else "policy"
    if spec.grant_autoscaling:  # the Auto Scaling statement lives in the policy
        return "policy"
    if key_policy.fits(key.policy, region, key_policy.KeyAccess(accounts=frozenset(accounts))):
        return "policy"
    notes.append(GRANT_HOWTO.format(count=len(accounts), key=key.display))
    return "grant"


def _subject(obs: TransferObservation, spec: TransferSpec, region: str) -> tuple[list[Action], Subject]:
    """What the destinations copy in ``region``: the image itself, or a staging copy this plan makes."""
    image = obs.image
    image_keys = tuple(obs.keys[a] for a in image.key_arns)
    shareable_here = bool(image_keys) and not any(k.aws_managed for k in image_keys)
    if region == obs.source_region and shareable_here:
        if len(image_keys) > 1:
            raise PlanRefused(
                f"image {image.image_id} uses several keys: amishare stages it instead when "
                "transferring to another region only; re-encrypt it with one key first"
            )
        if image_keys[0].account != spec.source.account:
            raise PlanRefused(
                f"key {image_keys[0].arn} belongs to account {image_keys[0].account}: its owner must "
                "grant the destinations access (amishare share prints the statement)"
            )
        return [], Subject(image.image_id, image, image.image_id, image_keys)
    key = obs.share_keys.get(region)
    if key is None or key.aws_managed or key.state != "Enabled":
        state = "missing" if key is None else ("AWS managed" if key.aws_managed else key.state)
        raise PlanRefused(
            f"the share key of {region} is {state}: staging needs a customer managed key in "
            f"each region; {SHARE_KEY_HOWTO.format(region=region)}"
        )
    scope = f"{image.image_id}:{region}"
    tags = {k: v for k, v in image.tags.items() if not k.startswith("aws:")}
    tags.update({TAG_SOURCE_IMAGE: image.image_id, TAG_STAGING: "true", TAG_MANAGED: "true"})
    source = spec.source
    stage = StageImage(
        key=f"stage:{scope}",
        account=source.account,
        region=region,
        role_arn=source.role_arn,
        external_id=source.external_id,
        source_image=image.image_id,
        source_region=obs.source_region,
        name=f"{image.name[:60]}-amishare-staging-{region}",  # + "-<run id>" (AMI names: 128 characters)
        description=f"amishare staging copy of {image.image_id}",
        kms_key=key.arn,
        key_label=key.display,
        tags=tags,
    )
    wait = AwaitImage(
        key=f"await-stage:{scope}",
        account=source.account,
        region=region,
        role_arn=source.role_arn,
        external_id=source.external_id,
        image=f"@{stage.key}",
        timeout=spec.timeout,
        label=f"the staging copy in {region}",
        depends_on=(stage.key,),
    )
    return [stage, wait], Subject(f"@{stage.key}", None, f"the staging copy in {region}", (key,), (wait.key,))


def _destination(
    obs: TransferObservation,
    spec: TransferSpec,
    region: str,
    dest: Destination,
    subject: Subject,
    gates: tuple[str, ...],
    policy_edit: str | None,
) -> list[Action]:
    """A destination's copy, its wait, and (live shares) its Auto Scaling grant on the source key."""
    image = obs.image
    dest_key = spec.dest_key_for(dest, region)
    tags = {k: v for k, v in image.tags.items() if not k.startswith("aws:")}
    tags.update(spec.distribution.tags)
    tags.update({TAG_SOURCE_ACCOUNT: spec.source.account, TAG_SOURCE_IMAGE: image.image_id})
    name = f"{image.image_id}:{dest.account}:{region}"
    copy = CopyToDestination(
        key=f"copy:{name}",
        account=dest.account,
        region=region,
        role_arn=dest.role_arn,
        external_id=dest.external_id,
        actor=Principal.DESTINATION,
        source_image=subject.image,
        source_region=region,
        name=f"{image.name[:90]}-from-{image.image_id}",
        description=f"copy of {image.image_id} from account {spec.source.account}",
        kms_key=dest_key,
        tags=tags,
        label=dest.label,
        completion_minutes=spec.distribution.copy_minutes,
        depends_on=(*subject.ready, *gates),
    )
    staging_wait = subject.ready[0] if subject.ready else None
    wait = AwaitImage(
        key=f"await:{name}",
        account=dest.account,
        region=region,
        role_arn=dest.role_arn,
        external_id=dest.external_id,
        actor=Principal.DESTINATION,
        image=f"@{copy.key}",
        timeout=spec.timeout,
        # the staging copy of the same image took about as long: poll near its end
        expected=f"@{staging_wait}#seconds" if staging_wait else None,
        started=f"@{copy.key}#started_at",
        label=f"{dest.label or dest.account}'s copy in {region}",
        depends_on=(copy.key,),
    )
    made: list[Action] = [copy, wait, *_distribution(spec, dest, region, name, copy.key, wait.key)]
    key = subject.keys[0] if subject.keys else None
    if spec.grant_autoscaling and key is not None:
        made.append(
            CreateGrant(  # docs/aws-facts.md section 2: Auto Scaling launching from the live share
                key=f"autoscaling-grant:{name}",
                account=dest.account,
                region=region,
                role_arn=dest.role_arn,
                external_id=dest.external_id,
                actor=Principal.DESTINATION,
                key_arn=key.arn,
                key_label=key.display,
                grantee=AUTOSCALING_ROLE.format(account=dest.account),
                operations=AUTOSCALING_GRANT_OPERATIONS,
                name="amishare-autoscaling",
                purpose=f"{dest.label or dest.account} grants the source key to its Auto Scaling role in {region}",
                depends_on=(*subject.ready, *((policy_edit,) if policy_edit else ())),
            )
        )
    return made


def _distribution(spec: TransferSpec, dest: Destination, region: str, name: str, copy: str, wait: str) -> list[Action]:
    """What the destination gets once its copy is available: its SSM parameter and launch template pointing at
    the copy, the copy's deprecation and deregistration protection."""
    dist = spec.distribution
    where: dict[str, Any] = {
        "account": dest.account,
        "region": region,
        "role_arn": dest.role_arn,
        "external_id": dest.external_id,
        "actor": Principal.DESTINATION,
        "depends_on": (wait,),
    }
    image = f"@{copy}"
    pointers = pointer_actions(dist, dist.parameter_for(dest), dist.template_for(dest), image, name, where)
    return pointers + copy_settings(dist, image, name, where)
