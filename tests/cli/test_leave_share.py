"""``amishare leave-share`` (issue 19, item 7): a consumer drops an image shared with it that it no longer wants
(CancelImageLaunchPermission), through the sandbox; every refusal is clear, with its exit code and no change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from amishare.cli.main import cli
from amishare.sandbox import Sandbox
from tests.support.world import OTHER, OWNER, REGION, TARGET, mutating_calls, share_by_hand


def _as(sb: Sandbox, account: str, tmp_path: Path, *args: str) -> Any:
    env = {**sb.credentials(account), "AWS_REGION": REGION, "AMISHARE_JOURNAL": str(tmp_path / "journal.sqlite3")}
    return CliRunner().invoke(cli, list(args), env=env)


@pytest.fixture
def shared(sb: Sandbox) -> str:
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key=None)
    owner = sb.session(OWNER, REGION).client("ec2")
    share_by_hand(owner, image, TARGET)
    share_by_hand(owner, image, OTHER)
    return image


def _sees(sb: Sandbox, account: str, image: str) -> bool:
    ec2 = sb.session(account, REGION).client("ec2")
    return image in {i["ImageId"] for i in ec2.describe_images(ExecutableUsers=["self"])["Images"]}


def test_a_consumer_leaves_a_share_it_no_longer_wants(sb: Sandbox, shared: str, tmp_path: Path) -> None:
    sb.clear_calls()
    planned = _as(sb, TARGET, tmp_path, "leave-share", shared, "--dry-run")
    assert planned.exit_code == 0, planned.output
    assert f"Would remove account {TARGET} from the launch permission of {shared} (golden, owner {OWNER})" in (
        planned.stdout
    )
    assert mutating_calls(sb) == [] and _sees(sb, TARGET, shared)
    left = _as(sb, TARGET, tmp_path, "leave-share", shared, "--yes", "--output", "json")
    assert left.exit_code == 0, left.output
    document = json.loads(left.stdout)
    assert document["schema"] == "amishare.leave-share/1"
    assert (document["dropped"], document["still_visible"], document["owner"]) == (True, False, OWNER)
    assert mutating_calls(sb) == ["ec2:CancelImageLaunchPermission"]
    assert not _sees(sb, TARGET, shared) and _sees(sb, OTHER, shared)  # the other consumer keeps its share


def test_leaving_without_a_terminal_needs_yes(sb: Sandbox, shared: str, tmp_path: Path) -> None:
    sb.clear_calls()
    refused = _as(sb, TARGET, tmp_path, "leave-share", shared)
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    assert mutating_calls(sb) == [] and _sees(sb, TARGET, shared)


@pytest.mark.parametrize(
    ("who", "image", "exit_code", "said"),
    [
        (TARGET, "ami-0123456789abcdef0", 6, "is not shared with account 222222222222"),  # nothing to leave
        (OWNER, None, 2, "own image: to stop sharing it, run amishare revoke"),  # the owner's own
        (TARGET, "ami-123", 2, "ami-123"),  # malformed: refused before any call
    ],
)
def test_what_cannot_be_left_is_refused_before_any_change(
    sb: Sandbox, shared: str, tmp_path: Path, who: str, image: str | None, exit_code: int, said: str
) -> None:
    sb.clear_calls()
    result = _as(sb, who, tmp_path, "leave-share", image or shared, "--yes")
    assert result.exit_code == exit_code, result.output
    assert said in result.stderr
    assert mutating_calls(sb) == []


def test_a_share_through_the_organization_is_the_owner_s_to_end(sb: Sandbox, tmp_path: Path) -> None:
    organization, _ = sb.create_organization(OWNER, {"dev": [TARGET]})
    image = sb.seed_image(OWNER, REGION, "org-wide", volumes_gib=[8], kms_key=None)
    sb.session(OWNER, REGION).client("ec2").modify_image_attribute(
        ImageId=image, LaunchPermission={"Add": [{"OrganizationArn": organization}]}
    )
    result = _as(sb, TARGET, tmp_path, "leave-share", image, "--yes")
    assert result.exit_code == 4, result.output
    assert "through its organization, an OU or publicly" in result.stderr and f"only its owner {OWNER}" in result.stderr
    ec2 = sb.session(TARGET, REGION).client("ec2")
    assert [i["ImageId"] for i in ec2.describe_images(ImageIds=[image])["Images"]] == [image]
