"""CloudFormation templates for a new organization (pure; ``amishare bootstrap``).

Four templates, each with parameters, outputs and a README section:

* ``destination-role.json``: the role amishare assumes in each destination account (a StackSet across an
  organization or OUs), trusted by the source's role with an external id, carrying the generated policy of the
  destination, auditor and cleanup roles it plays; its output is the statement the account's own key needs;
* ``source-role.json``: the role amishare runs as in the image owner's account (for a pipeline to assume), with
  the generated source policy (or attach that policy to the pipeline's own role);
* ``share-key.json``: the customer managed key images are re-encrypted with before sharing: rotation on,
  administrators only in its policy (amishare adds the targets' statements itself), an alias;
* ``monitoring.json``: EventBridge rules for sharing changes (``ModifyImageAttribute``,
  ``ModifySnapshotAttribute``, ``PutKeyPolicy``, ``CreateGrant`` through CloudTrail) and ``EC2 AMI State
  Change``, to an SNS topic, with a rule of its own for public sharing; optionally forwarded to a central bus.

The policies are ``iam_policy.policy``'s: what amishare calls, scoped; nothing is written by hand.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

from amishare.generate import iam_policy
from amishare.policy.access import COPY_KEY_ACTIONS

ROLE_NAME = "AmiShareRole"
SOURCE_ROLE_NAME = "AmiShareSource"
TEMPLATE_VERSION = "2010-09-09"


def _template(
    description: str,
    parameters: dict[str, Any],
    resources: dict[str, Any],
    outputs: dict[str, Any],
    conditions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "AWSTemplateFormatVersion": TEMPLATE_VERSION,
        "Description": description,
        "Parameters": parameters,
    }
    if conditions:
        out["Conditions"] = conditions
    out["Resources"] = resources
    out["Outputs"] = outputs
    return out


def _inline(name: str, document: dict[str, Any]) -> dict[str, Any]:
    return {"PolicyName": name, "PolicyDocument": document}


def _role(trust: dict[str, Any], policies: list[dict[str, Any]]) -> dict[str, Any]:
    """An IAM role named by the ``RoleName`` parameter, with its trust policy and inline policies."""
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": {"Ref": "RoleName"},
            "AssumeRolePolicyDocument": trust,
            "Policies": policies,
            "Tags": [{"Key": "managed-by", "Value": "amishare"}],
        },
    }


def destination_role(commands: tuple[str, ...] = iam_policy.COMMANDS) -> dict[str, Any]:
    parameters = {
        "SourceAccountId": {
            "Type": "String",
            "AllowedPattern": r"^\d{12}$",
            "Description": "The image owner's account",
        },
        "SourceRoleName": {
            "Type": "String",
            "Default": SOURCE_ROLE_NAME,
            "Description": "The role amishare runs as in the source account (it assumes this one)",
        },
        "ExternalId": {"Type": "String", "MinLength": 2, "NoEcho": True, "Description": "sts:ExternalId it must give"},
        "RoleName": {"Type": "String", "Default": ROLE_NAME, "Description": "The name amishare's config gives"},
    }
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {
                    "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${SourceAccountId}:role/${SourceRoleName}"}
                },
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}},
            }
        ],
    }
    policies = [_inline("amishare", iam_policy.policy(iam_policy.TARGET_ROLES, commands))]
    key_statement = {
        "Sid": "AmiShareCopiesWithThisKey",
        "Effect": "Allow",
        "Principal": {"AWS": "ROLE_ARN"},
        "Action": list(COPY_KEY_ACTIONS),
        "Resource": "*",
        "Condition": {"StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"}},
    }
    text = json.dumps(key_statement).replace('"ROLE_ARN"', '"${Role.Arn}"')
    return _template(
        "amishare: the role amishare assumes in a destination account (deploy as a StackSet across the organization)",
        parameters,
        {"Role": _role(trust, policies)},
        {
            "RoleArn": {"Description": "The role amishare assumes here", "Value": {"Fn::GetAtt": ["Role", "Arn"]}},
            "KeyPolicyStatement": {
                "Description": "Add to the policy of this account's key for copies when it does not delegate to IAM",
                "Value": {"Fn::Sub": text},
            },
        },
    )


def source_role(commands: tuple[str, ...] = iam_policy.COMMANDS) -> dict[str, Any]:
    parameters = {
        "TrustedPrincipalArn": {
            "Type": "String",
            "Description": "Who runs amishare: a pipeline's role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
            "AllowedPattern": r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/.+$",
        },
        "RoleName": {"Type": "String", "Default": SOURCE_ROLE_NAME},
    }
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": {"Ref": "TrustedPrincipalArn"}}, "Action": "sts:AssumeRole"}
        ],
    }
    return _template(
        "amishare: the role amishare runs as in the image owner's account",
        parameters,
        {"Role": _role(trust, [_inline("amishare-source", iam_policy.policy("source", commands))])},
        {"RoleArn": {"Description": "Give it to amishare (--profile)", "Value": {"Fn::GetAtt": ["Role", "Arn"]}}},
    )


def share_key() -> dict[str, Any]:
    parameters = {
        "AdministratorRoleArn": {
            "Type": "String",
            "Description": "Who administers the key (besides the account root, which CloudFormation needs)",
            "AllowedPattern": r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$",
        },
        "SourceRoleName": {"Type": "String", "Default": SOURCE_ROLE_NAME, "Description": "The role amishare runs as"},
        "AliasName": {"Type": "String", "Default": "alias/amishare-share", "AllowedPattern": "^alias/[a-zA-Z0-9/_-]+$"},
    }
    root = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    source = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${SourceRoleName}"}
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "Administrators",
                "Effect": "Allow",
                "Principal": {"AWS": {"Ref": "AdministratorRoleArn"}},
                "Action": [
                    "kms:Create*",
                    "kms:Describe*",
                    "kms:Enable*",
                    "kms:List*",
                    "kms:Put*",
                    "kms:Update*",
                    "kms:Revoke*",
                    "kms:Disable*",
                    "kms:Get*",
                    "kms:Delete*",
                    "kms:TagResource",
                    "kms:UntagResource",
                    "kms:ScheduleKeyDeletion",
                    "kms:CancelKeyDeletion",
                ],
                "Resource": "*",
            },
            {
                "Sid": "AmiShareEditsTargetStatements",
                "Effect": "Allow",
                "Principal": {"AWS": source},
                "Action": [
                    "kms:DescribeKey",
                    "kms:GetKeyPolicy",
                    "kms:PutKeyPolicy",
                    "kms:ListGrants",
                    "kms:CreateGrant",
                    "kms:RevokeGrant",
                ],
                "Resource": "*",
            },
        ],
    }
    return _template(
        "amishare: the customer managed key images are re-encrypted with before sharing (one per region)",
        parameters,
        {
            "Key": {
                "Type": "AWS::KMS::Key",
                "Properties": {
                    "Description": "amishare: re-encrypts images before sharing",
                    "EnableKeyRotation": True,
                    "KeyPolicy": policy,
                    "Tags": [{"Key": "managed-by", "Value": "amishare"}],
                },
            },
            "Alias": {
                "Type": "AWS::KMS::Alias",
                "Properties": {"AliasName": {"Ref": "AliasName"}, "TargetKeyId": {"Ref": "Key"}},
            },
        },
        {
            "KeyArn": {
                "Description": "share_key (or share_keys.REGION) in amishare.toml",
                "Value": {"Fn::GetAtt": ["Key", "Arn"]},
            },
            "Alias": {"Value": {"Ref": "AliasName"}},
        },
    )


SHARING_CALLS = {
    "aws.ec2": ["ModifyImageAttribute", "ModifySnapshotAttribute"],
    "aws.kms": ["PutKeyPolicy", "CreateGrant"],
}


def monitoring() -> dict[str, Any]:
    parameters = {
        "NotifyEmail": {
            "Type": "String",
            "Default": "",
            "Description": "An address to subscribe to the topic (optional)",
        },
        "CentralEventBusArn": {
            "Type": "String",
            "Default": "",
            "Description": "A central account's event bus to forward to (a fleet), or empty",
        },
    }
    conditions = {
        "HasEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "NotifyEmail"}, ""]}]},
        "Forwards": {"Fn::Not": [{"Fn::Equals": [{"Ref": "CentralEventBusArn"}, ""]}]},
    }
    topic_target = [{"Arn": {"Ref": "Topic"}, "Id": "topic"}]
    resources: dict[str, Any] = {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "amishare-sharing-changes"}},
        "TopicPolicy": {
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {
                "Topics": [{"Ref": "Topic"}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": {"Ref": "Topic"},
                            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                        }
                    ],
                },
            },
        },
        "Subscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasEmail",
            "Properties": {"TopicArn": {"Ref": "Topic"}, "Protocol": "email", "Endpoint": {"Ref": "NotifyEmail"}},
        },
        "SharingChanges": _rule(
            "Image, snapshot and key sharing changes (CloudTrail)",
            {
                "source": list(SHARING_CALLS),
                "detail-type": ["AWS API Call via CloudTrail"],
                "detail": {"eventName": sorted(n for names in SHARING_CALLS.values() for n in names)},
            },
            topic_target,
        ),
        "PublicSharing": _rule(
            "An image made public",
            {
                "source": ["aws.ec2"],
                "detail-type": ["AWS API Call via CloudTrail"],
                "detail": {
                    "eventName": ["ModifyImageAttribute"],
                    "requestParameters": {"launchPermission": {"add": {"items": {"group": ["all"]}}}},
                },
            },
            topic_target,
        ),
        "ImageStates": _rule(
            "EC2 AMI State Change (available, failed, deregistered, disabled)",
            {"source": ["aws.ec2"], "detail-type": ["EC2 AMI State Change"]},
            topic_target,
        ),
        "ForwardRole": {
            "Type": "AWS::IAM::Role",
            "Condition": "Forwards",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "Policies": [
                    _inline(
                        "forward",
                        {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": "events:PutEvents",
                                    "Resource": {"Ref": "CentralEventBusArn"},
                                }
                            ],
                        },
                    )
                ],
            },
        },
        "Forward": {
            "Type": "AWS::Events::Rule",
            "Condition": "Forwards",
            "Properties": {
                "Description": "amishare: sharing changes and image states, to the central bus",
                "EventPattern": {
                    "source": ["aws.ec2", "aws.kms"],
                    "detail-type": ["AWS API Call via CloudTrail", "EC2 AMI State Change"],
                },
                "State": "ENABLED",
                "Targets": [
                    {
                        "Arn": {"Ref": "CentralEventBusArn"},
                        "Id": "central",
                        "RoleArn": {"Fn::GetAtt": ["ForwardRole", "Arn"]},
                    }
                ],
            },
        },
    }
    return _template(
        "amishare: EventBridge rules for AMI sharing changes and image states, to SNS (and a central bus)",
        parameters,
        resources,
        {"TopicArn": {"Description": "Subscribe to it", "Value": {"Ref": "Topic"}}},
        conditions,
    )


def _rule(description: str, pattern: dict[str, Any], targets: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Type": "AWS::Events::Rule",
        "Properties": {
            "Description": f"amishare: {description}",
            "EventPattern": pattern,
            "State": "ENABLED",
            "Targets": targets,
        },
    }


def templates(commands: tuple[str, ...] = iam_policy.COMMANDS) -> dict[str, dict[str, Any]]:
    """Every template, by file name."""
    return {
        "destination-role.json": destination_role(commands),
        "source-role.json": source_role(commands),
        "share-key.json": share_key(),
        "monitoring.json": monitoring(),
    }


def readme(source: str | None, accounts: tuple[str, ...], org: bool, regions: tuple[str, ...]) -> str:
    """How to deploy the templates, in order: every command whole and as the AWS CLI takes it (a placeholder in
    capitals where only the reader knows the value, said below the command), the amishare.toml to start from."""
    where = ",".join(regions) or "us-east-1"
    owner = source or "SOURCE_ACCOUNT"
    service_managed = org or not accounts
    if service_managed:
        model = (
            "--permission-model SERVICE_MANAGED --auto-deployment Enabled=true,RetainStacksOnAccountRemoval=false"
        )
        targets = "--deployment-targets OrganizationalUnitIds=ROOT_OR_OU_IDS"
        about_targets = (
            "Run it in the management account (or a delegated administrator), with trusted access for StackSets "
            "enabled. ROOT_OR_OU_IDS: the root's id (`aws organizations list-roots`: r-...) for every account, or "
            "your OUs' ids (ou-...), comma-separated."
        )
    else:
        model = "--permission-model SELF_MANAGED"
        targets = f"--accounts {' '.join(accounts)}"
        about_targets = (
            "Self-managed: the account running it needs the role AWSCloudFormationStackSetAdministrationRole, and "
            "each destination the role AWSCloudFormationStackSetExecutionRole (AWS CloudFormation User Guide, "
            '"Grant self-managed permissions").'
        )
    return f"""# amishare bootstrap

