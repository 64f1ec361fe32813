"""share: the three gates opened together, through the sandbox (docs/aws-facts.md sections 1 and 2)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from amishare import api
from amishare.api import Settings
from amishare.errors import AmiShareError, PlanRefused
from amishare.model import TAG_RUN, TAG_SOURCE_IMAGE
from amishare.policy import key_policy
from amishare.sandbox import Sandbox
from tests.support.world import OTHER, OWNER, REGION, TARGET, Clients, error_of, mutating_calls


def _target_copies(aws: Clients, image: str, account: str = TARGET) -> str:
    """Copy ``image`` as ``account`` with its own key; return the copy's final state."""
    ec2 = aws(account, "ec2")
    copy = ec2.copy_image(
        SourceImageId=image, SourceRegion=REGION, Name="target-copy", Encrypted=True, KmsKeyId="alias/mine"
    )["ImageId"]
    return str(ec2.describe_images(ImageIds=[copy])["Images"][0]["State"])


@pytest.fixture
def target_keys(sb: Sandbox) -> None:
    for account in (TARGET, OTHER):
        sb.create_key(account, REGION, alias="mine")


@pytest.mark.slow
def test_unencrypted_image_shared_target_can_copy(
    sb: Sandbox, aws: Clients, builder: Settings, target_keys: None
) -> None:
    image = sb.seed_image(OWNER, REGION, "plain", volumes_gib=[8, 16], kms_key=None)
    assert error_of(aws(TARGET, "ec2").describe_images, ImageIds=[image])["Code"] == "InvalidAMIID.NotFound"
    outcome = api.share(builder, api.ShareRequest(image, (TARGET,)))
    assert outcome.result is not None and outcome.result.status == "succeeded"
    assert [a.kind.value for a in outcome.plan.actions] == ["ShareSnapshots", "ShareImage"]
    assert _target_copies(aws, image) == "available"
    assert error_of(aws(OTHER, "ec2").describe_images, ImageIds=[image])["Code"] == "InvalidAMIID.NotFound"


def test_customer_key_image_opens_key_access_and_keeps_other_statements(
    sb: Sandbox, aws: Clients, builder: Settings, target_keys: None
) -> None:
    original = {
        "Version": "2012-10-17",
        "Id": "team-policy",
        "Statement": [
            {
                "Sid": "Admins",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{OWNER}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "DenyOutsideOrg",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "kms:ScheduleKeyDeletion",
                "Resource": "*",
                "Condition": {"StringNotEquals": {"aws:PrincipalAccount": OWNER}},
            },
        ],
    }
    key = sb.create_key(OWNER, REGION, alias="app", policy=original)
    image = sb.seed_image(OWNER, REGION, "app", volumes_gib=[8], kms_key=key)
    assert error_of(aws(TARGET, "ec2").describe_images, ImageIds=[image])["Code"] == "InvalidAMIID.NotFound"
    api.share(builder, api.ShareRequest(image, (TARGET, OTHER)))
    policy = json.loads(aws(OWNER, "kms").get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    assert [s for s in policy["Statement"] if not key_policy.is_amishare(s)] == original["Statement"]
    assert policy["Id"] == original["Id"]
    (mine,) = [s for s in policy["Statement"] if key_policy.is_amishare(s)]
    assert mine["Condition"]["StringEquals"] == {
        "kms:ViaService": f"ec2.{REGION}.amazonaws.com",
        "kms:CallerAccount": [TARGET, OTHER],
    }
    assert "kms:*" not in mine["Action"]
    assert _target_copies(aws, image) == "available"
    assert _target_copies(aws, image, OTHER) == "available"


@pytest.mark.slow
def test_aws_ebs_image_is_reencrypted_tagged_and_the_copy_shared(
    sb: Sandbox, aws: Clients, builder: Settings, target_keys: None
) -> None:
    share_key = sb.create_key(OWNER, REGION, alias="amishare-share")
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8, 16], kms_key="aws/ebs", tags={"team": "platform"})
    outcome = api.share(builder, api.ShareRequest(image, (TARGET,), reencrypt_key="alias/amishare-share"))
    result = outcome.result
    assert result is not None and result.status == "succeeded", result
    copy = result.subject_image
    assert copy and copy != image
    assert any("aws/ebs" in note for note in outcome.plan.notes)
    owner = aws(OWNER, "ec2")
    described = owner.describe_images(ImageIds=[copy])["Images"][0]
    tags = {t["Key"]: t["Value"] for t in described["Tags"]}
    assert tags[TAG_SOURCE_IMAGE] == image
    assert tags[TAG_RUN] == result.run_id
    assert tags["team"] == "platform"
    assert {m["Ebs"]["KmsKeyId"] for m in described["BlockDeviceMappings"]} == {share_key}
    for mapping in described["BlockDeviceMappings"]:
        snapshot = owner.describe_snapshots(SnapshotIds=[mapping["Ebs"]["SnapshotId"]])["Snapshots"][0]
        assert {t["Key"]: t["Value"] for t in snapshot["Tags"]}[TAG_SOURCE_IMAGE] == image
    assert _target_copies(aws, copy) == "available"
    # the original stays unshared (it cannot be shared)
    assert owner.describe_image_attribute(ImageId=image, Attribute="launchPermission")["LaunchPermissions"] == []


