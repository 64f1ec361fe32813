"""The generated policies are enough: with the local AWS enforcing identity policies, share, revoke, transfer
(with its distribution), cleanup, audit, doctor and verify run end to end as roles that carry exactly what
``amishare iam`` prints, and taking an action away makes a flow fail."""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest

from amishare import api
from amishare.generate import iam_policy
from amishare.policy import key_policy
from amishare.sandbox import Sandbox
from tests.support.world import OTHER, OWNER, REGION, REGION2, TARGET

pytestmark = pytest.mark.slow  # every flow, run again as roles holding only the generated policies
SOURCE_ROLE = "AmiShareSource"
ROLE = "AmiShareRole"
SOURCE_COMMANDS = ("share", "revoke", "show", "transfer", "verify", "doctor", "audit", "cleanup")
TARGET_COMMANDS = ("share", "transfer", "doctor", "audit", "cleanup")


def _put(sb: Sandbox, account: str, role: str, name: str, document: dict[str, Any]) -> None:
    sb.session(account).client("iam").put_role_policy(
        RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document)
    )


@pytest.fixture
def enforced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    with Sandbox(copy_seconds_per_gib=0.01, enforce_iam=True) as sb:
        sb.reset()
        for region in (REGION, REGION2):
            sb.create_key(OWNER, region, alias="amishare-share")
        sb.create_organization(OWNER, {"workloads": [TARGET, OTHER]})
        sb.create_role(OWNER, SOURCE_ROLE, trusted_account=OWNER)
        _put(sb, OWNER, SOURCE_ROLE, "amishare-source", iam_policy.policy("source", SOURCE_COMMANDS))
        for account in (TARGET, OTHER):
            sb.create_role(account, ROLE, trusted_account=OWNER)
            _put(sb, account, ROLE, "amishare-target", iam_policy.policy(iam_policy.TARGET_ROLES, TARGET_COMMANDS))
            for region in (REGION, REGION2):
                sb.create_key(account, region, alias="mine")
                old = sb.seed_image(account, region, "base", kms_key=None)
                sb.session(account, region).client("ec2").create_launch_template(
                    LaunchTemplateName="web", LaunchTemplateData={"ImageId": old}
                )
        session = (
            sb.session(OWNER)
            .client("sts")
            .assume_role(RoleArn=f"arn:aws:iam::{OWNER}:role/{SOURCE_ROLE}", RoleSessionName="pipeline")["Credentials"]
        )
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", session["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", session["SecretAccessKey"])
        monkeypatch.setenv("AWS_SESSION_TOKEN", session["SessionToken"])
        (tmp_path / "amishare.toml").write_text(
            f'[defaults]\nregion = "{REGION}"\nshare_key = "alias/amishare-share"\nrole_name = "{ROLE}"\n'
            f'endpoint_url = "{sb.endpoint_url}"\njournal = "{tmp_path / "journal.sqlite3"}"\n'
            + "".join(
                f'[accounts.{name}]\nid = "{account}"\nkeys = {{ {REGION} = "alias/mine", {REGION2} = "alias/mine" }}\n'
                for name, account in (("dev", TARGET), ("qa", OTHER))
            )
        )
        yield sb, api.settings(cwd=tmp_path)


def _ok(outcome: api.Outcome) -> None:
    assert outcome.result is not None and outcome.result.status == "succeeded", [
        (r.key, r.error) for r in (outcome.result.failures if outcome.result else [])
    ]


def _old(sb: Sandbox, name: str, key: str | None = None) -> str:
    created = dt.datetime.now(dt.UTC) - dt.timedelta(days=200)
    return sb.seed_image(OWNER, REGION, name, volumes_gib=[8], kms_key=key, created=created)


