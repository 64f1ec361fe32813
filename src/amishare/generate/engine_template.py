"""The serverless engine's CloudFormation (pure; ``amishare engine template``): one stack, deployed in the
manifest's source account and home region, holding

* ``Journal``: the DynamoDB table every runner journals in (``pk``/``sk`` strings, on demand, point-in-time
  recovery, encrypted), kept when the stack goes (a record of what was done);
* ``Runner``: the Lambda function (``amishare.api.runner.lambda_handler`` from the bundle ``amishare engine
  package --manifest FILE`` builds, in S3), with ``AMISHARE_JOURNAL``, ``AMISHARE_MANIFEST`` and ``AMISHARE_CONFIG``
  naming the table and the manifest and config the bundle carries; ``RunnerLogs``, its log group;
* ``Engine``: the Step Functions state machine (STANDARD), its definition ``engine_asl.definition`` (the one the
  tests execute), the function substituted for ``${Runner}``;
* the triggers (``engine_triggers.py``), EventBridge rules starting an execution: ``Parameter Store Change`` of
  each family's SSM parameter, ``EC2 AMI State Change`` to ``available`` in the source account (when a family
  selects by name, tags or id), and a schedule reconciling every family; each rule's input is the execution's input
  the runner's ``plan`` request reads (``engine_triggers.INPUT_CONTRACT``);
* three roles, least privilege: the runner's (the source role's policy for ``plan`` and ``apply`` as ``amishare
  iam`` derives it from the action kinds, scoped to the manifest's regions and source; the table; starting its
  own machine's successor executions; its log group; the notification topics configured), the machine's
  (invoking the function, running its own Distributed Map), the triggers' (starting the machine).

The state machine and the function are named after the ``EngineName`` parameter so that the roles can name them
without a dependency cycle (the machine needs its role; its role's policy names the machine).

Also here: the config the bundle carries (``bundled_config``: amishare.toml without what describes one machine).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

from amishare.config import Config
from amishare.errors import UsageError
from amishare.generate import engine_asl, iam_policy
from amishare.generate.engine_triggers import DEFAULT_SCHEDULE, Trigger, triggers
from amishare.generate.lambda_bundle import HANDLER
from amishare.planners.manifest.model import Manifest

TEMPLATE_VERSION = "2010-09-09"
RUNTIME = "python3.12"
TIMEOUT = 900  # seconds: Lambda's most; a slice's budget stops well before (engine_asl: at most 840)
DEFAULT_MEMORY = 1024
DEFAULT_NAME = "amishare-engine"
DEFAULT_CODE_KEY = "amishare-engine.zip"
TASK_ROOT = "/var/task"  # where Lambda extracts the bundle
BUNDLED_MANIFEST = "amishare.manifest.toml"  # the manifest in the bundle (amishare engine package --manifest)
BUNDLED_CONFIG = "amishare.toml"  # the config the manifest was validated with, in the bundle
MACHINE_KEYS = ("profile", "endpoint_url", "journal")  # [defaults] keys of one machine: not in the bundled config
# What the journal calls (aws/dynamodb_journal.py, aws/dynamodb_locks.py), on its table only.
JOURNAL_ACTIONS = (
    "dynamodb:BatchWriteItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
)
# A role's inline policies may hold 10,240 characters in all (IAM quotas): the source policy is scoped to the
# manifest's regions while it stays under this many, else left for any region.
REGION_SCOPED_LIMIT = 6000
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288)
SCHEDULE = re.compile(r"^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\([^()]+\))$")
TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")
MACHINE_ARN = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${EngineName}"
FUNCTION_NAME = "${EngineName}-runner"
LOG_GROUP = "/aws/lambda/" + FUNCTION_NAME  # Lambda's own default: what it writes to
LOG_GROUP_ARN = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:" + LOG_GROUP
POLICY_VERSION = "2012-10-17"


@dataclass(frozen=True)
class EngineOptions:
    """What ``amishare engine template`` takes besides the manifest and the config."""

    budget: int = engine_asl.DEFAULT_BUDGET  # seconds of a slice
    concurrency: int = engine_asl.DEFAULT_CONCURRENCY  # chunk children at once
    schedule: str = DEFAULT_SCHEDULE
    drift_topic: str | None = None  # an SNS topic ARN the scheduled reconcile publishes drift to
    code_bucket: str | None = None  # the CodeBucket parameter's default
    code_key: str | None = None  # the CodeKey parameter's default (else DEFAULT_CODE_KEY)


def check_options(options: EngineOptions) -> None:
    """Refuse options the template cannot be made with (``UsageError``, exit 2), before anything is read."""
    if not 1 <= options.budget <= 840:
        raise UsageError(f"--budget {options.budget}: a slice's budget is 1 to 840 seconds (Lambda stops at 900)")
    if not 1 <= options.concurrency <= 10_000:
        raise UsageError(f"--concurrency {options.concurrency}: 1 to 10000 (a Distributed Map's limit)")
    if not SCHEDULE.match(options.schedule):
        raise UsageError(
            f"--schedule {options.schedule!r}: an EventBridge schedule expression, e.g. 'rate(1 day)', "
            "'rate(6 hours)' or 'cron(0 6 * * ? *)'"
        )
    if options.drift_topic is not None and not TOPIC_ARN.match(options.drift_topic):
        raise UsageError(f"--drift-topic {options.drift_topic}: an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")
    if options.code_bucket is not None and not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", options.code_bucket):
        raise UsageError(f"--bundle-bucket {options.code_bucket}: not an S3 bucket name")
    if options.code_key is not None and not options.code_key.strip():
        raise UsageError("--bundle-key: give the bundle's key in the bucket, e.g. amishare-engine.zip")


def rules(manifest: Manifest, options: EngineOptions) -> dict[str, Trigger]:
    """The stack's EventBridge rules, by logical id (``engine_triggers.triggers`` with the options')."""
    return triggers(manifest, options.schedule, options.drift_topic)


# ------------------------------------------------------------------------------------------------------- roles
def _statement(sid: str, actions: list[str], resources: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}


def _document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": POLICY_VERSION, "Statement": list(statements)}


def _trust(service: str) -> dict[str, Any]:
    return _document(
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}  # no Sid: a trust
    )


def _subbed(value: Any) -> Any:
    """``value`` with every string naming a CloudFormation variable (``${AWS::Region}``) wrapped in Fn::Sub."""
    if isinstance(value, str):
        return {"Fn::Sub": value} if "${" in value else value
    if isinstance(value, list):
        return [_subbed(v) for v in value]
    if isinstance(value, dict):
        return {k: _subbed(v) for k, v in value.items()}
    return value


def role_names(config: Config) -> tuple[str, ...]:
    """The roles the runner may assume in other accounts: ``[defaults] role_name`` and each account's ``role``
    (the name of an ARN); empty when the config names none (the runner then assumes no role)."""
    names = [config.defaults.role_name] if config.defaults.role_name else []
    for account in config.accounts.values():
        if account.role:
            names.append(account.role.split(":role/", 1)[-1])
    return tuple(dict.fromkeys(names))


def source_policy(manifest: Manifest, config: Config) -> dict[str, Any]:
    """The source role's policy for ``plan`` and ``apply`` (``iam_policy``, as ``amishare iam --role source --for
    plan,apply`` gives it), scoped to the manifest's regions and the stack's own (the home region), the source
    account, and the role names the config gives; sts:AssumeRole left out when it gives none."""
    source = manifest.defaults.source.value if manifest.defaults.source is not None else "${AWS::AccountId}"
    roles = role_names(config)
    scope = iam_policy.Scope(regions=(*manifest.regions, "${AWS::Region}"), source=source, role_names=roles)
    document = iam_policy.policy("source", ("plan", "apply"), scope)
    if len(json.dumps(document, separators=(",", ":"))) > REGION_SCOPED_LIMIT:
        document = iam_policy.policy("source", ("plan", "apply"), iam_policy.Scope(source=source, role_names=roles))
    if not roles:
        kept = [s for s in document["Statement"] if s["Action"] != ["sts:AssumeRole"]]
        document = {**document, "Statement": kept}
    subbed: dict[str, Any] = _subbed(_partitioned(document))
    return subbed


def _partitioned(value: Any) -> Any:
    """``value`` with its ARNs in the stack's partition (``arn:${AWS::Partition}:``, not ``arn:aws:``)."""
    if isinstance(value, str):
        return "arn:${AWS::Partition}:" + value.removeprefix("arn:aws:") if value.startswith("arn:aws:") else value
    if isinstance(value, list):
        return [_partitioned(v) for v in value]
    if isinstance(value, dict):
        return {k: _partitioned(v) for k, v in value.items()}
    return value