@pytest.mark.slow
def test_second_identical_share_plans_no_changes_and_makes_no_mutating_call(
    sb: Sandbox, builder: Settings, target_keys: None
) -> None:
    sb.create_key(OWNER, REGION, alias="amishare-share")
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key="aws/ebs")
    first = api.share(builder, api.ShareRequest(image, (TARGET, OTHER), reencrypt_key="alias/amishare-share"))
    assert first.result is not None and first.result.status == "succeeded"
    sb.clear_calls()
    second = api.share(builder, api.ShareRequest(image, (TARGET, OTHER), reencrypt_key="alias/amishare-share"))
    assert second.plan.actions == ()
    assert second.result is None
    assert mutating_calls(sb) == []


@pytest.mark.slow
def test_dry_run_makes_no_mutating_call(sb: Sandbox, builder: Settings) -> None:
    sb.create_key(OWNER, REGION, alias="amishare-share")
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8, 16], kms_key="aws/ebs")
    sb.clear_calls()
    outcome = api.share(builder, api.ShareRequest(image, (TARGET,), reencrypt_key="alias/amishare-share"), dry_run=True)
    assert len(outcome.plan.actions) == 5
    assert outcome.result is None
    assert sb.calls(), "observing reads AWS"
    assert mutating_calls(sb) == []


@pytest.mark.slow
def test_calls_are_batched(sb: Sandbox, builder: Settings) -> None:
    key = sb.create_key(OWNER, REGION, alias="app")
    image = sb.seed_image(OWNER, REGION, "app", volumes_gib=[8, 16, 32], kms_key=key)
    accounts = [f"{n:012d}" for n in range(700_000_000_000, 700_000_000_040)]
    sb.clear_calls()
    result = api.share(builder, api.ShareRequest(image, tuple(accounts))).result
    assert result is not None and result.status == "succeeded"
    assert sorted(mutating_calls(sb)) == sorted(
        ["ec2:ModifyImageAttribute"] + ["ec2:ModifySnapshotAttribute"] * 3 + ["kms:PutKeyPolicy"]
    )


@pytest.mark.slow
def test_grants_give_key_access_instead_of_policy(
    sb: Sandbox, aws: Clients, builder: Settings, target_keys: None
) -> None:
    key = sb.create_key(OWNER, REGION, alias="app")
    image = sb.seed_image(OWNER, REGION, "app", kms_key=key)
    before = aws(OWNER, "kms").get_key_policy(KeyId=key, PolicyName="default")["Policy"]
    result = api.share(builder, api.ShareRequest(image, (TARGET,), key_access="grant")).result
    assert result is not None and result.status == "succeeded"
    assert aws(OWNER, "kms").get_key_policy(KeyId=key, PolicyName="default")["Policy"] == before
    grants = aws(OWNER, "kms").list_grants(KeyId=key)["Grants"]
    assert [(g["Name"], g["GranteePrincipal"]) for g in grants] == [
        (f"amishare-{TARGET}", f"arn:aws:iam::{TARGET}:root")
    ]
    assert _target_copies(aws, image) == "available"
    assert api.share(builder, api.ShareRequest(image, (TARGET,), key_access="grant")).plan.actions == ()
    api.revoke(builder, api.RevokeRequest(image, (TARGET,)))
    assert aws(OWNER, "kms").list_grants(KeyId=key)["Grants"] == []


