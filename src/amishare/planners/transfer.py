"""The transfer planner (pure): share -> copy -> re-encrypt -> revoke, into many accounts and regions.

For each requested region: stage the image in the source account when it must be (an image on
``aws/ebs`` or unencrypted is re-encrypted under the share key; another region always gets a copy
under that region's share key), open the three gates for every destination at once (the same
``open_gates`` as ``share``: one call per gate, the key policy edit computed here), have each
destination copy the staged image with its own key, wait (batched), revoke each destination's
access as its copy completes, and delete the staging copies this run made.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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
    ImageInfo,
    KeyInfo,
    Target,
    TargetKind,
    arn_account,
)
from amishare.planners.distribution import copy_settings, pointer_actions
from amishare.planners.gates import Acting, Audience, Subject, open_gates
from amishare.planners.share import SHARE_KEY_HOWTO
from amishare.planners.transfer_preflight import check_transfer
from amishare.planners.transfer_spec import Destination, OwnedCopy, TransferObservation, TransferSpec
from amishare.policy import key_policy
from amishare.policy.access import AUTOSCALING_GRANT_OPERATIONS, AUTOSCALING_ROLE


def plan_transfer(obs: TransferObservation, spec: TransferSpec) -> Plan:
    """Every action of the transfer, in every region (see the module docstring)."""
    missing = check_transfer(obs, spec)
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


@dataclass(frozen=True)
class _Opened:
    """The gates opened in one region: what each destination's copy waits for, and what its revocation undoes
    (only what this run opened: access a destination had before stays)."""

    region: str
    scope: str  # the image and region, which names the region's actions
    subject: Subject  # what the destinations copy
    key: KeyInfo | None  # the key that encrypts it
    key_before: frozenset[str]  # accounts its key policy admitted before this run
    image_before: frozenset[str]  # accounts that could already copy the image before this run
    by_grant: bool  # the destinations reach the key through grants of their own, not its policy
    grants: dict[str | None, str]  # destination account -> the key of its grant's action
    shared: tuple[str, ...]  # the gates every destination waits for
    policy_edit: str | None  # the key policy edit, when there is one

    def gates_of(self, account: str) -> tuple[str, ...]:
        """What the copy of ``account`` waits for: the shared gates and its own grant."""
        return (*self.shared, *((self.grants[account],) if account in self.grants else ()))


def _acting(spec: TransferSpec, region: str, scope: str) -> Acting:
    return Acting(spec.source.account, region, scope, spec.source.role)


def _region(obs: TransferObservation, spec: TransferSpec, region: str, notes: list[str]) -> list[Action]:
    """The region's staging copy (when needed), its gates, each destination's part, and the clean-up: for the
    destinations that do not own a copy yet. One that does is only brought in line (its parameter, template,
    deprecation and protection); when every destination does, the region needs no staging copy and no gate."""
    owned, caught_up = _already_owned(obs, spec, region, notes)
    todo = tuple(d for d in spec.destinations if d.account not in owned)
    if not todo:
        return caught_up
    actions, subject = _subject(obs, spec, region)
    gates, opened = _open_gates(obs, spec, region, subject, notes, todo)
    actions += gates + caught_up
    waits: list[str] = []
    for dest in todo:
        made = _destination(obs, spec, dest, opened)
        waits.append(made[1].key)
        actions += made
        if not spec.keep_share:
            actions.append(_revoke(obs.image, spec, dest, opened, made[1].key))
    if subject.info is None and not spec.keep_staging and not spec.keep_share:
        actions.append(_delete_staging(spec, opened, tuple(waits)))
    return actions


def _open_gates(
    obs: TransferObservation,
    spec: TransferSpec,
    region: str,
    subject: Subject,
    notes: list[str],
    destinations: tuple[Destination, ...],
) -> tuple[list[Action], _Opened]:
    """The gates of ``region`` for every one of ``destinations`` at once, and what they opened."""
    scope = f"{obs.image.image_id}:{region}"
    accounts = tuple(d.account for d in destinations)
    key = subject.keys[0] if subject.keys else None
    key_before = frozenset(key_policy.granted(key.policy).accounts) if key and key.policy else frozenset()
    image_before = frozenset() if subject.info is None else _could_copy(obs.image)
    kept = sorted((key_before | image_before) & set(accounts))
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
    opened = _Opened(
        region=region,
        scope=scope,
        subject=subject,
        key=key,
        key_before=key_before,
        image_before=image_before,
        by_grant=by_grant,
        grants={arn_account(g.grantee): g.key for g in gates if isinstance(g, CreateGrant)},
        shared=tuple(a.key for a in gates if not isinstance(a, CreateGrant)),
        policy_edit=next((a.key for a in gates if isinstance(a, PutKeyPolicy)), None),
    )
    return gates, opened


def _could_copy(image: ImageInfo) -> frozenset[str]:
    """The accounts that can already launch and copy ``image`` (its launch and every snapshot permission)."""
    return frozenset(a for a in image.launch.accounts if all(a in s.shared_with for s in image.snapshots))


def _revoke(image: ImageInfo, spec: TransferSpec, dest: Destination, opened: _Opened, wait: str) -> RevokeDestination:
    """The revocation of what this run opened for ``dest``, once its copy (``wait``) is done."""
    key = opened.key
    return RevokeDestination(
        key=f"revoke:{image.image_id}:{dest.account}:{opened.region}",
        account=spec.source.account,
        region=opened.region,
        role=spec.source.role,
        image=opened.subject.image,
        target=dest.account,
        label=dest.label,
        # only what this run opened is closed: access the destination had before stays
        key_arn=key.arn if key and not opened.by_grant and dest.account not in opened.key_before else None,
        grant_key_arn=key.arn if key and dest.account in opened.grants else None,
        image_access=dest.account not in opened.image_before,
        depends_on=opened.subject.ready,
        after=(wait,),
    )


def _delete_staging(spec: TransferSpec, opened: _Opened, waits: tuple[str, ...]) -> DeleteStaging:
    return DeleteStaging(
        key=f"delete-staging:{opened.scope}",
        account=spec.source.account,
        region=opened.region,
        role=spec.source.role,
        image=opened.subject.image,
        depends_on=(f"stage:{opened.scope}",),
        after=waits,  # revocations of a deleted image are moot (their key access still goes)
    )


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
        role=source.role,
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
        role=source.role,
        image=f"@{stage.key}",
        timeout=spec.timeout,
        label=f"the staging copy in {region}",
        depends_on=(stage.key,),
    )
    return [stage, wait], Subject(f"@{stage.key}", None, f"the staging copy in {region}", (key,), (wait.key,))


def _destination(obs: TransferObservation, spec: TransferSpec, dest: Destination, opened: _Opened) -> list[Action]:
    """A destination's copy, its wait, and (live shares) its Auto Scaling grant on the source key."""
    image = obs.image
    region, subject = opened.region, opened.subject
    dest_key = spec.dest_key_for(dest, region)
    tags = {k: v for k, v in image.tags.items() if not k.startswith("aws:")}
    tags.update(spec.distribution.tags)
    tags.update({TAG_SOURCE_ACCOUNT: spec.source.account, TAG_SOURCE_IMAGE: image.image_id})
    name = f"{image.image_id}:{dest.account}:{region}"
    copy = CopyToDestination(
        key=f"copy:{name}",
        account=dest.account,
        region=region,
        role=dest.role,
        actor=Principal.DESTINATION,
        source_image=subject.image,
        source_region=region,
        name=f"{image.name[:90]}-from-{image.image_id}",
        description=f"copy of {image.image_id} from account {spec.source.account}",
        kms_key=dest_key,
        tags=tags,
        label=dest.label,
        completion_minutes=spec.distribution.copy_minutes,
        depends_on=(*subject.ready, *opened.gates_of(dest.account)),
    )
    staging_wait = subject.ready[0] if subject.ready else None
    wait = AwaitImage(
        key=f"await:{name}",
        account=dest.account,
        region=region,
        role=dest.role,
        actor=Principal.DESTINATION,
        image=f"@{copy.key}",
        timeout=spec.timeout,
        # the staging copy of the same image took about as long: poll near its end
        expected=f"@{staging_wait}#seconds" if staging_wait else None,
        started=f"@{copy.key}#started_at",
        label=f"{dest.label or dest.account}'s copy in {region}",
        depends_on=(copy.key,),
        # a fresh grant may be refused for seconds to minutes (docs/aws-facts.md section 9): copy again
        made_by=copy.key if dest.account in opened.grants else "",
        key_access_window=GRANT_SETTLE_WINDOW if dest.account in opened.grants else 0.0,
    )
    made: list[Action] = [copy, wait, *_distribution(spec, dest, region, name, f"@{copy.key}", (wait.key,))]
    if spec.grant_autoscaling and opened.key is not None:
        made.append(_autoscaling_grant(dest, opened, opened.key, name))
    return made


