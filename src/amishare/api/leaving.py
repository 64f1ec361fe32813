"""``leave_share``: the consumer's side of a share. An account drops an image shared with it that it no longer
wants (``CancelImageLaunchPermission``, docs/aws-facts.md section 1): it stops seeing the image, so it cannot
launch it by mistake. Only a share by account id can be dropped; the owner can share again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from amishare import inputs
from amishare.api.context import Settings
from amishare.aws.client import Client
from amishare.errors import AwsError, NotFound, UsageError


@dataclass(frozen=True)
class LeaveShareRequest:
    """``amishare leave-share``: remove the caller's account from the launch permission of ``image``."""

    image: str
    region: str | None = None


@dataclass(frozen=True)
class LeftShare:
    """What ``leave_share`` found and did: the image, its owner, whether the share was dropped (False on a dry
    run or when declined) and whether the image is still visible to the account afterwards (through its
    organization, an OU or publicly: only the owner can end those)."""

    image_id: str
    name: str
    owner: str
    account: str
    region: str
    dropped: bool
    still_visible: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "amishare.leave-share/1",
            "image_id": self.image_id,
            "name": self.name,
            "owner": self.owner,
            "account": self.account,
            "region": self.region,
            "dropped": self.dropped,
            "still_visible": self.still_visible,
        }


def leave_share(
    settings: Settings,
    request: LeaveShareRequest,
    *,
    dry_run: bool = False,
    confirm: Callable[[LeftShare], bool] | None = None,
) -> LeftShare:
    """Drop ``request.image``'s share with the caller's account, after ``confirm`` (given what would be done)
    says yes; nothing changes on a dry run or a no."""
    image_id = inputs.image_id(request.image)
    where = settings.region(request.region)
    sessions = settings.sessions()
    account = sessions.caller_account()
    ec2 = sessions.client("ec2", where)
    image = _seen(ec2, image_id)
    if image is None:
        raise NotFound(
            f"{image_id} is not shared with account {account} in {where} (or does not exist): nothing to leave",
            operation="DescribeImages",
            code="InvalidAMIID.NotFound",
            account=account,
            region=where,
        )
    found = LeftShare(image_id, str(image.get("Name", "")), str(image["OwnerId"]), account, where, False, True)
    if found.owner == account:
        raise UsageError(
            f"{image_id} is this account's own image: to stop sharing it, run amishare revoke {image_id} --from ACCOUNT"
        )
    if dry_run or (confirm is not None and not confirm(found)):
        return found
    try:
        ec2.cancel_image_launch_permission(ImageId=image_id)
    except AwsError as exc:
        if exc.code != "InvalidParameter":
            raise
        raise AwsError(
            f"{image_id} is shared with account {account} through its organization, an OU or publicly, not by its "
            f"account id: only its owner {found.owner} can remove that (amishare revoke {image_id} --from "
            f"ORGANIZATION_OR_OU, run in {found.owner}); AWS said: {exc.aws_message or exc}",
            operation="CancelImageLaunchPermission",
            code=exc.code,
            account=account,
            region=where,
        ) from exc
    return LeftShare(found.image_id, found.name, found.owner, account, where, True, _seen(ec2, image_id) is not None)


def _seen(ec2: Client, image_id: str) -> dict[str, Any] | None:
    try:
        images = ec2.describe_images(ImageIds=[image_id])["Images"]
    except NotFound:
        return None
    return images[0] if images else None