Generated by `amishare bootstrap`. The policies are derived from what amishare calls (`amishare iam`).
Placeholders in capitals (PIPELINE, KEY-ADMINS, CHANGE-ME ...) are yours to fill in.

## 1. source-role.json (in the image owner's account, {owner})

The role amishare runs as. `TrustedPrincipalArn` is your pipeline's role.

    aws cloudformation deploy --template-file source-role.json --stack-name amishare-source \\
      --capabilities CAPABILITY_NAMED_IAM --parameter-overrides TrustedPrincipalArn=arn:aws:iam::{owner}:role/PIPELINE

## 2. share-key.json (in {owner}, in each region: {where})

The customer managed key images on aws/ebs are re-encrypted with before sharing. Rotation is on; only
administrators are in its policy: amishare adds (and removes) the targets' statements itself.

    aws cloudformation deploy --template-file share-key.json --stack-name amishare-share-key \\
      --parameter-overrides AdministratorRoleArn=arn:aws:iam::{owner}:role/KEY-ADMINS

## 3. destination-role.json (in every destination account: a StackSet)

The role amishare assumes there, trusted by the source role with an external id (CHANGE-ME: a secret of your
choosing, the same in amishare.toml below). Its output `KeyPolicyStatement` is the statement a destination key
needs when its policy does not delegate to IAM.

    aws cloudformation create-stack-set --stack-set-name amishare-destination \\
      --template-body file://destination-role.json --capabilities CAPABILITY_NAMED_IAM \\
      {model} \\
      --parameters ParameterKey=SourceAccountId,ParameterValue={owner} ParameterKey=ExternalId,ParameterValue=CHANGE-ME
    aws cloudformation create-stack-instances --stack-set-name amishare-destination \\
      {targets} --regions {where.split(",")[0]}