def notify_topics(config: Config, options: EngineOptions) -> tuple[str, ...]:
    """The SNS topics the runner publishes to: the config's ``[transfer] notify_sns`` and ``--drift-topic``."""
    return tuple(dict.fromkeys(t for t in (config.transfer.notify_sns, options.drift_topic) if t))


def runner_policies(manifest: Manifest, config: Config, options: EngineOptions) -> list[dict[str, Any]]:
    """The runner role's inline policies: what amishare's plan and apply call as the source, the journal's table,
    starting its own machine's successor execution, its log group, and the notifications configured."""
    policies = [
        {"PolicyName": "amishare-source", "PolicyDocument": source_policy(manifest, config)},
        {
            "PolicyName": "journal",
            "PolicyDocument": _document(
                _statement("Journal", list(JOURNAL_ACTIONS), {"Fn::GetAtt": ["Journal", "Arn"]})
            ),
        },
        {
            "PolicyName": "hand-over",
            "PolicyDocument": _document(_statement("Successor", ["states:StartExecution"], {"Fn::Sub": MACHINE_ARN})),
        },
        {
            "PolicyName": "logs",
            "PolicyDocument": _document(
                _statement(
                    "Logs",
                    ["logs:CreateLogStream", "logs:PutLogEvents"],
                    {"Fn::Sub": LOG_GROUP_ARN + ":*"},
                )
            ),
        },
    ]
    notify: list[dict[str, Any]] = []
    topics = notify_topics(config, options)
    if topics:
        notify.append(_statement("Topics", ["sns:Publish"], list(topics) if len(topics) > 1 else topics[0]))
    if config.transfer.notify_email:
        identities = {"Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*"}
        notify.append(_statement("Email", ["ses:SendEmail"], identities))
    if notify:
        policies.append({"PolicyName": "notify", "PolicyDocument": _document(*notify)})
    return policies