def _flows(sb: Sandbox, settings: api.Settings) -> None:
    """Every path whose calls the generated policies allow: each command, its distribution, grants, a
    customer managed source key, an organization, a copy that fails and is made again on resume."""
    root = sb.session(OWNER, REGION).client("ec2")  # the owner's root credentials: setting up, never amishare
    golden = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key="aws/ebs")
    shared = api.share_distribution(ssm_parameter="/shared", deprecate_after="30d", deregistration_protection=True)
    _ok(api.share(settings, api.ShareRequest(golden, ("dev", "qa"), distribution=shared)))
    api.show(settings, api.ShowRequest(golden))
    _ok(api.revoke(settings, api.RevokeRequest(golden, ("qa",))))
    app_key = sb.create_key(OWNER, REGION, alias="app")
    app = sb.seed_image(OWNER, REGION, "app", volumes_gib=[8], kms_key=app_key)
    _ok(api.share(settings, api.ShareRequest(app, ("qa",), key_access="grant")))
    _ok(api.revoke(settings, api.RevokeRequest(app, ("qa",))))
    shipped = sb.seed_image(OWNER, REGION, "shipped", volumes_gib=[8], kms_key="aws/ebs")
    request = api.TransferRequest(
        shipped,
        ("dev", "qa"),
        source=OWNER,
        regions=(REGION, REGION2),
        ssm_parameter="/golden",
        launch_template="web",
        set_default=True,
        deprecate_after="30d",
        deregistration_protection=True,
        tags=("team=platform",),
    )
    _ok(api.transfer(settings, request, hooks=api.Hooks(progress=True)))  # copies' progress: their snapshots read
    # a customer managed source key, staged into another region (its key is read to re-encrypt it)
    _ok(api.transfer(settings, api.TransferRequest(app, ("dev",), source=OWNER, regions=(REGION, REGION2))))
    _failed_copy_made_again(sb, settings)
    assert api.verify(settings, api.VerifyRequest(images=(golden,)))
    api.doctor(settings, api.DoctorRequest(golden, "dev"))
    api.doctor(settings, api.DoctorRequest(golden, "dev", region=REGION2))  # not in that region: where is it?
    report = api.audit(settings, api.AuditRequest(org=True, regions=(REGION,)))
    assert report.errors == ()
    for n in range(2):
        _old(sb, f"old-{n}")
        _old(sb, f"older-{n}")
    sb.session(OWNER, REGION).client("rbin").create_rule(
        ResourceType="EC2_IMAGE", RetentionPeriod={"RetentionPeriodValue": 7, "RetentionPeriodUnit": "DAYS"}
    )
    cleaned = api.cleanup(settings, api.CleanupRequest(action="deregister", name="old-*", older_than="90d"))
    _ok(cleaned)
    assert any("Recycle Bin" in n for n in cleaned.plan.notes)  # read with rbin:ListRules
    _ok(api.cleanup(settings, api.CleanupRequest(action="disable", name="older-*", older_than="90d")))
    _cleanup_in_another_account(sb, settings)
    retired = _old(sb, "retired-1")
    root.modify_image_attribute(ImageId=retired, LaunchPermission={"Add": [{"UserId": TARGET}]})
    _ok(
        api.cleanup(
            settings, api.CleanupRequest(action="deregister", name="retired-*", include_shared=True, older_than="90d")
        )
    )


