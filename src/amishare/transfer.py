"""The transfer planner (pure): share -> copy -> re-encrypt -> revoke, into many accounts and regions.

For each requested region: stage the image in the source account when it must be (an image on
``aws/ebs`` or unencrypted is re-encrypted under the share key; another region always gets a copy
under that region's share key), open the three gates for every destination at once (one call per
gate), have each destination copy the staged image with its own key, wait (batched), revoke each
destination's access as its copy completes, and delete the staging copies this run made.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from amishare import keypolicy
from amishare.actions import Action, ActionKind, Plan
from amishare.errors import PlanRefused
from amishare.keypolicy import AUTOSCALING_ROLE
from amishare.model import (
    TAG_MANAGED,
    TAG_SOURCE_ACCOUNT,
    TAG_SOURCE_IMAGE,
    TAG_STAGING,
    ImageInfo,
    KeyInfo,
    Target,
    TargetKind,
)
from amishare.plan import SHARE_KEY_HOWTO

# AWS-RULES.md section 2: what the grant for AWSServiceRoleForAutoScaling allows.
AUTOSCALING_OPERATIONS = (
    "Encrypt",
    "Decrypt",
    "ReEncryptFrom",
    "ReEncryptTo",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "DescribeKey",
    "CreateGrant",
)


@dataclass(frozen=True)
class Party:
    """An account amishare acts in, and how to get there."""

    account: str
    role_arn: str | None = None  # None: the caller's own credentials
    external_id: str | None = None
    label: str = ""

    def params(self) -> dict[str, str]:
        out = {"role_arn": self.role_arn} if self.role_arn else {}
        if self.role_arn and self.external_id:
            out["external_id"] = self.external_id
        return out


@dataclass(frozen=True)
class Destination(Party):
    keys: dict[str, str] = field(default_factory=dict)  # region -> key reference for its copies


@dataclass(frozen=True)
class TransferRequest:
    source: Party
    destinations: tuple[Destination, ...]
    regions: tuple[str, ...]
    dest_key: str | None = None  # one key reference for every destination (overrides their config)
    allow_default_key: bool = False
    keep_share: bool = False
    keep_staging: bool = False
    grant_autoscaling: bool = False
    timeout: float = 24 * 3600
    notify_email: str | None = None
    ses_sender: str | None = None
    notify_sns: str | None = None


@dataclass(frozen=True)
class TransferObservation:
    caller_account: str
    source_region: str
    image: ImageInfo
    keys: dict[str, KeyInfo]  # the image's keys
    share_keys: dict[str, KeyInfo]  # region -> the source account's share key there


def plan_transfer(obs: TransferObservation, request: TransferRequest) -> Plan:
    image = obs.image
    source = request.source
    if image.state != "available":
        raise PlanRefused(f"image {image.image_id} is {image.state}: only an available image can be transferred")
    if not request.destinations:
        raise PlanRefused("no destination: name at least one with --to")
    if any(d.account == source.account for d in request.destinations):
        raise PlanRefused(f"account {source.account} is the source: it cannot also be a destination")
    missing = [
        (d.account, r) for d in request.destinations for r in request.regions if not (request.dest_key or d.keys.get(r))
    ]
    if missing and not request.allow_default_key:
        shown = ", ".join(f"{a} in {r}" for a, r in missing[:6]) + (" ..." if len(missing) > 6 else "")
        raise PlanRefused(
            f"no destination key for {shown}: a copy without an explicit key is encrypted with the destination "
            "account's default EBS key, often aws/ebs, which can never be shared onward. Give each account a key "
            'per region (keys = {{ <region> = "alias/..." }} under [accounts.NAME]) or --dest-key, or pass '
            "--allow-default-key to accept the default"
        )
    image_keys = [obs.keys[a] for a in image.key_arns]
    shareable_here = bool(image_keys) and not any(k.aws_managed for k in image_keys)
    notes: list[str] = []
    warnings: list[str] = []
    actions: list[Action] = []
    accounts = [d.account for d in request.destinations]
    source_params = source.params()
    for region in request.regions:
        subject_key: KeyInfo | None
        ready: tuple[str, ...]
        staged = region != obs.source_region or not shareable_here
        if staged:
            key = obs.share_keys.get(region)
            if key is None or key.aws_managed or key.state != "Enabled":
                state = "missing" if key is None else ("AWS managed" if key.aws_managed else key.state)
                raise PlanRefused(
                    f"the share key of {region} is {state}: staging needs a customer managed key in "
                    f"each region; {SHARE_KEY_HOWTO.format(region=region)}"
                )
            stage_key = f"stage:{region}"
            tags = {k: v for k, v in image.tags.items() if not k.startswith("aws:")}
            tags.update({TAG_SOURCE_IMAGE: image.image_id, TAG_STAGING: "true", TAG_MANAGED: "true"})
            actions.append(
                Action(
                    key=stage_key,
                    kind=ActionKind.STAGE_IMAGE,
                    account=source.account,
                    region=region,
                    summary=f"stage {image.image_id} in {region}, encrypted with {key.display}",
                    params={
                        "source_image": image.image_id,
                        "source_region": obs.source_region,
                        "name": f"{image.name[:90]}-amishare-staging-{region}",
                        "description": f"amishare staging copy of {image.image_id}",
                        "kms_key": key.arn,
                        "tags": tags,
                        **source_params,
                    },
                )
            )
            actions.append(
                Action(
                    key=f"await-stage:{region}",
                    kind=ActionKind.AWAIT_IMAGE,
                    account=source.account,
                    region=region,
                    summary=f"wait for the staging copy in {region}",
                    params={"image": f"@{stage_key}", "timeout": request.timeout, **source_params},
                    depends_on=(stage_key,),
                )
            )
            subject, subject_key, ready = f"@{stage_key}", key, (f"await-stage:{region}",)
        else:
            subject, ready = image.image_id, ()
            subject_key = image_keys[0] if image_keys else None
            if len(image_keys) > 1:
                raise PlanRefused(
                    f"image {image.image_id} uses several keys: amishare stages it instead when "
                    "transferring to another region only; re-encrypt it with one key first"
                )
            if subject_key is not None and subject_key.account != source.account:
                raise PlanRefused(
                    f"key {subject_key.arn} belongs to account {subject_key.account}: its owner must "
                    "grant the destinations access (amishare share prints the statement)"
                )
        key_before = keypolicy.granted(subject_key.policy).accounts if subject_key and subject_key.policy else set()
        image_before = (
            set() if staged else {a for a in image.launch.accounts if all(a in s.shared_with for s in image.snapshots)}
        )
        kept = sorted((set(key_before) | image_before) & set(accounts))
        if kept and not request.keep_share:
            notes.append(f"{', '.join(kept)} already had access in {region} before this run: it is kept")
        gates: list[str] = []
        if subject_key is not None:
            actions.append(
                Action(
                    key=f"key-access:{region}",
                    kind=ActionKind.UPDATE_KEY_ACCESS,
                    account=source.account,
                    region=region,
                    summary=f"key policy of {subject_key.display}: allow {len(accounts)} destination "
                    f"account(s) through EC2 in {region}",
                    params={
                        "key": subject_key.arn,
                        "add": accounts,
                        "autoscaling": accounts if request.grant_autoscaling else [],
                        **source_params,
                    },
                    depends_on=ready,
                )
            )
            gates.append(f"key-access:{region}")
        actions.append(
            Action(
                key=f"share-snapshots:{region}",
                kind=ActionKind.SHARE_SNAPSHOTS,
                account=source.account,
                region=region,
                summary=f"createVolumePermission for {len(accounts)} destination account(s) in {region}",
                params={"image": subject, "accounts": accounts, "changes": None, **source_params},
                depends_on=ready,
            )
        )
        actions.append(
            Action(
                key=f"share-image:{region}",
                kind=ActionKind.SHARE_IMAGE,
                account=source.account,
                region=region,
                summary=f"launch permission for {len(accounts)} destination account(s) in {region}",
                params={
                    "image": subject,
                    "accounts": accounts,
                    "organizations": [],
                    "ous": [],
                    "public": False,
                    **source_params,
                },
                depends_on=(*ready, *gates, f"share-snapshots:{region}"),
            )
        )
        waits: list[str] = []
        for dest in request.destinations:
            dest_key = request.dest_key or dest.keys.get(region)
            copy_key = f"copy:{dest.account}:{region}"
            tags = {k: v for k, v in image.tags.items() if not k.startswith("aws:")}
            tags.update({TAG_SOURCE_ACCOUNT: source.account, TAG_SOURCE_IMAGE: image.image_id})
            actions.append(
                Action(
                    key=copy_key,
                    kind=ActionKind.COPY_TO_DESTINATION,
                    account=dest.account,
                    region=region,
                    summary=f"{dest.label or dest.account} copies it in {region} with "
                    f"{dest_key or 'its default EBS key'}",
                    params={
                        "source_image": subject,
                        "source_region": region,
                        "name": f"{image.name[:90]}-from-{image.image_id}",
                        "description": f"copy of {image.image_id} from account {source.account}",
                        "kms_key": dest_key,
                        "tags": tags,
                        **dest.params(),
                    },
                    depends_on=(f"share-image:{region}",),
                )
            )
            await_key = f"await:{dest.account}:{region}"
            actions.append(
                Action(
                    key=await_key,
                    kind=ActionKind.AWAIT_IMAGE,
                    account=dest.account,
                    region=region,
                    summary=f"wait for {dest.label or dest.account}'s copy in {region}",
                    params={
                        "image": f"@{copy_key}",
                        "timeout": request.timeout,
                        # the staging copy of the same image took about as long: poll near its end
                        "expected": f"@await-stage:{region}#seconds" if staged else None,
                        **dest.params(),
                    },
                    depends_on=(copy_key,),
                )
            )
            waits.append(await_key)
            if request.grant_autoscaling and subject_key is not None:
                role = AUTOSCALING_ROLE.format(account=dest.account)
                actions.append(
                    Action(  # AWS-RULES.md section 2: Auto Scaling launching from the live share
                        key=f"autoscaling-grant:{dest.account}:{region}",
                        kind=ActionKind.CREATE_GRANT,
                        account=dest.account,
                        region=region,
                        summary=f"{dest.label or dest.account} grants the source key to its Auto Scaling role "
                        f"in {region}",
                        params={
                            "key": subject_key.arn,
                            "grantee": role,
                            "operations": list(AUTOSCALING_OPERATIONS),
                            "name": "amishare-autoscaling",
                            **dest.params(),
                        },
                        depends_on=(f"key-access:{region}",),
                    )
                )
            if not request.keep_share:
                actions.append(
                    Action(
                        key=f"revoke:{dest.account}:{region}",
                        kind=ActionKind.REVOKE_DESTINATION,
                        account=source.account,
                        region=region,
                        summary=f"revoke {dest.label or dest.account}'s access to the source in {region}",
                        params={
                            "image": subject,
                            # only what this run opened is closed: access the destination had before stays
                            "key": subject_key.arn if subject_key and dest.account not in key_before else None,
                            "image_access": dest.account not in image_before,
                            "target": dest.account,
                            **source_params,
                        },
                        depends_on=ready,
                        after=(await_key,),
                    )
                )
        if staged and not request.keep_staging and not request.keep_share:
            actions.append(
                Action(
                    key=f"delete-staging:{region}",
                    kind=ActionKind.DELETE_STAGING,
                    account=source.account,
                    region=region,
                    summary=f"delete the staging copy in {region} and its snapshots",
                    params={"image": subject, **source_params},
                    depends_on=(f"stage:{region}",),
                    after=tuple(waits),  # revocations of a deleted image are moot (their key access still goes)
                )
            )
    if request.keep_share:
        notes.append(
            "--keep-share: destinations keep access to the source (a live share); staging copies are kept "
            "because they carry that share"
        )
    elif request.keep_staging:
        notes.append("--keep-staging: the staging copies are kept after the transfer")
    if missing:
        warnings.append(f"{len(missing)} copy(ies) will use the destination's default EBS key (--allow-default-key)")
    targets = tuple(Target(TargetKind.ACCOUNT, d.account, d.label) for d in request.destinations)
    return Plan(
        command="transfer",
        account=source.account,
        region=obs.source_region,
        image_id=image.image_id,
        targets=targets,
        actions=tuple(actions),
        subject=image.image_id,
        notes=tuple(notes),
        warnings=tuple(warnings),
        extra={
            "regions": list(request.regions),
            "notify": {"email": request.notify_email, "ses_sender": request.ses_sender, "sns": request.notify_sns},
        },
    )
