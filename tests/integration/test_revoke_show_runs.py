"""revoke, show and the journal, through the sandbox."""

from __future__ import annotations

import json
from typing import Any

import pytest

from amishare import api
from amishare.api import Settings
from amishare.aws.session import Connection, Sessions
from amishare.errors import AccessDenied, JournalError
from amishare.model import RoleRef
from amishare.policy import key_policy
from amishare.sandbox import Sandbox
from tests.support.world import OTHER, OWNER, REGION, TARGET, Clients, error_of, mutating_calls


def _copy_state(aws: Clients, image: str, account: str) -> str:
    ec2 = aws(account, "ec2")
    try:
        copy = ec2.copy_image(
            SourceImageId=image, SourceRegion=REGION, Name="target-copy", Encrypted=True, KmsKeyId="alias/mine"
        )["ImageId"]
    except Exception as exc:
        return f"refused: {exc}"
    return str(ec2.describe_images(ImageIds=[copy])["Images"][0]["State"])


@pytest.fixture
def shared(sb: Sandbox, builder: Settings) -> tuple[str, str]:
    for account in (TARGET, OTHER):
        sb.create_key(account, REGION, alias="mine")
    sb.create_key(OWNER, REGION, alias="amishare-share")
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8, 16], kms_key="aws/ebs")
    result = api.share(builder, api.ShareRequest(image, (TARGET, OTHER), reencrypt_key="alias/amishare-share")).result
    assert result is not None and result.subject_image
    return image, result.subject_image


