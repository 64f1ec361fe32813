"""A transfer's distribution settings through the sandbox: each destination's SSM parameter resolves to its new
copy, its launch template's new version names it (and is the default when asked), the copies are tagged,
deprecated on schedule and protected; a destination without the launch template is refused before any change."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from amishare import api
from amishare.cli.main import cli
from amishare.errors import PlanRefused, UsageError
from amishare.sandbox import Sandbox
from tests.support.world import OTHER, OWNER, REGION, REGION2, TARGET, mutating_calls

PARAM = "/golden/current"
DESTINATIONS = (("dev", TARGET), ("qa", OTHER))


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    with Sandbox(copy_seconds_per_gib=0.01) as sb:
        sb.reset()
        for region in (REGION, REGION2):
            sb.create_key(OWNER, region, alias="amishare-share")
        for _, account in DESTINATIONS:
            sb.create_role(account, "AmiShareRole", trusted_account=OWNER)
            for region in (REGION, REGION2):
                sb.create_key(account, region, alias="mine")
                old = sb.seed_image(account, region, "old", kms_key=None)
                sb.session(account, region).client("ec2").create_launch_template(
                    LaunchTemplateName="web", LaunchTemplateData={"ImageId": old, "InstanceType": "t3.micro"}
                )
        image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key="aws/ebs")
        (tmp_path / "amishare.toml").write_text(
            "[defaults]\n"
            f'region = "{REGION}"\nshare_key = "alias/amishare-share"\nrole_name = "AmiShareRole"\n'
            f'endpoint_url = "{sb.endpoint_url}"\njournal = "{tmp_path / "journal.sqlite3"}"\n'
            + "".join(
                f'[accounts.{name}]\nid = "{account}"\nkeys = {{ {REGION} = "alias/mine", {REGION2} = "alias/mine" }}\n'
                for name, account in DESTINATIONS
            )
        )
        for name, value in sb.credentials(OWNER).items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        yield sb, image, tmp_path


def _copies(sb: Sandbox, account: str, region: str, run_id: str) -> list[dict[str, Any]]:
    ec2 = sb.session(account, region).client("ec2")
    return list(
        ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:amishare:run", "Values": [run_id]}])["Images"]
    )


@pytest.mark.slow
def test_each_destination_is_left_its_parameter_template_and_a_protected_deprecating_tagged_copy(world: Any) -> None:
    sb, image, tmp_path = world
    request = api.TransferRequest(
        image,
        ("dev", "qa"),
        source=OWNER,
        regions=(REGION, REGION2),
        ssm_parameter=PARAM,
        launch_template="web",
        set_default=True,
        deprecate_after="90d",
        deregistration_protection=True,
        tags=("team=platform",),
        copy_duration="45m",
    )
    outcome = api.transfer(api.settings(cwd=tmp_path), request)
    assert outcome.result is not None and outcome.result.status == "succeeded", outcome.result
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=90)
    for _, account in DESTINATIONS:
        for region in (REGION, REGION2):
            (copy,) = _copies(sb, account, region, outcome.result.run_id)
            new = copy["ImageId"]
            session = sb.session(account, region)
            assert session.client("ssm").get_parameter(Name=PARAM)["Parameter"]["Value"] == new
            ec2 = session.client("ec2")
            (default,) = ec2.describe_launch_template_versions(LaunchTemplateName="web", Versions=["$Default"])[
                "LaunchTemplateVersions"
            ]
            assert default["VersionNumber"] == 2 and default["LaunchTemplateData"]["ImageId"] == new
            assert default["LaunchTemplateData"]["InstanceType"] == "t3.micro"  # the rest of the template is kept
            (started,) = ec2.run_instances(LaunchTemplate={"LaunchTemplateName": "web"}, MinCount=1, MaxCount=1)[
                "Instances"
            ]
            assert started["ImageId"] == new
            deprecated = dt.datetime.fromisoformat(copy["DeprecationTime"].replace("Z", "+00:00"))
            assert abs((deprecated - soon).total_seconds()) < 600
            assert copy["DeregistrationProtection"].startswith("enabled")
            assert {"Key": "team", "Value": "platform"} in copy["Tags"]


@pytest.mark.slow
def test_a_missing_launch_template_is_refused_before_any_change(world: Any) -> None:
    sb, image, tmp_path = world
    sb.session(OTHER, REGION2).client("ec2").delete_launch_template(LaunchTemplateName="web")
    sb.clear_calls()
    request = api.TransferRequest(image, ("dev", "qa"), source=OWNER, regions=(REGION, REGION2), launch_template="web")
    with pytest.raises(PlanRefused, match=f"qa \\({OTHER}\\) in {REGION2}: launch template web"):
        api.transfer(api.settings(cwd=tmp_path), request)
    assert mutating_calls(sb) == []


@pytest.mark.slow
def test_the_config_names_a_destinations_own_parameter(world: Any) -> None:
    sb, image, tmp_path = world
    config = tmp_path / "amishare.toml"
    config.write_text(config.read_text().replace(f'id = "{OTHER}"', f'id = "{OTHER}"\nssm_parameter = "/qa/golden"'))
    request = api.TransferRequest(image, ("dev", "qa"), source=OWNER, ssm_parameter=PARAM)
    outcome = api.transfer(api.settings(cwd=tmp_path), request)
    assert outcome.result is not None and outcome.result.status == "succeeded"
    assert (
        sb.session(OTHER, REGION)
        .client("ssm")
        .get_parameter(Name="/qa/golden")["Parameter"]["Value"]
        .startswith("ami-")
    )
    assert sb.session(TARGET, REGION).client("ssm").get_parameter(Name=PARAM)["Parameter"]["Value"].startswith("ami-")


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--copy-duration", "20m"], "15-minute steps"),
        (["--copy-duration", "3d"], "15-minute steps"),
        (["--set-default"], "add --launch-template"),
        (["--tag", "aws:owner=me"], "not beginning with aws:"),
        (["--ssm-parameter", "aws-reserved"], "not beginning with aws or ssm"),
        (["--launch-template", "lt-123"], "neither a launch template name"),
        (["--deprecate-after", "soon"], "is not a duration"),
    ],
)
def test_bad_distribution_settings_are_refused_with_no_change(world: Any, flags: list[str], words: str) -> None:
    sb, image, _ = world
    sb.clear_calls()
    result = CliRunner().invoke(cli, ["transfer", image, "--from", OWNER, "--to", "dev", *flags, "--yes"])
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert mutating_calls(sb) == []


@pytest.mark.slow
def test_share_points_the_targets_parameters_and_templates_at_the_shared_copy(world: Any) -> None:
    sb, image, tmp_path = world
    outcome = api.share(
        api.settings(cwd=tmp_path),
        api.ShareRequest(
            image,
            ("dev", "qa"),
            distribution=api.share_distribution(
                ssm_parameter=PARAM,
                launch_template="web",
                set_default=True,
                deprecate_after="30d",
                deregistration_protection=True,
                tags=("team=platform",),
            ),
        ),
    )
    assert outcome.result is not None and outcome.result.status == "succeeded", outcome.result
    shared = outcome.result.subject_image
    assert shared and shared != image  # the re-encrypted copy
    for _, account in DESTINATIONS:
        session = sb.session(account, REGION)
        assert session.client("ssm").get_parameter(Name=PARAM)["Parameter"]["Value"] == shared
        (started,) = session.client("ec2").run_instances(
            LaunchTemplate={"LaunchTemplateName": "web"}, MinCount=1, MaxCount=1
        )["Instances"]
        assert started["ImageId"] == shared
    (copy,) = sb.session(OWNER, REGION).client("ec2").describe_images(ImageIds=[shared])["Images"]
    assert copy["DeprecationTime"] and copy["DeregistrationProtection"].startswith("enabled")
    assert {"Key": "team", "Value": "platform"} in copy["Tags"]
    (original,) = sb.session(OWNER, REGION).client("ec2").describe_images(ImageIds=[image])["Images"]
    assert "DeprecationTime" not in original  # the user's own image is never altered


def test_share_refuses_a_parameter_for_a_target_without_a_role(world: Any) -> None:
    sb, image, tmp_path = world
    config = tmp_path / "amishare.toml"
    text = config.read_text().replace('role_name = "AmiShareRole"\n', "")
    config.write_text(text.replace(f'id = "{TARGET}"', f'id = "{TARGET}"\nrole = "AmiShareRole"'))
    sb.clear_calls()
    with pytest.raises(UsageError, match="none is configured for 444444444444"):
        api.share(
            api.settings(cwd=tmp_path),
            api.ShareRequest(image, ("dev", "444444444444"), distribution=api.share_distribution(ssm_parameter=PARAM)),
        )
    assert mutating_calls(sb) == []


def test_copy_duration_makes_each_destination_s_copy_time_based(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--copy-duration 15m: CopyImage asks for a time-based copy (SnapshotCopyCompletionDurationMinutes), whose
    snapshots complete within 15 minutes (EBS User Guide, "Time-based copies"). On the sandbox's clock, moved 5
    minutes on at each of the poller's looks, the 8 GiB copy that would take 8 hours is done within 15 minutes."""
    now = [0.0]
    with Sandbox(copy_seconds_per_gib=3600.0, clock=lambda: now[0]) as sb:
        sb.reset()
        key = sb.create_key(OWNER, REGION, alias="amishare-share")
        image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key=key)  # shared as it is: no staging
        sb.create_role(TARGET, "AmiShareRole", trusted_account=OWNER)
        sb.create_key(TARGET, REGION, alias="mine")
        (tmp_path / "amishare.toml").write_text(
            f'[defaults]\nregion = "{REGION}"\nshare_key = "alias/amishare-share"\nrole_name = "AmiShareRole"\n'
            f'endpoint_url = "{sb.endpoint_url}"\njournal = "{tmp_path / "journal.sqlite3"}"\n'
            f'[accounts.dev]\nid = "{TARGET}"\nkeys = {{ {REGION} = "alias/mine" }}\n'
        )
        for name, value in sb.credentials(OWNER).items():
            monkeypatch.setenv(name, value)

        def five_minutes_later(account: str | None, region: str, images: list[dict[str, Any]]) -> None:
            now[0] += 300.0

        request = api.TransferRequest(image, ("dev",), source=OWNER, copy_duration="15m")
        outcome = api.transfer(api.settings(cwd=tmp_path), request, hooks=api.Hooks(on_poll=five_minutes_later))
        assert outcome.result is not None and outcome.result.status == "succeeded", outcome.result.failures
        assert now[0] <= 900.0 + 300.0  # done at the first look past 15 minutes, not after 8 hours
        ec2 = sb.session(TARGET, REGION).client("ec2")
        (copy,) = _copies(sb, TARGET, REGION, outcome.result.run_id)
        (snapshot,) = ec2.describe_snapshots(SnapshotIds=[copy["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]])[
            "Snapshots"
        ]
        assert (snapshot["TransferType"], snapshot["CompletionDurationMinutes"]) == ("time-based", 15)
