"""Rule: a cross-account copy needs the launch permission, createVolumePermission on every
snapshot, and KMS access for the copying principal on the source key and on the destination
key, judged by key policy (Allow/Deny, principals, wildcards, conditions) and grants
(docs/aws-facts.md sections 1, 2 and 7)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from amishare.sandbox import Sandbox
from tests.support.key_policies import SCOPED, allow, policy_document
from tests.support.world import OTHER, OWNER, REGION, TARGET, Clients, error_of, share_by_hand


def _shared_image(sb: Sandbox, aws: Clients, policy: dict[str, Any] | None, *, snapshots: bool = True) -> str:
    key = sb.create_key(OWNER, REGION, alias="share", policy=policy)
    image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8, 16], kms_key=key)
    share_by_hand(aws(OWNER, "ec2"), image, TARGET, snapshots=snapshots)
    return image


_COPIES = itertools.count(1)


def _copy_state(aws: Clients, image: str, account: str = TARGET, **kwargs: Any) -> dict[str, Any]:
    ec2 = aws(account, "ec2")
    kwargs.setdefault("Encrypted", True)
    kwargs.setdefault("KmsKeyId", "alias/mine")
    name = f"copy-{next(_COPIES)}"  # image names are unique per account and region
    copy = ec2.copy_image(SourceImageId=image, SourceRegion=REGION, Name=name, **kwargs)["ImageId"]
    return dict(ec2.describe_images(ImageIds=[copy])["Images"][0])


@pytest.fixture
def dest_key(sb: Sandbox) -> str:
    return sb.create_key(TARGET, REGION, alias="mine")


def test_rule_all_three_gates_open_lets_the_target_copy(sb: Sandbox, aws: Clients, dest_key: str) -> None:
    image = _shared_image(sb, aws, policy_document(allow(condition=SCOPED)))
    copy = _copy_state(aws, image)
    assert copy["State"] == "available"
    assert copy["OwnerId"] == TARGET
    assert {m["Ebs"]["KmsKeyId"] for m in copy["BlockDeviceMappings"]} == {dest_key}


def test_rule_copy_needs_the_launch_permission(sb: Sandbox, aws: Clients, dest_key: str) -> None:
    image = _shared_image(sb, aws, policy_document(allow(condition=SCOPED)))
    error = error_of(aws(OTHER, "ec2").copy_image, SourceImageId=image, SourceRegion=REGION, Name="copy")
    assert error["Code"] == "InvalidAMIID.NotFound"


def test_rule_copy_needs_create_volume_permission_on_every_snapshot(sb: Sandbox, aws: Clients, dest_key: str) -> None:
    image = _shared_image(sb, aws, policy_document(allow(condition=SCOPED)), snapshots=False)
    ec2 = aws(OWNER, "ec2")
    first = ec2.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    ec2.modify_snapshot_attribute(SnapshotId=first, CreateVolumePermission={"Add": [{"UserId": TARGET}]})
    error = error_of(
        aws(TARGET, "ec2").copy_image,
        SourceImageId=image,
        SourceRegion=REGION,
        Name="copy",
        Encrypted=True,
        KmsKeyId="alias/mine",
    )
    assert error["Code"] == "InvalidRequest"
    assert "storage" in error["Message"]


def test_rule_copy_fails_without_source_key_access(sb: Sandbox, aws: Clients, dest_key: str) -> None:
    image = _shared_image(sb, aws, policy_document())
    copy = _copy_state(aws, image)
    assert copy["State"] == "failed"
    assert "Given key ID is not accessible" in copy["StateReason"]["Message"]


def test_rule_copy_fails_without_destination_key_access(sb: Sandbox, aws: Clients) -> None:
    image = _shared_image(sb, aws, policy_document(allow(condition=SCOPED)))
    own_only = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{TARGET}:root"},
                "Resource": "*",
                "Action": ["kms:PutKeyPolicy", "kms:DescribeKey", "kms:GetKeyPolicy"],
            }
        ],
    }
    sb.create_key(TARGET, REGION, alias="mine", policy=own_only)
    copy = _copy_state(aws, image)
    assert copy["State"] == "failed"
    assert "kms:CreateGrant" in copy["StateReason"]["Message"]


@pytest.mark.parametrize(
    ("name", "statement", "works"),
    [
        ("account root principal", allow(), True),
        ("bare account id principal", allow(principal={"AWS": TARGET}), True),
        ("star principal", allow(principal="*"), True),
        ("another account", allow(principal={"AWS": f"arn:aws:iam::{OTHER}:root"}), False),
        ("action wildcard", allow(actions="kms:*"), True),
        (
            "partial action wildcard",
            allow(actions=["kms:Describe*", "kms:CreateGrant", "kms:Decrypt", "kms:ReEncrypt*"]),
            True,
        ),
        ("missing decrypt", allow(actions=["kms:DescribeKey", "kms:CreateGrant", "kms:ReEncrypt*"]), False),
        ("ViaService of the region", allow(condition=SCOPED), True),
        (
            "ViaService of another region",
            allow(condition={"StringEquals": {"kms:ViaService": "ec2.eu-west-1.amazonaws.com"}}),
            False,
        ),
        ("ViaService StringLike", allow(condition={"StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"}}), True),
        ("CallerAccount of another account", allow(condition={"StringEquals": {"kms:CallerAccount": OTHER}}), False),
        (
            "ViaService IfExists",
            allow(condition={"StringEqualsIfExists": {"kms:ViaService": f"ec2.{REGION}.amazonaws.com"}}),
            True,
        ),
        ("StringNotEquals negation", allow(condition={"StringNotEquals": {"kms:CallerAccount": OTHER}}), True),
        (
            "PrincipalArn ArnLike root",
            allow(condition={"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{TARGET}:*"}}),
            True,
        ),
        (
            "PrincipalArn ArnLike role",
            allow(condition={"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{TARGET}:role/Copy*"}}),
            False,
        ),
    ],
)
def test_rule_key_policy_evaluation(
    sb: Sandbox, aws: Clients, dest_key: str, name: str, statement: dict[str, Any], works: bool
) -> None:
    image = _shared_image(sb, aws, policy_document(statement))
    assert (_copy_state(aws, image)["State"] == "available") is works, name


def test_rule_explicit_deny_wins(sb: Sandbox, aws: Clients, dest_key: str) -> None:
    deny = allow(
        principal="*", actions="kms:Decrypt", effect="Deny", condition={"StringEquals": {"kms:CallerAccount": TARGET}}
    )
    image = _shared_image(sb, aws, policy_document(allow(condition=SCOPED), deny))
    assert _copy_state(aws, image)["State"] == "failed"


def test_rule_principal_org_id_and_org_paths(sb: Sandbox, aws: Clients, dest_key: str) -> None:
    org_arn, ous = sb.create_organization(OWNER, {"dev": [TARGET], "prod": [OTHER]})
    org_id = org_arn.rsplit("/", 1)[1]
    ou_id = ous["dev"].rsplit("/", 1)[1]
    by_org = allow(principal="*", condition={"StringEquals": {"aws:PrincipalOrgID": org_id}})
    image = _shared_image(sb, aws, policy_document(by_org))
    assert _copy_state(aws, image)["State"] == "available"
    sb.reset()
    sb.create_key(TARGET, REGION, alias="mine")
    sb.create_key(OTHER, REGION, alias="mine")
    org_arn, ous = sb.create_organization(OWNER, {"dev": [TARGET], "prod": [OTHER]})
    org_id, ou_id = org_arn.rsplit("/", 1)[1], ous["dev"].rsplit("/", 1)[1]
    by_ou = allow(
        principal="*", condition={"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": f"{org_id}/*/{ou_id}/*"}}
    )
    image = _shared_image(sb, aws, policy_document(by_ou))
    aws(OWNER, "ec2").modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": OTHER}]})
    for mapping in aws(OWNER, "ec2").describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"]:
        aws(OWNER, "ec2").modify_snapshot_attribute(
            SnapshotId=mapping["Ebs"]["SnapshotId"], CreateVolumePermission={"Add": [{"UserId": OTHER}]}
        )
    assert _copy_state(aws, image)["State"] == "available"
    assert _copy_state(aws, image, account=OTHER)["State"] == "failed"


def test_rule_role_principal_matches_sessions_of_that_role(sb: Sandbox, aws: Clients, dest_key: str) -> None:
    role_arn = sb.create_role(TARGET, "CopyRole", trusted_account=TARGET)
    image = _shared_image(sb, aws, policy_document(allow(principal={"AWS": role_arn}, condition=SCOPED)))
    assert _copy_state(aws, image)["State"] == "failed"  # the account's root is not the role
    creds = aws(TARGET, "sts").assume_role(RoleArn=role_arn, RoleSessionName="copier")["Credentials"]
    from amishare.sandbox.server import sandbox_session

    session = sandbox_session(
        sb.endpoint_url, REGION, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
    )
    ec2 = session.client("ec2")
    copy = ec2.copy_image(
        SourceImageId=image, SourceRegion=REGION, Name="copy-again", Encrypted=True, KmsKeyId="alias/mine"
    )["ImageId"]
    assert ec2.describe_images(ImageIds=[copy])["Images"][0]["State"] == "available"


def test_rule_grants_give_key_access(sb: Sandbox, aws: Clients, dest_key: str) -> None:
    image = _shared_image(sb, aws, policy_document())
    kms = aws(OWNER, "kms")
    key = kms.describe_key(KeyId="alias/share")["KeyMetadata"]["Arn"]
    grant = kms.create_grant(
        KeyId=key,
        GranteePrincipal=f"arn:aws:iam::{TARGET}:root",
        Name="amishare-target",
        Operations=["DescribeKey", "CreateGrant", "Decrypt", "ReEncryptFrom"],
    )
    again = kms.create_grant(
        KeyId=key,
        GranteePrincipal=f"arn:aws:iam::{TARGET}:root",
        Name="amishare-target",
        Operations=["DescribeKey", "CreateGrant", "Decrypt", "ReEncryptFrom"],
    )
    assert again["GrantId"] == grant["GrantId"]  # a retried CreateGrant with the same name
    assert _copy_state(aws, image)["State"] == "available"
    listed = kms.list_grants(KeyId=key)["Grants"]
    assert [(g["GrantId"], g["GranteePrincipal"]) for g in listed] == [
        (grant["GrantId"], f"arn:aws:iam::{TARGET}:root")
    ]
    kms.revoke_grant(KeyId=key, GrantId=grant["GrantId"])
    assert _copy_state(aws, image)["State"] == "failed"


def test_rule_kms_calls_on_another_accounts_key_by_arn(sb: Sandbox, aws: Clients) -> None:
    key = sb.create_key(
        OWNER, REGION, alias="share", policy=policy_document(allow(actions=["kms:DescribeKey", "kms:Encrypt"]))
    )
    target = aws(TARGET, "kms")
    assert target.describe_key(KeyId=key)["KeyMetadata"]["Arn"] == key
    assert target.describe_key(KeyId=f"arn:aws:kms:{REGION}:{OWNER}:alias/share")["KeyMetadata"]["Arn"] == key
    assert target.encrypt(KeyId=key, Plaintext=b"x")["KeyId"] == key
    assert error_of(target.describe_key, KeyId="alias/share")["Code"] == "NotFoundException"
    assert error_of(target.describe_key, KeyId=key.rsplit("/", 1)[1])["Code"] == "NotFoundException"
    denied = error_of(target.generate_data_key, KeyId=key, KeySpec="AES_256")
    assert denied["Code"] == "AccessDeniedException"
    assert f"arn:aws:iam::{TARGET}:root" in denied["Message"]
    assert error_of(target.get_key_policy, KeyId=key, PolicyName="default")["Code"] == "AccessDeniedException"
    assert error_of(aws(OTHER, "kms").describe_key, KeyId=key)["Code"] == "AccessDeniedException"


def test_rule_key_policy_size_and_lockout_checks(sb: Sandbox, aws: Clients) -> None:
    kms = aws(OWNER, "kms")
    key = sb.create_key(OWNER, REGION)
    big = policy_document(*[allow(principal={"AWS": f"arn:aws:iam::{n:012d}:root"}) for n in range(200)])
    assert len(json.dumps(big)) > 32_768
    error = error_of(kms.put_key_policy, KeyId=key, PolicyName="default", Policy=json.dumps(big))
    assert error["Code"] == "LimitExceededException"
    lockout = {"Version": "2012-10-17", "Statement": [allow()]}
    error = error_of(kms.put_key_policy, KeyId=key, PolicyName="default", Policy=json.dumps(lockout))
    assert error["Code"] == "MalformedPolicyDocumentException"
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(policy_document(allow())))
    assert json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]) == policy_document(allow())
