"""Rules: STS AssumeRole succeeds only for an existing role whose trust policy allows the caller,
ExternalId enforced; MOTO_ACCOUNT_ID never overrides assumed credentials (docs/aws-facts.md section 8);
Organizations read calls reflect the emulated membership."""

from __future__ import annotations

import json

import pytest

from amishare.sandbox import Sandbox
from amishare.sandbox.server import sandbox_session
from tests.support.world import OTHER, OWNER, REGION, TARGET, Clients, error_of


def test_rule_assume_role_needs_an_existing_role_and_a_trusting_policy(sb: Sandbox, aws: Clients) -> None:
    role = sb.create_role(TARGET, "AmiCopyRole", trusted_account=OWNER)
    sts = aws(OWNER, "sts")
    creds = sts.assume_role(RoleArn=role, RoleSessionName="amishare")
    assert creds["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{TARGET}:assumed-role/AmiCopyRole/amishare"
    missing = error_of(sts.assume_role, RoleArn=f"arn:aws:iam::{TARGET}:role/Nope", RoleSessionName="amishare")
    assert missing["Code"] == "AccessDenied"
    untrusted = error_of(aws(OTHER, "sts").assume_role, RoleArn=role, RoleSessionName="amishare")
    assert untrusted["Code"] == "AccessDenied"
    assert f"arn:aws:iam::{OTHER}:root" in untrusted["Message"]


def test_rule_external_id_condition_is_enforced(sb: Sandbox, aws: Clients) -> None:
    role = sb.create_role(TARGET, "AmiCopyRole", trusted_account=OWNER, external_id="golden-2026")
    sts = aws(OWNER, "sts")
    assert error_of(sts.assume_role, RoleArn=role, RoleSessionName="amishare")["Code"] == "AccessDenied"
    assert (
        error_of(sts.assume_role, RoleArn=role, RoleSessionName="amishare", ExternalId="wrong-id")["Code"]
        == "AccessDenied"
    )
    assert sts.assume_role(RoleArn=role, RoleSessionName="amishare", ExternalId="golden-2026")["Credentials"]


def test_rule_assumed_credentials_act_as_the_role_account(
    sb: Sandbox, aws: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "999999999999")
    role = sb.create_role(TARGET, "AmiCopyRole", trusted_account=OWNER)
    creds = aws(OWNER, "sts").assume_role(RoleArn=role, RoleSessionName="amishare")["Credentials"]
    session = sandbox_session(
        sb.endpoint_url, REGION, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
    )
    assert session.client("sts").get_caller_identity()["Account"] == TARGET
    # requests served by moto itself (IAM here) see the role's account too
    assert session.client("iam").get_role(RoleName="AmiCopyRole")["Role"]["Arn"] == role
    image = sb.seed_image(TARGET, REGION, "mine", kms_key=None)
    assert session.client("ec2").describe_images(Owners=["self"])["Images"][0]["ImageId"] == image


def test_rule_unknown_credentials_are_refused(sb: Sandbox) -> None:
    session = sandbox_session(sb.endpoint_url, REGION, "AKIANOTASANDBOXKEY00", "secret")
    ec2, sts, kms = session.client("ec2"), session.client("sts"), session.client("kms")
    assert error_of(ec2.describe_images, Owners=["self"])["Code"] == "AuthFailure"
    assert error_of(sts.get_caller_identity)["Code"] == "InvalidClientTokenId"
    assert error_of(kms.list_keys)["Code"] == "UnrecognizedClientException"


def test_rule_trust_policy_conditions_on_the_caller(sb: Sandbox, aws: Clients) -> None:
    org_arn, _ = sb.create_organization(OWNER, {"dev": [TARGET]})
    org_id = org_arn.rsplit("/", 1)[1]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": org_id}},
            }
        ],
    }
    role = sb.create_role(TARGET, "OrgRole", trusted_account=OWNER, trust_policy=trust)
    assert aws(OWNER, "sts").assume_role(RoleArn=role, RoleSessionName="amishare")["Credentials"]
    assert error_of(aws(OTHER, "sts").assume_role, RoleArn=role, RoleSessionName="amishare")["Code"] == "AccessDenied"


def test_rule_organizations_reflect_membership(sb: Sandbox, aws: Clients) -> None:
    org_arn, ous = sb.create_organization(OWNER, {"workloads": [], "workloads/dev": [TARGET]})
    orgs = aws(OWNER, "organizations")
    assert orgs.describe_organization()["Organization"]["Arn"] == org_arn
    assert aws(TARGET, "organizations").describe_organization()["Organization"]["MasterAccountId"] == OWNER
    assert {a["Id"] for a in orgs.list_accounts()["Accounts"]} == {OWNER, TARGET}
    root = orgs.list_roots()["Roots"][0]["Id"]
    (top,) = orgs.list_organizational_units_for_parent(ParentId=root)["OrganizationalUnits"]
    assert top["Arn"] == ous["workloads"]
    (child,) = orgs.list_organizational_units_for_parent(ParentId=top["Id"])["OrganizationalUnits"]
    assert child["Arn"] == ous["workloads/dev"]
    assert [a["Id"] for a in orgs.list_accounts_for_parent(ParentId=child["Id"])["Accounts"]] == [TARGET]
    assert orgs.list_parents(ChildId=TARGET)["Parents"] == [{"Id": child["Id"], "Type": "ORGANIZATIONAL_UNIT"}]
    assert error_of(aws(TARGET, "organizations").list_accounts)["Code"] == "AccessDeniedException"
    assert error_of(aws(OTHER, "organizations").describe_organization)["Code"] == ("AWSOrganizationsNotInUseException")


def test_rule_iam_is_served_by_moto_per_account(sb: Sandbox, aws: Clients) -> None:
    sb.create_role(TARGET, "AmiCopyRole", trusted_account=OWNER)
    assert error_of(aws(OWNER, "iam").get_role, RoleName="AmiCopyRole")["Code"] == "NoSuchEntity"
    document = aws(TARGET, "iam").get_role(RoleName="AmiCopyRole")["Role"]["AssumeRolePolicyDocument"]
    trust = document if isinstance(document, dict) else json.loads(document)
    assert trust["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{OWNER}:root"}


def test_rule_a_closed_account_is_listed_suspended_by_the_management_account_alone(sb: Sandbox, aws: Clients) -> None:
    sb.create_organization(OWNER, {"workloads": [TARGET, OTHER]})
    org = aws(OWNER, "organizations")
    org.close_account(AccountId=TARGET)
    statuses = {a["Id"]: a["Status"] for a in org.list_accounts()["Accounts"]}
    assert statuses[TARGET] == "SUSPENDED" and statuses[OTHER] == "ACTIVE"
    assert error_of(aws(OTHER, "organizations").close_account, AccountId=TARGET)["Code"] == "AccessDeniedException"
    assert error_of(org.close_account, AccountId="999999999999")["Code"] == "AccountNotFoundException"