GRANT_SETTLE_WINDOW = 600.0  # seconds after a copy starts during which a refusal of its fresh grant is retried


def _autoscaling_grant(dest: Destination, opened: _Opened, key: KeyInfo, name: str) -> CreateGrant:
    """The destination's grant of the source key to its Auto Scaling role, for launches from the live share."""
    policy_edit = opened.policy_edit
    return CreateGrant(  # docs/aws-facts.md section 2: Auto Scaling launching from the live share
        key=f"autoscaling-grant:{name}",
        account=dest.account,
        region=opened.region,
        role=dest.role,
        actor=Principal.DESTINATION,
        key_arn=key.arn,
        key_label=key.display,
        grantee=AUTOSCALING_ROLE.format(account=dest.account),
        operations=AUTOSCALING_GRANT_OPERATIONS,
        name="amishare-autoscaling",
        purpose=f"{dest.label or dest.account} grants the source key to its Auto Scaling role in {opened.region}",
        depends_on=(*opened.subject.ready, *((policy_edit,) if policy_edit else ())),
    )


def _already_owned(
    obs: TransferObservation, spec: TransferSpec, region: str, notes: list[str]
) -> tuple[dict[str, OwnedCopy], list[Action]]:
    """The destinations that already own a copy in ``region``, and what their copies still lack."""
    owned = {d.account: copy for d in spec.destinations if (copy := _owned(obs, d, region)) is not None}
    if owned:
        who = ", ".join(d.label or d.account for d in spec.destinations if d.account in owned)
        owns = "owns its copy" if len(owned) == 1 else "own their copies"
        notes.append(f"{who} already {owns} in {region}: not copied again")
    caught_up = [
        action
        for d in spec.destinations
        if d.account in owned
        for action in _catch_up(spec, d, region, owned[d.account], obs.image.image_id)
    ]
    return owned, caught_up