def machine_policy() -> dict[str, Any]:
    """The state machine's role: invoke the runner (and its versions); run its own Distributed Map: start child
    executions of itself, describe and stop them (Step Functions Developer Guide, "IAM policies for using
    Distributed Map states"; a Map's children are the machine's labelled executions, ``execution:NAME/LABEL:ID``,
    Service Authorization Reference, hence ``NAME/*:*`` beside its own ``NAME:*``)."""
    executions = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${EngineName}"
    return _document(
        _statement(
            "InvokeRunner",
            ["lambda:InvokeFunction"],
            [{"Fn::GetAtt": ["Runner", "Arn"]}, {"Fn::Sub": "${Runner.Arn}:*"}],
        ),
        _statement("MapChildren", ["states:StartExecution"], {"Fn::Sub": MACHINE_ARN}),
        _statement(
            "MapChildrenWatched",
            ["states:DescribeExecution", "states:StopExecution"],
            [{"Fn::Sub": executions + ":*"}, {"Fn::Sub": executions + "/*:*"}],
        ),
    )


def _role(service: str, policies: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": _trust(service),
            "Policies": policies,
            "Tags": [{"Key": "managed-by", "Value": "amishare"}],
        },
    }


# ---------------------------------------------------------------------------------------------------- template
def _parameters(options: EngineOptions) -> dict[str, Any]:
    bucket: dict[str, Any] = {
        "Type": "String",
        "MinLength": 3,
        "Description": "The S3 bucket holding the bundle (amishare engine package), in the stack's region",
    }
    if options.code_bucket:
        bucket["Default"] = options.code_bucket
    return {
        "CodeBucket": bucket,
        "CodeKey": {
            "Type": "String",
            "MinLength": 1,
            "Default": options.code_key or DEFAULT_CODE_KEY,
            "Description": "The bundle's key in CodeBucket",
        },
        "EngineName": {
            "Type": "String",
            "Default": DEFAULT_NAME,
            "AllowedPattern": "^[A-Za-z][A-Za-z0-9-]{0,39}$",
            "Description": "Names the state machine and the function (<name>-runner): one engine per name",
        },
        "MemorySize": {
            "Type": "Number",
            "Default": DEFAULT_MEMORY,
            "MinValue": 128,
            "MaxValue": 10240,
            "Description": "The runner's memory in MB (CPU grows with it)",
        },
        "LogRetentionInDays": {
            "Type": "Number",
            "Default": "90",
            "AllowedValues": [str(d) for d in LOG_RETENTION_DAYS],
            "Description": "How long the runner's logs are kept",
        },
    }


