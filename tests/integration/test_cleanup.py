"""amishare cleanup through the sandbox: each kind of use keeps its image (one world per reason, a use in another
account included), the rest is deregistered with its snapshots (one another image uses is kept), the newest of
each family are kept, protection and AWS Backup respected, a dry run changes nothing, shared images are revoked
first only when asked."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from amishare import api
from amishare.cli.main import cli
from amishare.errors import UsageError
from amishare.policy import key_policy
from amishare.sandbox import Sandbox
from tests.support.cleanup_world import World, ago
from tests.support.key_policies import policy_document
from tests.support.terminal import at_the_prompt
from tests.support.world import OTHER, OWNER, REGION, TARGET, mutating_calls, share_by_hand


@pytest.fixture
def world(sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    for name, value in sb.credentials(OWNER).items():
        monkeypatch.setenv(name, value)
    return World(sb, tmp_path)


def _decisions(outcome: api.Outcome) -> dict[str, dict[str, Any]]:
    return {d["image_id"]: d for d in outcome.plan.extra["decisions"]}


def test_old_unused_images_go_with_their_snapshots_and_the_recent_one_stays(world: World) -> None:
    snapshots = world.snapshots(world.old[0])
    outcome = world.cleanup()
    assert outcome.result is not None and outcome.result.status == "succeeded"
    assert world.left() == {world.recent}
    assert world.ec2.describe_snapshots(OwnerIds=["self"], SnapshotIds=[])["Snapshots"] == [
        s for s in world.ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"] if s["SnapshotId"] not in snapshots
    ]
    assert not set(snapshots) & {s["SnapshotId"] for s in world.ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert "less than 90 days ago" in " ".join(_decisions(outcome)[world.recent]["reasons"])


@pytest.mark.slow
def test_a_snapshot_another_image_uses_is_kept(world: World) -> None:
    shared_snapshot = world.snapshots(world.old[0])[1]
    other = world.ec2.register_image(
        Name="base-disk",
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": shared_snapshot}}],
    )["ImageId"]
    outcome = world.cleanup()
    assert _decisions(outcome)[world.old[0]]["snapshots_kept"] == [shared_snapshot]
    assert world.left() == {world.recent, other}
    assert world.ec2.describe_snapshots(SnapshotIds=[shared_snapshot])["Snapshots"]


def _instance(w: World) -> str:
    w.ec2.run_instances(ImageId=w.old[0], MinCount=1, MaxCount=1)
    return "ec2:Instance"


def _stopped_instance(w: World) -> str:
    (instance,) = w.ec2.run_instances(ImageId=w.old[0], MinCount=1, MaxCount=1)["Instances"]
    w.ec2.stop_instances(InstanceIds=[instance["InstanceId"]])  # it keeps its volumes, and can start again
    w.sb.world.images[w.old[0]].last_launched = ago(60)  # launched long ago: only the instance keeps the image
    return f"ec2:Instance arn:aws:ec2:{REGION}:{OWNER}:instance/{instance['InstanceId']}"


def _template(w: World) -> str:
    w.ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={"ImageId": w.old[0]})
    return "ec2:LaunchTemplate"


def _parameter(w: World) -> str:
    w.sb.session(OWNER, REGION).client("ssm").put_parameter(
        Name="/golden", Value=w.old[0], Type="String", DataType="aws:ec2:image"
    )
    return "ssm:Parameter"


def _launch_configuration(w: World) -> str:
    w.sb.session(OWNER, REGION).client("autoscaling").create_launch_configuration(
        LaunchConfigurationName="web", ImageId=w.old[0], InstanceType="t3.micro"
    )
    return "autoscaling:LaunchConfiguration"


def _launched_lately(w: World) -> str:
    (instance,) = w.ec2.run_instances(ImageId=w.old[0], MinCount=1, MaxCount=1)["Instances"]
    w.ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])  # gone, but LastLaunchedTime stays
    return "within 30 days"


def _protected(w: World) -> str:
    w.ec2.enable_image_deregistration_protection(ImageId=w.old[0])
    return "protected"


def _backup(w: World) -> str:
    w.old[0] = w.sb.seed_image(
        OWNER,
        REGION,
        "golden-backup-2025.01.01",
        kms_key=None,
        created=ago(300),
        tags={"aws:backup:source-resource": "i-0123456789abcdef0"},
    )
    return "AWS Backup"


def _shared(w: World) -> str:
    share_by_hand(w.ec2, w.old[0], TARGET)
    return "--include-shared"


def _used_in_another_account(w: World) -> str:
    statement = key_policy.statements_for(REGION, key_policy.KeyAccess(accounts=frozenset({TARGET})))[0]
    w.sb.session(OWNER, REGION).client("kms").put_key_policy(
        KeyId=w.key, PolicyName="default", Policy=json.dumps(policy_document(statement))
    )
    share_by_hand(w.ec2, w.old[0], TARGET)
    w.sb.session(TARGET, REGION).client("ec2").run_instances(ImageId=w.old[0], MinCount=1, MaxCount=1)
    return f"ec2:Instance arn:aws:ec2:{REGION}:{TARGET}:instance/"


REASONS: list[tuple[str, Callable[[World], str], dict[str, Any]]] = [
    ("a live instance", _instance, {}),
    ("a stopped instance", _stopped_instance, {}),
    ("a launch template", _template, {}),
    ("an SSM parameter", _parameter, {}),
    ("an Auto Scaling launch configuration", _launch_configuration, {}),
    ("launched within --unused-for", _launched_lately, {}),
    ("deregistration protection", _protected, {}),
    ("AWS Backup", _backup, {"name": "golden-*"}),
    ("shared, without --include-shared", _shared, {}),
    ("in use in the account it is shared with", _used_in_another_account, {"include_shared": True}),
]


@pytest.mark.parametrize(
    ("why", "make", "options"),
    [pytest.param(*r, id=r[0], marks=() if r[0] == "a live instance" else pytest.mark.slow) for r in REASONS],
)
def test_each_use_keeps_its_image_and_only_it(
    world: World, why: str, make: Callable[[World], str], options: dict[str, Any]
) -> None:
    words = make(world)
    outcome = world.cleanup(**options)
    decision = _decisions(outcome)[world.old[0]]
    assert decision["verdict"] == "keep" and words in " ".join(decision["reasons"]), decision
    assert world.left() == {world.old[0], world.recent}


@pytest.mark.slow
def test_include_shared_revokes_every_gate_first(world: World) -> None:
    statement = key_policy.statements_for(REGION, key_policy.KeyAccess(accounts=frozenset({TARGET})))[0]
    kms = world.sb.session(OWNER, REGION).client("kms")
    kms.put_key_policy(KeyId=world.key, PolicyName="default", Policy=json.dumps(policy_document(statement)))
    share_by_hand(world.ec2, world.old[0], TARGET)
    outcome = world.cleanup(include_shared=True)
    assert outcome.result is not None and outcome.result.status == "succeeded", outcome.result
    kinds = [a.kind.value for a in outcome.plan.actions]
    assert {"UnshareImage", "UnshareSnapshots", "PutKeyPolicy"} <= set(kinds)
    assert world.left() == {world.recent}
    policy = json.loads(kms.get_key_policy(KeyId=world.key, PolicyName="default")["Policy"])
    assert TARGET not in json.dumps(policy)  # no key access left behind for an image that is gone


def test_include_shared_names_a_hand_written_statement_and_grant_that_still_admit_the_consumer(world: World) -> None:
    """Issue 19: amishare never edits key statements it did not write, so after --include-shared revoked the share a
    hand-written statement (and a hand-made grant) still admitted the consumer, without a word; now each is named
    with its fix, and left as it was."""
    hand, grant = world.admitted_by_hand()
    kms = world.sb.session(OWNER, REGION).client("kms")
    planned = world.cleanup(include_shared=True, dry_run=True)
    key_arn = kms.describe_key(KeyId=world.key)["KeyMetadata"]["Arn"]
    statement, granted = planned.plan.warnings
    assert statement.startswith(f"{world.old[0]}: statement TeamAccess of key alias/golden (not amishare's")
    assert f"still admits {TARGET} after the revocation" in statement
    assert f"aws kms put-key-policy --key-id {key_arn} --policy-name default --policy file://policy.json" in statement
    assert f"grant by-hand on key alias/golden (not amishare's) still admits {TARGET}" in granted
    assert f"aws kms revoke-grant --key-id {key_arn} --grant-id {grant} --region {REGION}" in granted
    outcome = world.cleanup(include_shared=True)
    assert outcome.result is not None and outcome.result.status == "succeeded", outcome.result
    assert world.left() == {world.recent}
    policy = json.loads(kms.get_key_policy(KeyId=world.key, PolicyName="default")["Policy"])
    assert hand in policy["Statement"]  # not amishare's to edit: named, and left as it was


def test_a_share_with_amishare_s_own_statement_alone_warns_nothing(world: World) -> None:
    statement = key_policy.statements_for(REGION, key_policy.KeyAccess(accounts=frozenset({TARGET})))[0]
    kms = world.sb.session(OWNER, REGION).client("kms")
    kms.put_key_policy(KeyId=world.key, PolicyName="default", Policy=json.dumps(policy_document(statement)))
    share_by_hand(world.ec2, world.old[0], TARGET)
    assert world.cleanup(include_shared=True, dry_run=True).plan.warnings == ()


@pytest.mark.slow
def test_keep_last_keeps_the_newest_of_each_family(world: World) -> None:
    web = [world.sb.seed_image(OWNER, REGION, f"golden-web-{n}", kms_key=None, created=ago(300 - n)) for n in range(3)]
    outcome = world.cleanup(older_than=None, keep_last=2)
    left = world.left()
    assert left == {world.recent, world.old[2], web[2], web[1]}
    families = {d["family"] for d in _decisions(outcome).values()}
    assert families == {"golden-al2023", "golden-web"}


@pytest.mark.slow
def test_deprecate_and_disable_leave_the_images(world: World) -> None:
    outcome = world.cleanup(action="deprecate")
    assert outcome.result is not None and outcome.result.status == "succeeded"
    described = world.ec2.describe_images(ImageIds=world.old)["Images"]
    assert all(i.get("DeprecationTime") for i in described)
    world.cleanup(action="disable")
    described = world.ec2.describe_images(ImageIds=world.old, IncludeDisabled=True)["Images"]
    assert {i["State"] for i in described} == {"disabled"}


def test_a_dry_run_changes_nothing_and_says_why(sb: Sandbox, world: World) -> None:
    _template(world)
    sb.clear_calls()
    outcome = (
        world.cleanup(dry_run=None)
        if False
        else api.cleanup(
            api.settings(cwd=world.tmp_path),
            api.CleanupRequest(action="deregister", name="golden-*", older_than="90d"),
            dry_run=True,
        )
    )
    assert outcome.result is None and mutating_calls(sb) == []
    verdicts = {d["image_id"]: d["verdict"] for d in outcome.plan.extra["decisions"]}
    assert verdicts == {
        world.old[0]: "keep",
        world.old[1]: "deregister",
        world.old[2]: "deregister",
        world.recent: "keep",
    }


def test_the_recycle_bin_is_noted(world: World) -> None:
    world.sb.session(OWNER, REGION).client("rbin").create_rule(
        ResourceType="EC2_IMAGE", RetentionPeriod={"RetentionPeriodValue": 7, "RetentionPeriodUnit": "DAYS"}
    )
    outcome = world.cleanup()
    assert any("Recycle Bin rule keeps deregistered images 7 days" in n for n in outcome.plan.notes)
    binned = {i["ImageId"] for i in world.ec2.list_images_in_recycle_bin()["Images"]}
    assert binned == set(world.old)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"action": "delete"}, "--deprecate, --disable or --deregister"),
        ({"name": None}, "--name GLOB or --tag"),
        ({"older_than": "soon"}, "is not a duration"),
        ({"tag": "aws:x=1", "name": None}, "not beginning with aws:"),
        ({"older_than": None}, "--older-than DURATION .* or --keep-last N"),
    ],
)
def test_bad_requests_make_no_change(sb: Sandbox, world: World, options: dict[str, Any], words: str) -> None:
    sb.clear_calls()
    with pytest.raises(UsageError, match=words):
        world.cleanup(**options)
    assert mutating_calls(sb) == []


def test_without_older_than_or_keep_last_cleanup_asks_which_images_are_old(sb: Sandbox, world: World) -> None:
    """Issue 19: ``cleanup --name 'golden*' --deregister`` with neither ``--older-than`` nor ``--keep-last``
    proposed today's image. Now a usage error naming both (exit 2), before any AWS call."""
    sb.clear_calls()
    config = ["--config", str(world.tmp_path / "amishare.toml")]
    result = CliRunner().invoke(cli, ["cleanup", "--name", "golden*", "--deregister", "--yes", *config])
    assert result.exit_code == 2, result.output
    assert "--older-than DURATION" in result.output and "--keep-last N" in result.output
    assert sb.calls() == []
    # said explicitly, --keep-last 0 keeps none of the newest: the other rules decide (today's image included)
    argv = ["cleanup", "--name", "golden*", "--deregister", "--keep-last", "0", "--dry-run", *config]
    keep_none = CliRunner().invoke(cli, argv)
    assert keep_none.exit_code == 0 and f"DEREGISTER {world.recent}" in " ".join(keep_none.output.split())