def _owned(obs: TransferObservation, dest: Destination, region: str) -> OwnedCopy | None:
    """The copy ``dest`` already owns in ``region``, as the preflight found it (None: it owns none)."""
    check = obs.destinations.get(dest.account)
    return check.copies.get(region) if check is not None else None


def _catch_up(spec: TransferSpec, dest: Destination, region: str, copy: OwnedCopy, source: str) -> list[Action]:
    """What a copy ``dest`` already owns still lacks of the distribution: only the settings that differ."""
    return _distribution(spec, dest, region, f"{source}:{dest.account}:{region}", copy.image_id, owned=copy)


def _distribution(
    spec: TransferSpec,
    dest: Destination,
    region: str,
    name: str,
    image: str,
    depends_on: tuple[str, ...] = (),
    owned: OwnedCopy | None = None,
) -> list[Action]:
    """What the destination gets once its copy (``image``, an id or ``@<copy>``) is available: its SSM parameter
    and launch template pointing at the copy, the copy's deprecation and deregistration protection; for a copy
    it already ``owned``, only the settings that differ from what the preflight found."""
    dist = spec.distribution
    parameter, template = dist.parameter_for(dest), dist.template_for(dest)
    if owned is not None:
        parameter = parameter if owned.parameter_image != image else None
        template = template if owned.template_image != image else None
        dist = replace(
            dist,
            deprecate_after=None if owned.deprecated else dist.deprecate_after,
            deregistration_protection=dist.deregistration_protection and not owned.protected,
        )
    where: dict[str, Any] = {
        "account": dest.account,
        "region": region,
        "role": dest.role,
        "actor": Principal.DESTINATION,
        "depends_on": depends_on,
    }
    return pointer_actions(dist, parameter, template, image, name, where) + copy_settings(dist, image, name, where)