@pytest.mark.slow
def test_organization_and_ou_targets(sb: Sandbox, aws: Clients, builder: Settings, target_keys: None) -> None:
    org_arn, ous = sb.create_organization(OWNER, {"dev": [TARGET], "prod": [OTHER]})
    key = sb.create_key(OWNER, REGION, alias="app")
    image = sb.seed_image(OWNER, REGION, "app", kms_key=key)
    outcome = api.share(builder, api.ShareRequest(image, (ous["dev"],)))
    assert any("cannot be shared with organizations" in n for n in outcome.plan.notes)
    assert aws(TARGET, "ec2").describe_images(ImageIds=[image])["Images"]
    assert error_of(aws(OTHER, "ec2").describe_images, ImageIds=[image])["Code"] == "InvalidAMIID.NotFound"
    statements = json.loads(aws(OWNER, "kms").get_key_policy(KeyId=key, PolicyName="default")["Policy"])["Statement"]
    assert [s["Sid"] for s in statements if key_policy.is_amishare(s)] == ["amishare-ous"]
    # members can see (and launch) but not copy: snapshots cannot be shared with an OU
    assert (
        error_of(
            aws(TARGET, "ec2").copy_image,
            SourceImageId=image,
            SourceRegion=REGION,
            Name="copy",
            Encrypted=True,
            KmsKeyId="alias/mine",
        )["Code"]
        == "InvalidRequest"
    )
    api.share(builder, api.ShareRequest(image, (org_arn,)))
    assert aws(OTHER, "ec2").describe_images(ImageIds=[image])["Images"]


@pytest.mark.slow
def test_aws_ebs_without_share_key_is_refused_before_any_change(sb: Sandbox, builder: Settings) -> None:
    image = sb.seed_image(OWNER, REGION, "golden", kms_key="aws/ebs")
    sb.clear_calls()
    with pytest.raises(PlanRefused, match="aws kms create-key") as caught:
        api.share(builder, api.ShareRequest(image, (TARGET,)))
    assert "share_key" in str(caught.value)
    assert mutating_calls(sb) == []


def test_key_of_another_account_is_refused_with_the_statement_to_add(sb: Sandbox, builder: Settings) -> None:
    foreign = sb.create_key(
        OTHER,
        REGION,
        alias="central",
        policy={
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{OWNER}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
            ],
        },
    )
    image = sb.seed_image(OWNER, REGION, "app", kms_key=foreign)
    sb.clear_calls()
    with pytest.raises(PlanRefused) as caught:
        api.share(builder, api.ShareRequest(image, (TARGET,)))
    message = str(caught.value)
    assert f"account {OTHER}" in message
    statement = json.loads(message[message.index("[") :])
    assert statement[0]["Sid"] == "amishare-accounts"
    assert statement[0]["Condition"]["StringEquals"]["kms:CallerAccount"] == [TARGET]
    assert mutating_calls(sb) == []


@pytest.mark.slow
def test_public_needs_the_flag_checks_block_public_access_and_never_shares_snapshots(
    sb: Sandbox, aws: Clients, builder: Settings
) -> None:
    image = sb.seed_image(OWNER, REGION, "public", volumes_gib=[8], kms_key=None)
    with pytest.raises(AmiShareError, match="--allow-public"):
        api.share(builder, api.ShareRequest(image, ("public",)))
    aws(OWNER, "ec2").enable_image_block_public_access(ImageBlockPublicAccessState="block-new-sharing")
    sb.clear_calls()
    with pytest.raises(PlanRefused, match="block public access"):
        api.share(builder, api.ShareRequest(image, ("public",), allow_public=True))
    assert mutating_calls(sb) == []
    aws(OWNER, "ec2").disable_image_block_public_access()
    outcome = api.share(builder, api.ShareRequest(image, ("public",), allow_public=True))
    assert any("PUBLIC" in w for w in outcome.plan.warnings)
    assert aws(OTHER, "ec2").describe_images(ImageIds=[image])["Images"][0]["Public"] is True
    snapshot = aws(OWNER, "ec2").describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]
    perms = aws(OWNER, "ec2").describe_snapshot_attribute(
        SnapshotId=snapshot["SnapshotId"], Attribute="createVolumePermission"
    )
    assert perms["CreateVolumePermissions"] == []
    encrypted = sb.seed_image(OWNER, REGION, "secret", kms_key=sb.create_key(OWNER, REGION))
    with pytest.raises(PlanRefused, match="encrypted"):
        api.share(builder, api.ShareRequest(encrypted, ("public",), allow_public=True))


@pytest.mark.slow
def test_one_failing_action_does_not_stop_the_others(sb: Sandbox, aws: Clients, builder: Settings) -> None:
    key = sb.create_key(OWNER, REGION, alias="app")
    image = sb.seed_image(OWNER, REGION, "app", volumes_gib=[8], kms_key=key)
    kms = aws(OWNER, "kms")
    original = kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]

    def fill_the_key_policy_then_confirm(plan: Any) -> bool:  # between plan and apply, the policy grows to the
        policy = json.loads(original)  # brink of KMS's 32 KB: amishare's statement no longer fits
        room = 32_768 - len(json.dumps(policy, separators=(",", ":"))) - 400
        policy["Statement"].append(
            {
                "Sid": "Filler",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{OWNER}:root"},
                "Action": "kms:DescribeKey",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalTag/team": "x" * room}},
            }
        )
        kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(policy, separators=(",", ":")))
        return True

    result = api.share(
        builder, api.ShareRequest(image, (TARGET,)), hooks=api.Hooks(confirm=fill_the_key_policy_then_confirm)
    ).result
    assert result is not None
    states = {r.key.split(":")[0]: r.state for r in result.results}
    assert states == {"key-policy": "failed", "share-snapshots": "succeeded", "share-image": "skipped"}
    assert result.status == "partial"
    assert "over KMS's limit of 32768 bytes" in (result.failures[0].error or ""), result.failures[0].error
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=original)
    retry = api.share(builder, api.ShareRequest(image, (TARGET,))).result  # running again finishes the job
    assert retry is not None and retry.status == "succeeded"
    assert [r.key.split(":")[0] for r in retry.results] == ["key-policy", "share-image"]