{textwrap.fill(about_targets, 110)}

## 4. monitoring.json (in each account and region to watch)

EventBridge rules for `ModifyImageAttribute`, `ModifySnapshotAttribute`, `PutKeyPolicy`, `CreateGrant` (they need a
CloudTrail trail) and `EC2 AMI State Change`, to an SNS topic; a rule of its own for public sharing;
`CentralEventBusArn` forwards everything to a central account's bus (a fleet).

    aws cloudformation deploy --template-file monitoring.json --stack-name amishare-monitoring \\
      --capabilities CAPABILITY_IAM --parameter-overrides NotifyEmail=platform@example.com

## 5. amishare.toml

{_starter_config(accounts)}
"""


def _starter_config(accounts: tuple[str, ...]) -> str:
    """The amishare.toml to start from: the destinations given (``--accounts``), each with the external id; with an
    organization, ``amishare init`` writes its accounts by their names."""
    lines = ["[defaults]", f'role_name = "{ROLE_NAME}"', 'share_key = "alias/amishare-share"']
    for number, account in enumerate(accounts, 1):
        lines += [f"[accounts.destination-{number}]", f'id = "{account}"', 'external_id = "CHANGE-ME"']
    block = "\n".join(f"    {line}" for line in lines)
    if accounts:
        return f"{block}\n\nRename the accounts as you call them (`--to NAME` takes the name)."
    init = (
        "Then `amishare init --external-id CHANGE-ME` writes every account of the organization by its name (run it "
        "as the management account, once the StackSet's roles exist: it tells in which accounts it could assume "
        "the role)."
    )
    return f"{block}\n\n{textwrap.fill(init, 110)}"