def test_the_prompt_counts_what_cleanup_removes(sb: Sandbox, world: World) -> None:
    """Issue 19: the confirmation asks with counts, in a terminal; "n" applies nothing (exit 1)."""
    sb.clear_calls()
    session = at_the_prompt(
        ["cleanup", "--name", "golden-*", "--deregister", "--older-than", "90d"],
        sb.credentials(OWNER),
        world.tmp_path,
        answer="n",
    )
    assert "Deregister 3 images, delete 6 snapshots? [y/N]" in session.screen, session.screen
    assert session.exit_code == 1 and "Not applied." in session.screen
    assert mutating_calls(sb) == []
    assert world.left() == {*world.old, world.recent}


@pytest.mark.slow
def test_the_source_of_a_shared_re_encrypted_copy_is_kept_until_the_copy_is_revoked(sb: Sandbox, world: World) -> None:
    """Issue 19: after ``--keep-last 1``, cleanup deregistered an aws/ebs image whose re-encrypted copy was still
    shared with two accounts; ``revoke`` of the image then failed "not found". The source is kept, and why is
    in the plan, while the copy is shared; once revoked, it goes."""
    sb.create_key(OWNER, REGION, alias="amishare-share", policy=policy_document())
    source = sb.seed_image(OWNER, REGION, "golden-al2023-2025.01.01", kms_key="aws/ebs", created=ago(300))
    settings = api.settings(cwd=world.tmp_path)
    shared = api.share(settings, api.ShareRequest(source, (TARGET, OTHER), reencrypt_key="alias/amishare-share"))
    assert shared.result is not None and shared.result.status == "succeeded", shared.result
    copy = shared.result.subject_image
    assert copy != source

    outcome = world.cleanup(older_than=None, unused_for=None, keep_last=1)
    decision = _decisions(outcome)[source]
    assert decision["verdict"] == "keep", decision
    assert f"{copy} with {TARGET}, {OTHER}" in " ".join(decision["reasons"])
    assert source in world.left()

    revoked = api.revoke(settings, api.RevokeRequest(source, (TARGET, OTHER)))  # follows the source to its copy
    assert revoked.result is not None and revoked.result.status == "succeeded", revoked.result
    outcome = world.cleanup(older_than=None, unused_for=None, keep_last=1)
    assert _decisions(outcome)[source]["verdict"] == "deregister"
    assert source not in world.left()