@pytest.mark.slow
def test_revoke_closes_all_three_gates_for_the_named_target_only(
    sb: Sandbox, aws: Clients, builder: Settings, shared: tuple[str, str]
) -> None:
    image, copy = shared
    assert _copy_state(aws, copy, TARGET) == "available"
    outcome = api.revoke(builder, api.RevokeRequest(image, (TARGET,)))  # the original's id finds the re-encrypted copy
    assert outcome.result is not None and outcome.result.status == "succeeded"
    assert _copy_state(aws, copy, TARGET).startswith("refused")
    assert error_of(aws(TARGET, "ec2").describe_images, ImageIds=[copy])["Code"] == "InvalidAMIID.NotFound"
    assert _copy_state(aws, copy, OTHER) == "available"
    key = aws(OWNER, "kms").describe_key(KeyId="alias/amishare-share")["KeyMetadata"]["Arn"]
    policy = json.loads(aws(OWNER, "kms").get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    assert key_policy.granted(policy).accounts == {OTHER}
    for mapping in aws(OWNER, "ec2").describe_images(ImageIds=[copy])["Images"][0]["BlockDeviceMappings"]:
        perms = aws(OWNER, "ec2").describe_snapshot_attribute(
            SnapshotId=mapping["Ebs"]["SnapshotId"], Attribute="createVolumePermission"
        )
        assert perms["CreateVolumePermissions"] == [{"UserId": OTHER}]
    sb.clear_calls()
    again = api.revoke(builder, api.RevokeRequest(image, (TARGET,)))
    assert again.plan.actions == ()
    assert mutating_calls(sb) == []


@pytest.mark.slow
def test_revoke_keeps_key_access_still_needed_by_another_image(sb: Sandbox, aws: Clients, builder: Settings) -> None:
    sb.create_key(TARGET, REGION, alias="mine")
    key = sb.create_key(OWNER, REGION, alias="app")
    first = sb.seed_image(OWNER, REGION, "app-1", kms_key=key)
    second = sb.seed_image(OWNER, REGION, "app-2", kms_key=key)
    api.share(builder, api.ShareRequest(first, (TARGET,)))
    api.share(builder, api.ShareRequest(second, (TARGET,)))
    outcome = api.revoke(builder, api.RevokeRequest(first, (TARGET,)))
    assert [a.kind.value for a in outcome.plan.actions] == ["UnshareImage", "UnshareSnapshots"]
    assert any(second in note and "kept" in note for note in outcome.plan.notes)
    assert _copy_state(aws, second, TARGET) == "available"
    outcome = api.revoke(builder, api.RevokeRequest(second, (TARGET,)))
    assert "PutKeyPolicy" in [a.kind.value for a in outcome.plan.actions]
    policy = json.loads(aws(OWNER, "kms").get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    assert not any(key_policy.is_amishare(s) for s in policy["Statement"])


@pytest.mark.slow
def test_show_reports_each_gate_and_why(sb: Sandbox, builder: Settings, shared: tuple[str, str]) -> None:
    image, copy = shared
    reports = api.show(builder, api.ShowRequest(image, share_key="alias/amishare-share"))
    by_target = {(r.image_id, r.target.value): r for r in reports}
    row = by_target[(copy, TARGET)]
    assert (row.launch.state, row.snapshots.state, row.key.state) == ("open", "open", "open")
    assert row.can_copy
    assert "amishare-accounts" in row.key.reason
    (stranger,) = api.show(builder, api.ShowRequest(copy, ("444444444444",)))
    assert (stranger.launch.state, stranger.snapshots.state, stranger.key.state) == ("closed", "closed", "closed")
    assert not stranger.can_launch
    (original,) = api.show(builder, api.ShowRequest(image, (TARGET,)))[:1]
    assert original.key.state == "closed"
    assert "aws/ebs" in original.key.reason


@pytest.mark.slow
def test_runs_are_journaled_with_the_previous_key_policy(
    sb: Sandbox, builder: Settings, shared: tuple[str, str]
) -> None:
    runs = api.runs(builder)
    assert [r.command for r in runs] == ["share"]
    record = api.run(builder, runs[0].run_id)
    assert record.status == "succeeded"
    assert [a.state for a in record.actions] == ["succeeded"] * 5
    (policy_action,) = [a for a in record.plan["actions"] if a["kind"] == "PutKeyPolicy"]
    previous = json.loads(policy_action["params"]["previous"])
    assert not any(key_policy.is_amishare(s) for s in previous["Statement"])
    with pytest.raises(JournalError, match="amishare runs"):
        api.run(builder, "no-such-run")


def test_sessions_assume_roles_with_external_id(sb: Sandbox, builder: Settings) -> None:
    role = sb.create_role(TARGET, "AmiShareRole", trusted_account=OWNER, external_id="golden-2026")
    sessions = Sessions(Connection(region=REGION, endpoint_url=sb.endpoint_url))
    assert sessions.caller_account() == OWNER
    with pytest.raises(AccessDenied, match="AssumeRole"):
        sessions.assume(RoleRef(TARGET, role, external_id="wrong-id"))
    sessions.assume(RoleRef(TARGET, role, external_id="golden-2026"))
    sts = sessions.client("sts", account=TARGET)
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:sts::{TARGET}:assumed-role/AmiShareRole/amishare"
    assert sessions.client("sts", account=TARGET) is sts  # one client per account, region and service
    assert sessions.client("ec2", "eu-west-1", account=TARGET) is not sessions.client("ec2", account=TARGET)


@pytest.mark.slow
def test_profile_from_the_shared_credentials_file(sb: Sandbox, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = sb.credentials(OWNER)
    (tmp_path / "credentials").write_text(
        f"[builder]\naws_access_key_id = {creds['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {creds['AWS_SECRET_ACCESS_KEY']}\n"
    )
    (tmp_path / "config").write_text(f"[profile builder]\nregion = {REGION}\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AMISHARE_JOURNAL", str(tmp_path / "journal.sqlite3"))
    settings = api.settings(api.Flags(profile="builder", endpoint_url=sb.endpoint_url), cwd=tmp_path)
    assert settings.connection.region == REGION  # the profile's region
    image = sb.seed_image(OWNER, REGION, "plain", kms_key=None)
    result = api.share(settings, api.ShareRequest(image, (TARGET,))).result
    assert result is not None and result.status == "succeeded"


def test_a_just_deregistered_image_is_not_found_with_the_reason(sb: Sandbox, builder: Any) -> None:
    from amishare.errors import NotFound

    image = sb.seed_image(OWNER, REGION, "gone", kms_key=None)
    sb.session(OWNER, REGION).client("ec2").deregister_image(ImageId=image)  # still described, as deregistered
    sb.clear_calls()
    with pytest.raises(NotFound, match="it was deregistered"):
        api.revoke(builder, api.RevokeRequest(image, (TARGET,)))
    assert mutating_calls(sb) == []