def _cleanup_in_another_account(sb: Sandbox, settings: api.Settings) -> None:
    """cleanup --accounts dev: through dev's role, an old image of dev's shared with qa is revoked (launch,
    snapshot and key access) and deregistered; another is disabled, another deprecated."""
    created = dt.datetime.now(dt.UTC) - dt.timedelta(days=200)
    key = sb.create_key(TARGET, REGION, alias="dev-share")
    shared = sb.seed_image(TARGET, REGION, "dev-old-1", volumes_gib=[8], kms_key=key, created=created)
    for name in ("dev-stale-1", "dev-aged-1"):
        sb.seed_image(TARGET, REGION, name, volumes_gib=[8], kms_key=None, created=created)
    dev = sb.session(TARGET, REGION).client("ec2")
    dev.modify_image_attribute(ImageId=shared, LaunchPermission={"Add": [{"UserId": OTHER}]})
    snapshot = dev.describe_images(ImageIds=[shared])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    dev.modify_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission", OperationType="add", UserIds=[OTHER]
    )
    statement = key_policy.statements_for(REGION, key_policy.KeyAccess(accounts=frozenset({OTHER})))[0]
    kms = sb.session(TARGET, REGION).client("kms")
    policy = json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    policy["Statement"].append(statement)
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(policy))
    kms.create_grant(
        KeyId=key, GranteePrincipal=f"arn:aws:iam::{OTHER}:root", Operations=["Decrypt"], Name=f"amishare-{OTHER}"
    )
    for action, name in (("deregister", "dev-old-*"), ("disable", "dev-stale-*"), ("deprecate", "dev-aged-*")):
        request = api.CleanupRequest(action=action, name=name, include_shared=True, accounts=("dev",), older_than="90d")
        _ok(api.cleanup(settings, request))


def _failed_copy_made_again(sb: Sandbox, settings: api.Settings) -> None:
    """qa's key refuses grants to amishare's role (it can still describe it: the preflight passes), so its copy
    fails; once the refusal is lifted, resume removes the failed copy and copies again."""
    kms = sb.session(OTHER, REGION).client("kms")
    key = kms.describe_key(KeyId="alias/mine")["KeyMetadata"]["Arn"]
    policy = json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    refusing = dict(policy)
    refusing["Statement"] = [
        *policy["Statement"],
        {
            "Sid": "NoGrants",
            "Effect": "Deny",
            "Principal": {"AWS": f"arn:aws:iam::{OTHER}:role/{ROLE}"},
            "Action": "kms:CreateGrant",
            "Resource": "*",
        },
    ]
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(refusing))
    image = sb.seed_image(OWNER, REGION, "flaky", volumes_gib=[8], kms_key="aws/ebs")
    failed = api.transfer(settings, api.TransferRequest(image, ("qa",), source=OWNER))
    assert failed.result is not None and failed.result.status != "succeeded"
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(policy))
    _ok(api.resume(settings, failed.result.run_id))


def test_every_flow_runs_as_roles_with_exactly_the_generated_policies_and_each_action_is_needed(
    enforced: Any,
) -> None:
    """Enough: no call of any flow is refused. No more: every action of every statement of every generated policy
    was the only thing allowing some call of the flows, so taking it away makes that call, and its flow, fail."""
    sb, settings = enforced
    sb.world.authorizations.clear()
    _flows(sb, settings)
    records = list(sb.world.authorizations)
    refused = sorted({(r.role, r.action) for r in records if not r.allowed})
    assert refused == [], refused
    for role, name, policy_name, commands in (
        ("source", SOURCE_ROLE, "amishare-source", SOURCE_COMMANDS),
        (iam_policy.TARGET_ROLES, ROLE, "amishare-target", TARGET_COMMANDS),
    ):
        alone = {
            (next(iter(r.statements)), r.action)
            for r in records
            if r.role.endswith(f"/{name}") and len(r.statements) == 1
        }
        superfluous = [
            (statement["Sid"], action)
            for statement in iam_policy.policy(role, commands)["Statement"]
            for action in statement["Action"]
            if not any(
                where == (policy_name, statement["Sid"]) and fnmatch.fnmatchcase(used, action) for where, used in alone
            )
        ]
        assert superfluous == [], (role, superfluous)


def test_taking_an_action_away_makes_a_flow_fail(enforced: Any) -> None:
    sb, settings = enforced
    lean = iam_policy.policy(iam_policy.TARGET_ROLES, TARGET_COMMANDS)
    for statement in lean["Statement"]:
        statement["Action"] = [a for a in statement["Action"] if a != "ec2:CopyImage"]
    lean["Statement"] = [s for s in lean["Statement"] if s["Action"]]
    _put(sb, TARGET, ROLE, "amishare-target", lean)
    shipped = sb.seed_image(OWNER, REGION, "shipped", volumes_gib=[8], kms_key="aws/ebs")
    outcome = api.transfer(settings, api.TransferRequest(shipped, ("dev",), source=OWNER))
    assert outcome.result is not None and outcome.result.status != "succeeded"
    assert any("UnauthorizedOperation" in (r.error or "") for r in outcome.result.failures)


