"""amishare shared-with-me through the sandbox: what is shared with this account, and can it launch and copy it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from amishare.cli.main import cli
from amishare.sandbox import Sandbox
from tests.support.world import OTHER, OWNER, REGION, REGION2, TARGET, mutating_calls, share_by_hand


def _as_target(sb: Sandbox, tmp_path: Path, *args: str) -> Any:
    env = {**sb.credentials(TARGET), "AWS_REGION": REGION, "AWS_ENDPOINT_URL": sb.endpoint_url}
    env["AMISHARE_JOURNAL"] = str(tmp_path / "journal.sqlite3")
    return CliRunner().invoke(cli, ["shared-with-me", *args], env=env)


def _share(sb: Sandbox, image: str, *, snapshots: bool = True) -> None:
    share_by_hand(sb.session(OWNER, REGION).client("ec2"), image, TARGET, snapshots=snapshots)


@pytest.mark.slow
def test_shared_with_me_says_what_this_account_can_do_with_each_image(sb: Sandbox, tmp_path: Path) -> None:
    full = sb.seed_image(OWNER, REGION, "full", volumes_gib=[8], kms_key=None)
    launch_only = sb.seed_image(OWNER, REGION, "launch-only", volumes_gib=[8, 16], kms_key=None)
    encrypted = sb.seed_image(OWNER, REGION, "encrypted", volumes_gib=[8], kms_key=sb.create_key(OWNER, REGION))
    old = sb.seed_image(OWNER, REGION, "old", volumes_gib=[8], kms_key=None)
    sb.seed_image(TARGET, REGION, "mine", volumes_gib=[8], kms_key=None)  # its own: not "shared with me"
    sb.seed_image(OWNER, REGION, "not-shared", volumes_gib=[8], kms_key=None)
    for image in (full, encrypted, old):
        _share(sb, image)
    _share(sb, launch_only, snapshots=False)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    sb.session(OWNER, REGION).client("ec2").enable_image_deprecation(ImageId=old, DeprecateAt=past)
    sb.clear_calls()
    result = _as_target(sb, tmp_path, "--output", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = {i["name"]: i for i in report["images"]}
    assert set(rows) == {"full", "launch-only", "encrypted", "old"} and report["allowed_amis"] == "disabled"
    assert (rows["full"]["can_launch"], rows["full"]["can_copy"], rows["full"]["launch"]) == (True, True, "yes")
    assert rows["launch-only"]["can_launch"] and not rows["launch-only"]["can_copy"]
    assert (
        "not shared with this account" in rows["launch-only"]["copy"]
        and rows["launch-only"]["snapshots_visible"] == "0/2"
    )
    assert rows["encrypted"]["encrypted"] and "if the owner's key allows it" in rows["encrypted"]["copy"]
    assert rows["old"]["deprecated"] is True and rows["full"]["deprecated"] is False
    assert all(r["owner"] == OWNER and r["shared"] == "explicitly" for r in rows.values())
    assert mutating_calls(sb) == []
    text = _as_target(sb, tmp_path)
    assert f"{launch_only} launch-only from {OWNER}" in text.stdout and "(deprecated)" in text.stdout


@pytest.mark.slow
def test_allowed_amis_criteria_that_exclude_the_owner(sb: Sandbox, tmp_path: Path) -> None:
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key=None)
    _share(sb, image)
    ec2 = sb.session(TARGET, REGION).client("ec2")
    ec2.replace_image_criteria_in_allowed_images_settings(ImageCriteria=[{"ImageProviders": [OTHER]}])
    ec2.enable_allowed_images_settings(AllowedImagesSettingsState="audit-mode")
    (row,) = json.loads(_as_target(sb, tmp_path, "--output", "json").stdout)["images"]
    assert row["allowed"] is False and row["can_launch"] and "Allowed AMIs" in row["launch"]  # audit mode: a note
    ec2.enable_allowed_images_settings(AllowedImagesSettingsState="enabled")
    hidden = _as_target(sb, tmp_path)
    assert "images its criteria do not allow are hidden" in hidden.stdout and image not in hidden.stdout
    table = _as_target(sb, tmp_path, "--output", "table")
    assert table.exit_code == 0 and table.stdout.startswith(("(nothing)", "image_id"))


def test_regions_lists_what_is_shared_in_each_region_and_region_still_works(sb: Sandbox, tmp_path: Path) -> None:
    """Issue 19: shared-with-me took one --region; the spec said --regions."""
    here = sb.seed_image(OWNER, REGION, "here", volumes_gib=[8], kms_key=None)
    there = sb.seed_image(OWNER, REGION2, "there", volumes_gib=[8], kms_key=None)
    _share(sb, here)
    share_by_hand(sb.session(OWNER, REGION2).client("ec2"), there, TARGET)
    sb.clear_calls()
    both = _as_target(sb, tmp_path, "--regions", f"{REGION},{REGION2}", "--output", "json")
    assert both.exit_code == 0, both.output
    report = json.loads(both.stdout)
    assert [(i["image_id"], i["region"]) for i in report["images"]] == [(here, REGION), (there, REGION2)]
    assert report["allowed_amis_by_region"] == {REGION: "disabled", REGION2: "disabled"}
    assert report["allowed_amis"] == "disabled"
    text = _as_target(sb, tmp_path, "--regions", REGION2, "--regions", REGION)
    assert (
        f"{there} there from {OWNER} in {REGION2}" in text.stdout
        and f"{here} here from {OWNER} in {REGION}" in text.stdout
    )
    one = json.loads(_as_target(sb, tmp_path, "--region", REGION2, "--output", "json").stdout)
    assert [i["image_id"] for i in one["images"]] == [there]
    assert mutating_calls(sb) == []