@pytest.mark.slow
def test_a_key_policy_edited_meanwhile_keeps_the_edit(
    sb: Sandbox, aws: Clients, builder: Settings, target_keys: None
) -> None:
    """The planned key policy change is an edit, applied to the policy as it is when the step runs."""
    key = sb.create_key(OWNER, REGION, alias="app")
    image = sb.seed_image(OWNER, REGION, "app", volumes_gib=[8], kms_key=key)
    audit = {
        "Sid": "Audit",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{OWNER}:root"},
        "Action": "kms:DescribeKey",
        "Resource": "*",
    }

    def edit_policy_then_confirm(plan: Any) -> bool:  # someone edits the key policy between plan and apply
        kms = aws(OWNER, "kms")
        policy = json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
        policy["Statement"].append(audit)
        kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(policy))
        return True

    result = api.share(
        builder, api.ShareRequest(image, (TARGET,)), hooks=api.Hooks(confirm=edit_policy_then_confirm)
    ).result
    assert result is not None and result.status == "succeeded", [r.error for r in result.failures]
    policy = json.loads(aws(OWNER, "kms").get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    assert audit in policy["Statement"]
    assert key_policy.granted(policy).accounts == {TARGET}
    assert _target_copies(aws, image) == "available"


@pytest.mark.slow
def test_key_policy_over_32_kb_is_refused_before_any_call(sb: Sandbox, builder: Settings) -> None:
    key = sb.create_key(OWNER, REGION, alias="app")
    image = sb.seed_image(OWNER, REGION, "app", kms_key=key)
    accounts = [f"{n:012d}" for n in range(800_000_000_000, 800_000_000_700)]
    sb.clear_calls()
    with pytest.raises(PlanRefused, match="32768"):
        api.share(builder, api.ShareRequest(image, tuple(accounts)))
    assert mutating_calls(sb) == []


@pytest.mark.slow
def test_a_share_run_again_while_its_reencrypted_copy_is_pending_waits_for_it(
    sb: Sandbox, aws: Clients, builder: Settings, target_keys: None
) -> None:
    """An interrupted share leaves its re-encrypted copy pending: the next run waits for it before opening the
    gates (AWS refuses to share a pending image, and a consumer could not launch it yet), and show says so."""
    share_key = sb.create_key(OWNER, REGION, alias="amishare-share")
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key="aws/ebs")
    sb.settings.copy_seconds_per_gib = 1.0  # the copy takes 8 s: still pending when the share is planned
    owner = aws(OWNER, "ec2")
    copy = owner.copy_image(
        SourceImageId=image, SourceRegion=REGION, Name="golden-reencrypted", Encrypted=True, KmsKeyId=share_key
    )["ImageId"]
    owner.create_tags(Resources=[copy], Tags=[{"Key": TAG_SOURCE_IMAGE, "Value": image}])  # as amishare tags it
    request = api.ShareRequest(image, (TARGET,), reencrypt_key="alias/amishare-share")

    (report,) = api.show(builder, api.ShowRequest(image, (TARGET,)))[1:]
    assert (report.image_id, report.image_state, report.can_launch) == (copy, "pending", False)

    outcome = api.share(builder, request)
    first = [a.kind.value for a in outcome.plan.actions]
    assert first[0] == "AwaitImage" and "ShareImage" in first and "ReEncryptImage" not in first
    assert any(f"{copy} is still pending" in n for n in outcome.plan.notes)
    result = outcome.result
    assert result is not None and result.status == "succeeded", result
    assert result.subject_image == copy
    (instance,) = aws(TARGET, "ec2").run_instances(ImageId=copy, MinCount=1, MaxCount=1)["Instances"]
    described = aws(TARGET, "ec2").describe_instances(InstanceIds=[instance["InstanceId"]])
    assert described["Reservations"][0]["Instances"][0]["State"]["Name"] != "terminated"
