"""What stops a target from the owner's side of an image (pure): the image's state and deprecation, its launch
and snapshot permissions, and an AWS managed key (docs/aws-facts.md sections 1 and 5)."""

from __future__ import annotations

import datetime as dt

from amishare.checks.doctor.cause import Cause
from amishare.checks.doctor.facts import DoctorFacts, time_of
from amishare.model import ImageInfo


def image_causes(facts: DoctorFacts) -> list[Cause]:
    """What stops every capability at the image itself: not in the region, deregistered, disabled, pending,
    failed."""
    where = f"in {facts.region}"
    if facts.state == "missing":
        if facts.elsewhere:
            regions = ", ".join(facts.elsewhere)
            return [
                Cause(
                    "NOT_IN_REGION",
                    f"{facts.image_id} does not exist {where}; it exists in {regions} (AMIs are regional)",
                    f"copy it into {facts.region} and share the copy (`amishare transfer {facts.image_id} "
                    f"--from OWNER --to {facts.account} --region {facts.elsewhere[0]} --regions {facts.region} "
                    f"--keep-share`), or look in {regions}",
                )
            ]
        return [
            Cause(
                "NOT_IN_REGION",
                f"{facts.image_id} does not exist {where} nor in any other region of the owner amishare looked in",
                "check the image id and --region",
            )
        ]
    if facts.state == "deregistered":
        return [
            Cause(
                "DEREGISTERED",
                f"{facts.image_id} was deregistered {where}",
                "share a current image (or restore this one from the Recycle Bin if a retention rule kept it)",
            )
        ]
    if facts.state == "disabled":
        return [
            Cause(
                "DISABLED",
                f"{facts.image_id} is disabled: DisableImage removed every launch permission",
                f"aws ec2 enable-image --image-id {facts.image_id} --region {facts.region}, then share it again "
                f"(`amishare share {facts.image_id} --to {facts.account} --region {facts.region}`): "
                "enabling does not restore the permissions",
            )
        ]
    if facts.state == "pending":
        return [
            Cause(
                "PENDING",
                f"{facts.image_id} is pending {where}: it is still being made (a copy or registration in progress), "
                "and no one can use it until it is available",
                f"wait until it is available (aws ec2 wait image-available --image-ids {facts.image_id} --region "
                f"{facts.region}), then ask again",
            )
        ]
    if facts.state != "available":
        return [
            Cause(
                "NOT_AVAILABLE",
                f"{facts.image_id} is {facts.state} {where}: it will not become available",
                "build or copy the image again, and share the new one",
            )
        ]
    return []


def deprecation(facts: DoctorFacts, now: dt.datetime) -> list[Cause]:
    """A warning once the image is past its deprecation time at ``now`` (it still launches)."""
    if not facts.deprecation_time:
        return []
    if time_of(facts.deprecation_time) > now:
        return []
    return [
        Cause(
            "DEPRECATED",
            f"{facts.image_id} is deprecated since {facts.deprecation_time}: it still launches, but other accounts "
            "find it only by id (listings hide it)",
            f"move to a current image, or aws ec2 disable-image-deprecation --image-id {facts.image_id} "
            f"--region {facts.region}",
        )
    ]


def launch_permission(facts: DoctorFacts, image: ImageInfo) -> list[Cause]:
    """Launch permission that names neither the account, its organization or OU, nor everyone."""
    launch = image.launch
    if launch.public or facts.account in launch.accounts:
        return []
    if facts.org_id and any(arn.endswith(f"/{facts.org_id}") for arn in launch.organizations):
        return []
    paths = "".join(facts.org_paths)
    if any(arn.rsplit("/", 1)[-1] in paths for arn in launch.ous):
        return []
    if facts.target is not None and facts.target.sees_image:
        return []  # shared through an organization or OU the owner's view could not place the account in
    shared = launch.targets()
    known = f"it is shared with {', '.join(str(t) for t in shared)}" if shared else "it is shared with no one"
    unsure = (
        " (amishare could not tell whether the account belongs to those organizations or OUs: neither the "
        "owner is the management account nor the target has a configured role)"
        if (launch.organizations or launch.ous) and not facts.org_id and facts.target is None
        else ""
    )
    return [
        Cause(
            "NO_LAUNCH_PERMISSION",
            f"the launch permission of {facts.image_id} does not include {facts.account}: {known}{unsure}",
            f"`amishare share {facts.image_id} --to {facts.account} --region {facts.region}`",
        )
    ]


def aws_managed(facts: DoctorFacts, image: ImageInfo) -> Cause | None:
    """A key of ``image`` that is AWS managed (aws/ebs): nobody else can ever use the image (None: none is)."""
    for arn in image.key_arns:
        key = facts.keys.get(arn)
        if key is not None and key.aws_managed:
            share = f"amishare share {facts.image_id} --to {facts.account} --region {facts.region}"
            return Cause(
                "AWS_MANAGED_KEY",
                f"{facts.image_id} is encrypted with the AWS managed key aws/ebs: AWS refuses to share it (launch "
                "or snapshot permission) and no other account can use the key",
                f"share a copy re-encrypted with {facts.share_key} (amishare.toml's share_key): `{share}`"
                if facts.share_key
                else f"re-encrypt with a customer managed key and share the copy: `{share} --reencrypt-key "
                "alias/YOUR-SHARE-KEY` (or set share_key in amishare.toml and leave out --reencrypt-key)",
            )
    return None


def snapshot_causes(facts: DoctorFacts, image: ImageInfo) -> list[Cause]:
    """Snapshots without createVolumePermission for the account (a copy needs them, a launch does not)."""
    missing = [s.snapshot_id for s in image.snapshots if facts.account not in s.shared_with and not s.public]
    if not missing:
        return []
    return [
        Cause(
            "SNAPSHOT_NOT_SHARED",
            f"snapshot(s) {', '.join(missing)} have no createVolumePermission for {facts.account}: a copy fails "
            "(a launch does not need it)",
            f"`amishare share {facts.image_id} --to {facts.account} --region {facts.region}` (shares the snapshots "
            "with the image; organizations and OUs cannot be given snapshots, only accounts)",
        )
    ]