def test_init_and_leave_share_run_as_roles_with_exactly_their_generated_policies(tmp_path: Path) -> None:
    """``amishare iam --for init,leave-share``: init runs as the management account's role with the source policy
    for init, assuming the role of a member account that carries the auditor's for init; leave-share runs as a
    consumer's role with the source policy for leave-share. No call is refused, and each action is needed."""
    from click.testing import CliRunner

    from amishare.cli.main import cli
    from tests.support.world import share_by_hand

    consumer = "Consumer"
    with Sandbox(enforce_iam=True) as sb:
        sb.reset()
        sb.create_organization(OWNER, {"dev": [TARGET], "": [OTHER]})
        sb.create_role(OWNER, SOURCE_ROLE, trusted_account=OWNER)
        _put(sb, OWNER, SOURCE_ROLE, "amishare-source", iam_policy.policy("source", ["init"]))
        sb.create_role(TARGET, ROLE, trusted_account=OWNER)
        _put(sb, TARGET, ROLE, "amishare-target", iam_policy.policy(iam_policy.TARGET_ROLES, ["init"]))
        sb.create_key(TARGET, REGION, alias="dev-amis")
        sb.create_role(OTHER, consumer, trusted_account=OTHER)
        _put(sb, OTHER, consumer, "amishare-consumer", iam_policy.policy("source", ["leave-share"]))
        image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key=None)
        share_by_hand(sb.session(OWNER, REGION).client("ec2"), image, OTHER)

        def as_role(account: str, role: str, *args: str) -> Any:
            session = sb.session(account).client("sts").assume_role(
                RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="amishare"
            )["Credentials"]
            env = {
                "AWS_ACCESS_KEY_ID": session["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": session["SecretAccessKey"],
                "AWS_SESSION_TOKEN": session["SessionToken"],
                "AWS_ENDPOINT_URL": sb.endpoint_url,
                "AWS_REGION": REGION,
                "AMISHARE_JOURNAL": str(tmp_path / "journal.sqlite3"),
            }
            return CliRunner().invoke(cli, ["--endpoint-url", sb.endpoint_url, *args], env=env)

        sb.world.authorizations.clear()
        started = as_role(OWNER, SOURCE_ROLE, "init", "--out", str(tmp_path / "amishare.toml"))
        assert started.exit_code == 0, started.output
        assert "assumed in 1 of 2 member accounts" in started.output
        assert 'keys = { us-east-1 = "alias/dev-amis" }' in (tmp_path / "amishare.toml").read_text()  # read as dev
        left = as_role(OTHER, consumer, "leave-share", image, "--yes")
        assert left.exit_code == 0, left.output
        records = list(sb.world.authorizations)
    assert sorted({(r.role, r.action) for r in records if not r.allowed}) == []
    for account, role, name, roles, command in (
        (OWNER, SOURCE_ROLE, "amishare-source", "source", "init"),
        (TARGET, ROLE, "amishare-target", iam_policy.TARGET_ROLES, "init"),
        (OTHER, consumer, "amishare-consumer", "source", "leave-share"),
    ):
        mine = [r for r in records if r.role.endswith(f"/{role}") and len(r.statements) == 1]
        alone = {(next(iter(r.statements)), r.action) for r in mine}
        for statement in iam_policy.policy(roles, [command])["Statement"]:
            for action in statement["Action"]:
                used = any(w == (name, statement["Sid"]) and fnmatch.fnmatchcase(a, action) for w, a in alone)
                assert used, (account, command, statement["Sid"], action)