def _core(manifest: Manifest, config: Config, options: EngineOptions) -> dict[str, Any]:
    journal_url = {"Fn::Sub": "dynamodb://${Journal}?region=${AWS::Region}"}
    return {
        "Journal": {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
                "Tags": [{"Key": "managed-by", "Value": "amishare"}],
            },
        },
        "RunnerLogs": {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Delete",  # the runs' record is the journal; the logs go with the stack
            "UpdateReplacePolicy": "Delete",
            "Properties": {"LogGroupName": {"Fn::Sub": LOG_GROUP}, "RetentionInDays": {"Ref": "LogRetentionInDays"}},
        },
        "RunnerRole": _role("lambda.amazonaws.com", runner_policies(manifest, config, options)),
        "Runner": {
            "Type": "AWS::Lambda::Function",
            "DependsOn": "RunnerLogs",  # its log group made (with its retention) before it can write
            "Properties": {
                "FunctionName": {"Fn::Sub": FUNCTION_NAME},
                "Description": "amishare's engine runner: plans and slices of runs (docs/engine.md)",
                "Runtime": RUNTIME,
                "Handler": HANDLER,
                "Timeout": TIMEOUT,
                "MemorySize": {"Ref": "MemorySize"},
                "Role": {"Fn::GetAtt": ["RunnerRole", "Arn"]},
                "Code": {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}},
                "Environment": {
                    "Variables": {
                        "AMISHARE_JOURNAL": journal_url,
                        "AMISHARE_MANIFEST": f"{TASK_ROOT}/{BUNDLED_MANIFEST}",
                        "AMISHARE_CONFIG": f"{TASK_ROOT}/{BUNDLED_CONFIG}",
                    }
                },
                "Tags": [{"Key": "managed-by", "Value": "amishare"}],
            },
        },
        "EngineRole": _role("states.amazonaws.com", [{"PolicyName": "engine", "PolicyDocument": machine_policy()}]),
        "Engine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": {"Ref": "EngineName"},
                "StateMachineType": "STANDARD",
                "RoleArn": {"Fn::GetAtt": ["EngineRole", "Arn"]},
                "Definition": engine_asl.definition(
                    "${Runner}", budget=options.budget, concurrency=options.concurrency
                ),
                "DefinitionSubstitutions": {"Runner": {"Fn::GetAtt": ["Runner", "Arn"]}},
                "Tags": [{"Key": "managed-by", "Value": "amishare"}],
            },
        },
        "TriggerRole": _role(
            "events.amazonaws.com",
            [
                {
                    "PolicyName": "start",
                    "PolicyDocument": _document(_statement("StartRun", ["states:StartExecution"], {"Ref": "Engine"})),
                }
            ],
        ),
    }


def template(manifest: Manifest, config: Config, options: EngineOptions = EngineOptions()) -> dict[str, Any]:
    """The engine's stack for ``manifest`` (validated against ``config``, amishare.toml)."""
    check_options(options)
    resources = _core(manifest, config, options)
    resources.update({name: trigger.resource() for name, trigger in rules(manifest, options).items()})
    families = ", ".join(i.family for i in manifest.images)
    return {
        "AWSTemplateFormatVersion": TEMPLATE_VERSION,
        "Description": f"amishare's serverless engine for {families} (docs/engine.md, Deployment)"[:1024],
        "Parameters": _parameters(options),
        "Resources": resources,
        "Outputs": {
            "StateMachineArn": {"Description": "The engine: start a run here", "Value": {"Ref": "Engine"}},
            "FunctionName": {"Description": "The runner", "Value": {"Ref": "Runner"}},
            "JournalTable": {"Description": "The journal's table", "Value": {"Ref": "Journal"}},
            "JournalUrl": {
                "Description": "amishare runs --journal URL shows the engine's runs",
                "Value": {"Fn::Sub": "dynamodb://${Journal}?region=${AWS::Region}"},
            },
        },
    }


# ------------------------------------------------------------------------------------------------------ README
@dataclass(frozen=True)
class Paths:
    """What the README's commands name, as the user gave them: the manifest, the template written, the config
    (None: none given), and the home region (the config's ``region``: passed to the AWS CLI when known)."""

    manifest: str
    template: str
    config: str | None = None
    region: str | None = None


