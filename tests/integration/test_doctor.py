"""amishare doctor through the sandbox: each code has a world that produces it and only it, and a healthy
world produces none. Every world starts healthy (all three gates open, the target's role and key configured,
its Auto Scaling role granted the key) and breaks one thing, as a user would, through the AWS API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from amishare.cli.main import cli
from amishare.policy import key_policy
from amishare.sandbox import Sandbox
from tests.support.doctor_worlds import (
    ALL,
    WORLDS,
    Breaker,
    World,
    condition_of_another_region,
    no_autoscaling_grant,
    policy_without_target,
    snapshot_unshared,
    unshared,
)
from tests.support.world import OWNER, REGION, REGION2, TARGET, Clients, mutating_calls

# Each world takes a second or more to build: the everyday loop (-m "not slow") builds one per gate, CI all.
EVERYDAY_WORLDS = {
    "PENDING",
    "DEPRECATED",
    "NO_LAUNCH_PERMISSION",
    "SNAPSHOT_NOT_SHARED",
    "KEY_POLICY_MISSING_ACCOUNT",
    "AWS_MANAGED_KEY",
}


@pytest.fixture
def world(sb: Sandbox, aws: Clients, tmp_path: Path) -> World:
    return World(sb, aws, tmp_path)


def test_a_healthy_world_has_no_cause(sb: Sandbox, world: World) -> None:
    sb.clear_calls()
    exit_code, report = world.doctor("--account", "target", "--need", ",".join(ALL))
    assert exit_code == 0, report
    assert report["target_view"] is True
    assert {name: c["ok"] for name, c in report["capabilities"].items()} == dict.fromkeys(ALL, True)
    assert all(c["causes"] == [] for c in report["capabilities"].values())
    assert mutating_calls(sb) == []  # read-only: the target's launch and copy are dry runs


@pytest.mark.parametrize(
    ("code", "breaker", "failing", "exit_code"),
    [pytest.param(*w, id=w[0], marks=() if w[0] in EVERYDAY_WORLDS else pytest.mark.slow) for w in WORLDS],
)
def test_each_code_has_a_world_that_produces_it_and_only_it(
    sb: Sandbox, world: World, code: str, breaker: Breaker, failing: tuple[str, ...], exit_code: int
) -> None:
    extra = breaker(world) or ()
    sb.clear_calls()
    got_exit, report = world.doctor("--account", TARGET, *extra)
    codes = {c["code"] for cap in report["capabilities"].values() for c in cap["causes"]}
    assert codes == {code}, json.dumps(report, indent=1)
    assert sorted(n for n, c in report["capabilities"].items() if not c["ok"]) == sorted(failing)
    assert got_exit == exit_code
    assert all(c["fix"] and c["detail"] for cap in report["capabilities"].values() for c in cap["causes"])
    assert mutating_calls(sb) == []


def test_every_code_has_a_world() -> None:
    from amishare.checks.doctor.cause import CODES

    assert sorted(w[0] for w in WORLDS) == sorted(CODES)


@pytest.mark.slow
def test_the_condition_mismatch_names_the_condition_and_not_in_region_names_the_region(world: World) -> None:
    condition_of_another_region(world)
    _, report = world.doctor("--account", TARGET)
    (cause,) = report["capabilities"]["launch"]["causes"]
    assert "kms:ViaService" in cause["detail"] and f"ec2.{REGION2}.amazonaws.com" in cause["detail"]
    assert f"ec2.{REGION}.amazonaws.com" in cause["detail"]
    _, report = world.doctor("--account", TARGET, "--region", REGION2)
    assert REGION in report["capabilities"]["see"]["causes"][0]["detail"]


@pytest.mark.slow
def test_the_verdicts_agree_with_what_the_target_can_really_do(sb: Sandbox, aws: Clients, world: World) -> None:
    """doctor says launch works and copy does not (a snapshot unshared): the target's real launch runs and its
    real copy is refused."""
    snapshot_unshared(world)
    _, report = world.doctor("--account", TARGET)
    assert report["capabilities"]["launch"]["ok"] and not report["capabilities"]["copy"]["ok"]
    ec2 = aws(TARGET, "ec2")
    (started,) = ec2.run_instances(ImageId=world.image, MinCount=1, MaxCount=1)["Instances"]
    (reservation,) = ec2.describe_instances(InstanceIds=[started["InstanceId"]])["Reservations"]
    assert reservation["Instances"][0]["State"]["Name"] == "running"
    with pytest.raises(Exception, match="permission"):
        ec2.copy_image(
            SourceImageId=world.image, SourceRegion=REGION, Name="copy", Encrypted=True, KmsKeyId="alias/mine"
        )


@pytest.mark.slow
def test_a_key_policy_failure_is_what_a_real_launch_meets(sb: Sandbox, aws: Clients, world: World) -> None:
    condition_of_another_region(world)
    _, report = world.doctor("--account", TARGET)
    assert not report["capabilities"]["launch"]["ok"]
    ec2 = aws(TARGET, "ec2")
    (started,) = ec2.run_instances(ImageId=world.image, MinCount=1, MaxCount=1)["Instances"]
    (reservation,) = ec2.describe_instances(InstanceIds=[started["InstanceId"]])["Reservations"]
    assert reservation["Instances"][0]["StateReason"]["Code"] == "Client.InternalError"


def test_without_a_role_for_the_target_the_owners_view_still_diagnoses(world: World) -> None:
    unshared(world)
    (world.tmp_path / "amishare.toml").write_text("")
    exit_code, report = world.doctor("--account", TARGET)
    assert exit_code == 13 and report["target_view"] is False
    assert report["target_note"] == "no role is configured for the account"
    assert {c["code"] for c in report["capabilities"]["see"]["causes"]} == {"NO_LAUNCH_PERMISSION"}


@pytest.mark.slow
def test_a_role_that_cannot_be_assumed_is_named_and_the_owners_view_stands(world: World) -> None:
    (world.tmp_path / "amishare.toml").write_text(f'[accounts.target]\nid = "{TARGET}"\nrole = "Gone"\n')
    exit_code, report = world.doctor("--account", TARGET)
    assert exit_code == 0 and report["target_view"] is False
    assert "role/Gone could not be assumed" in report["target_note"]


@pytest.mark.slow
def test_need_selects_the_capabilities_that_decide_the_exit_code(world: World) -> None:
    snapshot_unshared(world)
    assert world.doctor("--account", TARGET, "--need", "launch")[0] == 0
    assert world.doctor("--account", TARGET, "--need", "launch,copy")[0] == 13


@pytest.mark.slow
@pytest.mark.parametrize("granted", [True, False], ids=["granted", "no grant"])
def test_the_autoscaling_verdict_is_what_a_real_group_meets(aws: Clients, world: World, granted: bool) -> None:
    if not granted:
        no_autoscaling_grant(world)
    _, report = world.doctor("--account", TARGET)
    asg = aws(TARGET, "autoscaling")
    asg.create_launch_configuration(LaunchConfigurationName="web", ImageId=world.image, InstanceType="t3.micro")
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web", LaunchConfigurationName="web", MinSize=1, MaxSize=1, DesiredCapacity=1
    )
    (activity,) = asg.describe_scaling_activities(AutoScalingGroupName="web")["Activities"]
    assert report["capabilities"]["autoscaling-launch"]["ok"] is granted
    assert (activity["StatusCode"] == "Successful") is granted


@pytest.mark.slow
def test_the_statement_doctor_prints_is_the_fix(world: World) -> None:
    policy_without_target(world)
    _, report = world.doctor("--account", TARGET)
    (cause,) = report["capabilities"]["launch"]["causes"]
    statement = json.loads(cause["fix"].split(": ", 1)[1])
    world.put_policy(
        statement, *key_policy.statements_for(REGION, key_policy.KeyAccess(autoscaling=frozenset({TARGET})))
    )
    exit_code, report = world.doctor("--account", TARGET)
    assert exit_code == 0, json.dumps(report, indent=1)


def test_doctor_of_an_aws_ebs_image_follows_its_re_encrypted_copy(sb: Sandbox, world: World) -> None:
    """Issue 19: doctor on an aws/ebs image said AWS_MANAGED_KEY even once share had shared its re-encrypted
    copy; share, revoke and show follow the image to that copy, and so does doctor now."""
    source = sb.seed_image(OWNER, REGION, "golden-ebs", volumes_gib=[8], kms_key="aws/ebs")
    world.image = source
    _, before = world.doctor("--account", "target")  # no copy yet: nothing of it can be shared
    assert "source_image" not in before
    assert {c["code"] for c in before["capabilities"]["launch"]["causes"]} == {"AWS_MANAGED_KEY"}
    env = {**sb.credentials(OWNER), "AWS_REGION": REGION, "AMISHARE_JOURNAL": str(world.tmp_path / "j.sqlite3")}
    shared = CliRunner().invoke(
        cli, ["share", source, "--to", TARGET, "--reencrypt-key", "alias/share", "--yes"], env=env
    )
    assert shared.exit_code == 0, shared.output
    (copy,) = [
        i["ImageId"]
        for i in world.owner.describe_images(Owners=["self"])["Images"]
        if any(t["Key"] == "amishare:source-image" and t["Value"] == source for t in i.get("Tags", []))
    ]
    sb.clear_calls()
    exit_code, report = world.doctor("--account", "target", "--need", ",".join(ALL))
    assert (report["source_image"], report["image"]) == (source, copy)  # the copy is diagnosed, and said so
    assert exit_code == 0 and all(c["ok"] for c in report["capabilities"].values()), report
    assert mutating_calls(sb) == []
    text = CliRunner().invoke(
        cli, ["doctor", source, "--account", "target", "--config", str(world.tmp_path / "amishare.toml")], env=env
    )
    assert f"{source} is encrypted with aws/ebs, which cannot be shared: its re-encrypted copy {copy}" in text.stdout
