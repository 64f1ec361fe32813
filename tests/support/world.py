"""The accounts and regions every test uses, and what tests do to the sandbox by hand (no amishare involved):
assert on a refusal, read the mutating calls from the call log, share an image the way a user would."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from amishare.sandbox import Sandbox

OWNER = "111111111111"
TARGET = "222222222222"
OTHER = "333333333333"
REGION = "us-east-1"
REGION2 = "eu-west-1"

Clients = Callable[..., Any]


def error_of(call: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, str]:
    """Run a call that must fail with a ClientError; return its ``Error`` (Code, Message)."""
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return dict(caught.value.response["Error"])


def mutating_calls(sb: Sandbox) -> list[str]:
    return [f"{c.service}:{c.action}" for c in sb.calls() if c.mutating]


def share_by_hand(ec2: Any, image: str, account: str, *, snapshots: bool = True) -> None:
    """The owner's ``ec2`` client opens launch permission (and, unless not ``snapshots``, createVolumePermission
    on every snapshot) of ``image`` for ``account``, as a user would with the CLI: no amishare involved."""
    ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": account}]})
    if snapshots:
        for mapping in ec2.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"]:
            ec2.modify_snapshot_attribute(
                SnapshotId=mapping["Ebs"]["SnapshotId"],
                Attribute="createVolumePermission",
                OperationType="add",
                UserIds=[account],
            )


def seed_destinations(sb: Sandbox, accounts: tuple[str, ...] = (TARGET, OTHER)) -> None:
    """OWNER with a share key ``alias/amishare-share`` in REGION and REGION2; each of ``accounts`` with AmiShareRole
    (trusting OWNER) and a key ``alias/mine`` in both."""
    for region in (REGION, REGION2):
        sb.create_key(OWNER, region, alias="amishare-share")
    for account in accounts:
        sb.create_role(account, "AmiShareRole", trusted_account=OWNER)
        for region in (REGION, REGION2):
            sb.create_key(account, region, alias="mine")


def two_destinations(sb: Sandbox, folder: Path, journal: str) -> None:
    """``seed_destinations`` for TARGET and OTHER, and an amishare.toml in ``folder`` recording runs in ``journal``."""
    seed_destinations(sb)
    (folder / "amishare.toml").write_text(
        f'[defaults]\nregion = "{REGION}"\nshare_key = "alias/amishare-share"\nrole_name = "AmiShareRole"\n'
        f'endpoint_url = "{sb.endpoint_url}"\njournal = "{journal}"\n[transfer]\ndest_key = "alias/mine"\n'
    )