def readme(paths: Paths, options: EngineOptions, manifest: Manifest) -> str:
    """How to deploy the stack: build the bundle, put it in S3, deploy; every command runs as printed (a bucket
    not given is made, named after the account)."""
    region = f" --region {paths.region}" if paths.region else ""
    config = f" --config {shlex.quote(paths.config)}" if paths.config else ""
    key = options.code_key or DEFAULT_CODE_KEY
    bundle = DEFAULT_CODE_KEY  # the file built here; uploaded under ``key``
    if options.code_bucket:
        bucket, make_bucket = options.code_bucket, ""
    else:
        bucket = '"$BUCKET"'
        make_bucket = (
            "No --bundle-bucket was given: make a bucket for the bundle once, in the stack's region (or set BUCKET to\n"
            "one of yours there):\n\n"
            "    BUCKET=amishare-engine-$(aws sts get-caller-identity --query Account --output text)\n"
            f'    aws s3 mb "s3://$BUCKET"{region}\n\n'
        )
    target = f"s3://{options.code_bucket}/{key}" if options.code_bucket else f'"s3://$BUCKET/{key}"'
    source = str(manifest.defaults.source) if manifest.defaults.source is not None else "the source account"
    listed = "\n".join(
        f"- `{name}`: {t.description.removeprefix('amishare: ')}" for name, t in rules(manifest, options).items()
    )
    return f"""# amishare's serverless engine

Generated by `amishare engine template` from {paths.manifest}. Deploy it in {source} (the runner runs as the
source: the families' images are its own), in its home region (where the families are resolved), from the
directory `amishare engine template` ran in.

## 1. The bundle: amishare, the manifest and the config it was checked with

    amishare{config} engine package --manifest {shlex.quote(paths.manifest)} --out {bundle}

## 2. In S3

{make_bucket}    aws s3 cp {bundle} {target}{region}

## 3. The stack

    aws cloudformation deploy --template-file {shlex.quote(paths.template)} --stack-name amishare-engine \\
      --capabilities CAPABILITY_NAMED_IAM --s3-bucket {bucket}{region} \\
      --parameter-overrides CodeBucket={bucket} CodeKey={shlex.quote(key)}

(`--s3-bucket`: the template goes through S3, which takes templates of any size up to 1 MB; one passed inline
may hold 51,200 bytes.) A new bundle (a changed manifest or config, a new amishare) goes through steps 1 and 2
under a new key, then step 3 with `CodeKey=` that key: CloudFormation updates the function when its code's
location changes.

## What starts a run

{listed}

Each starts an execution with the input `{{"trigger": EVENT_ID, ...}}` (docs/engine.md, "Deployment"). The runs
are journaled in the stack's table; its output `JournalUrl` is what `amishare runs --journal URL` takes:

    aws cloudformation describe-stacks --stack-name amishare-engine{region} \\
      --query "Stacks[0].Outputs[?OutputKey=='JournalUrl'].OutputValue" --output text
"""


# ------------------------------------------------------------------------------------------ the bundled config
def bundled_config(data: dict[str, Any]) -> str:
    """amishare.toml (as parsed, ``data``) as the runner reads it in Lambda: without the ``[defaults]`` keys that
    describe one machine (``MACHINE_KEYS``: its AWS profile, a local endpoint, its journal, which would outrank the
    stack's ``AMISHARE_JOURNAL``); the stack's region outranks ``region`` (Lambda sets AWS_REGION)."""
    kept = dict(data)
    if isinstance(kept.get("defaults"), dict):
        kept["defaults"] = {k: v for k, v in kept["defaults"].items() if k not in MACHINE_KEYS}
    lines = ["# amishare.toml for the engine's runner (amishare engine package): without " + ", ".join(MACHINE_KEYS)]
    _table(lines, (), kept)
    return "\n".join(lines) + "\n"


def _table(lines: list[str], path: tuple[str, ...], table: dict[str, Any]) -> None:
    """The top level's tables as sections (``[defaults]``, ``[accounts]``) after its other keys; everything in a
    section inline (``dev = { id = "222222222222" }`` under ``[accounts]`` reads as ``[accounts.dev]`` does)."""
    sections = {k: v for k, v in table.items() if not path and isinstance(v, dict)}
    lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items() if k not in sections]
    for key, value in sections.items():
        lines.append(f"[{_toml_key(key)}]")
        _table(lines, (key,), value)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return f"{{ {pairs} }}" if value else "{}"
    raise ValueError(f"a config value of type {type(value).__name__} cannot be written back: {value!r}")
