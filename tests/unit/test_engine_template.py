"""The engine's CloudFormation as generated (pure): clean under cfn-lint (and cfn-lint really looks), its policies
under parliament and least privilege (no action on everything, the table and the machine alone), its triggers'
patterns and inputs for a manifest of two families (one by SSM parameter, one by name), the state machine the
tests execute, and the config the bundle carries read back as it was written."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from amishare import config
from amishare.errors import UsageError
from amishare.generate import engine_asl, engine_triggers, iam_policy
from amishare.generate import engine_template as made
from amishare.planners.manifest import Manifest, parse_manifest
from tests.support.statelint import problems

SOURCE = "123456789012"  # the source account, [accounts.build]
REGION, PARTITION, NAME = "eu-west-1", "aws", "amishare-engine"
TWO_FAMILIES = """\
version = 1
[defaults]
source = "build"
regions = ["us-east-1", "eu-west-1"]
[[image]]
family = "al2023-base"
select = { ssm_parameter = "/golden/al2023/latest" }
  [[image.distribute]]
  to = ["dev"]
  mode = "transfer"
[[image]]
family = "win2022"
select = { name = "golden-win2022-*" }
  [[image.distribute]]
  to = ["dev", "333333333333"]
  mode = "share"
"""
CONFIG = f"""\
[defaults]
region = "{REGION}"
role_name = "AmiShareRole"
profile = "build"
journal = "~/.local/state/amishare/journal.sqlite3"
[accounts.build]
id = "{SOURCE}"
[accounts.dev]
id = "222222222222"
role = "arn:aws:iam::222222222222:role/platform/AmiCopyRole"
keys = {{ us-east-1 = "alias/dev-amis" }}
"""
TOPIC = f"arn:aws:sns:{REGION}:{SOURCE}:amishare-drift"


def _config(text: str = CONFIG) -> config.Config:
    return config.parse(tomllib.loads(text), Path("amishare.toml"))


def _manifest(text: str = TWO_FAMILIES, cfg: config.Config | None = None) -> Manifest:
    return parse_manifest(tomllib.loads(text), Path("manifest.toml"), cfg or _config())


DEFAULT = made.EngineOptions()


def _template(options: made.EngineOptions = DEFAULT, **kw: Any) -> dict[str, Any]:
    return made.template(_manifest(**kw), _config(), options)


def resolved(value: Any) -> Any:
    """``value`` with CloudFormation's intrinsic functions resolved as a stack named amishare-engine would."""
    names = {
        "AWS::Region": REGION,
        "AWS::AccountId": SOURCE,
        "AWS::Partition": PARTITION,
        "EngineName": NAME,
        "Journal": "amishare-engine-Journal-ABC",
        "Runner.Arn": f"arn:aws:lambda:{REGION}:{SOURCE}:function:{NAME}-runner",
    }
    arns = {
        "Journal": f"arn:aws:dynamodb:{REGION}:{SOURCE}:table/amishare-engine-Journal-ABC",
        "Runner": names["Runner.Arn"],
    }
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        return re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], value["Fn::Sub"])
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        return arns.get(value["Fn::GetAtt"][0], f"arn:aws:iam::{SOURCE}:role/{value['Fn::GetAtt'][0]}")
    if isinstance(value, dict) and set(value) == {"Ref"}:
        refs = {
            "Engine": f"arn:aws:states:{REGION}:{SOURCE}:stateMachine:{NAME}",
            "Runner": f"{NAME}-runner",
            "Journal": names["Journal"],
            "AWS::AccountId": SOURCE,
        }
        return refs[value["Ref"]]
    if isinstance(value, dict):
        return {k: resolved(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolved(v) for v in value]
    return value


def _policies(template: dict[str, Any], role: str) -> dict[str, dict[str, Any]]:
    return {p["PolicyName"]: p["PolicyDocument"] for p in template["Resources"][role]["Properties"]["Policies"]}


def _statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [s for d in _policies(template, role).values() for s in resolved(d)["Statement"]]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ------------------------------------------------------------------------------------------------------ cfn-lint
@pytest.mark.slow
def test_the_template_passes_cfn_lint_even_its_informational_checks() -> None:
    from cfnlint.api import ManualArgs, lint

    options = made.EngineOptions(drift_topic=TOPIC, code_bucket="my-artifacts")
    notifying = _config(CONFIG + '[transfer]\nnotify_email = "a@example.com"\n')
    text = json.dumps(made.template(_manifest(), notifying, options))
    assert lint(text, config=ManualArgs(regions=["us-east-1", "eu-west-1"], include_checks=["I"])) == []


@pytest.mark.slow
def test_cfn_lint_is_really_looking() -> None:
    from cfnlint.api import lint

    broken = _template()
    broken["Resources"]["Runner"]["Properties"]["Timeout"] = 3600  # Lambda stops at 900
    broken["Resources"]["Journal"]["Properties"]["BillingMode"] = "ON_DEMAND"
    broken["Resources"]["Engine"]["Properties"]["Definition"]["States"]["Prepare"]["Type"] = "Tusk"
    found = {(m.rule.id, m.path[1]) for m in lint(json.dumps(broken), regions=["us-east-1"])}
    assert {("E3717", "Runner"), ("E3030", "Journal"), ("E3601", "Engine")} <= found, found


def test_the_state_machine_is_the_one_the_tests_execute_with_the_runner_substituted() -> None:
    engine = _template(made.EngineOptions(budget=300, concurrency=8))["Resources"]["Engine"]["Properties"]
    assert engine["Definition"] == engine_asl.definition("${Runner}", budget=300, concurrency=8)
    assert engine["DefinitionSubstitutions"] == {"Runner": {"Fn::GetAtt": ["Runner", "Arn"]}}
    assert engine["StateMachineType"] == "STANDARD" and engine["StateMachineName"] == {"Ref": "EngineName"}
    assert engine["Definition"]["States"]["Prepare"]["Parameters"]["budget"] == 300
    assert problems(resolved(engine["Definition"])) == []


def test_the_table_function_and_outputs_are_as_the_runner_needs_them() -> None:
    template = _template()
    table = template["Resources"]["Journal"]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    assert table["Properties"]["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["Properties"]["SSESpecification"] == {"SSEEnabled": True}
    runner = {**template["Resources"]["Runner"]["Properties"], "MemorySize": None}
    runner = resolved({k: v for k, v in runner.items() if k not in ("MemorySize", "Code")})
    assert (runner["Runtime"], runner["Handler"], runner["Timeout"]) == (
        "python3.12",
        "amishare.api.runner.lambda_handler",
        900,
    )
    assert runner["Environment"]["Variables"] == {
        "AMISHARE_JOURNAL": f"dynamodb://amishare-engine-Journal-ABC?region={REGION}",
        "AMISHARE_MANIFEST": "/var/task/amishare.manifest.toml",
        "AMISHARE_CONFIG": "/var/task/amishare.toml",
    }
    assert template["Parameters"]["MemorySize"]["Default"] == 1024
    assert "Default" not in template["Parameters"]["CodeBucket"]  # no --bundle-bucket: the deploy names it
    outputs = resolved({k: v["Value"] for k, v in template["Outputs"].items()})
    assert outputs == {
        "StateMachineArn": f"arn:aws:states:{REGION}:{SOURCE}:stateMachine:{NAME}",
        "FunctionName": f"{NAME}-runner",
        "JournalTable": "amishare-engine-Journal-ABC",
        "JournalUrl": f"dynamodb://amishare-engine-Journal-ABC?region={REGION}",
    }


# ------------------------------------------------------------------------------------------------------ policies
def _every_policy(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{role}/{name}", resolved(document))
        for role in ("RunnerRole", "EngineRole", "TriggerRole")
        for name, document in _policies(template, role).items()
    ]


# Actions newer than parliament's list of IAM actions (1.6.4), each checked against the service's reference.
PARLIAMENT_UNKNOWN = {"ec2:DescribeImageReferences"}
# parliament 1.6.4 wants a resource of every type an action lists as required, where IAM wants one of them:
# states:DescribeExecution takes an execution or an express execution (Service Authorization Reference, Step
# Functions); a STANDARD machine has no express executions, so none is named.
PARLIAMENT_FALSE_POSITIVES = {("states:DescribeExecution", "arn:*:states:*:*:express:*:*:*")}


@pytest.mark.slow
def test_parliament_finds_nothing_in_any_role_but_the_documented_unknown_actions() -> None:
    from parliament import analyze_policy_string

    options = made.EngineOptions(drift_topic=TOPIC)
    template = made.template(_manifest(), _config(CONFIG + '[transfer]\nnotify_email = "a@example.com"\n'), options)
    for where, document in _every_policy(template):
        findings = analyze_policy_string(json.dumps(document)).findings
        unknown = {f.detail.removeprefix("Unknown action ") for f in findings if f.issue == "UNKNOWN_ACTION"}
        assert unknown <= PARLIAMENT_UNKNOWN, where
        mismatched = [
            (d["action"], d["required_format"]) for f in findings if f.issue == "RESOURCE_MISMATCH" for d in f.detail
        ]
        assert set(mismatched) <= PARLIAMENT_FALSE_POSITIVES, where
        others = [(f.issue, f.detail) for f in findings if f.issue not in ("UNKNOWN_ACTION", "RESOURCE_MISMATCH")]
        assert others == [], where


def test_the_runner_role_allows_no_action_on_everything_and_dynamodb_only_on_its_table() -> None:
    statements = _statements(_template(), "RunnerRole")
    actions = [a for s in statements for a in _listed(s["Action"])]
    assert "*" not in actions and not [a for a in actions if a.endswith(":*")]
    assert {a for a in actions if "*" in a} == {"kms:ReEncrypt*"}  # ReEncryptFrom and ReEncryptTo, through EC2
    table = f"arn:aws:dynamodb:{REGION}:{SOURCE}:table/amishare-engine-Journal-ABC"
    dynamo = [s for s in statements if any(a.startswith("dynamodb:") for a in _listed(s["Action"]))]
    assert [(sorted(s["Action"]), s["Resource"]) for s in dynamo] == [(list(made.JOURNAL_ACTIONS), table)]


def test_states_start_execution_is_allowed_on_the_engine_s_own_machine_only() -> None:
    machine = f"arn:aws:states:{REGION}:{SOURCE}:stateMachine:{NAME}"
    template = _template()
    for role in ("RunnerRole", "EngineRole", "TriggerRole"):
        starts = [s["Resource"] for s in _statements(template, role) if "states:StartExecution" in s["Action"]]
        assert starts == [machine], role
    engine = {s["Sid"]: s for s in _statements(template, "EngineRole")}
    assert engine["InvokeRunner"]["Resource"] == [
        f"arn:aws:lambda:{REGION}:{SOURCE}:function:{NAME}-runner",
        f"arn:aws:lambda:{REGION}:{SOURCE}:function:{NAME}-runner:*",
    ]
    assert engine["MapChildrenWatched"]["Resource"] == [
        f"arn:aws:states:{REGION}:{SOURCE}:execution:{NAME}:*",
        f"arn:aws:states:{REGION}:{SOURCE}:execution:{NAME}/*:*",
    ]


def test_the_source_policy_is_amishare_iam_s_for_plan_and_apply_scoped_to_the_manifest() -> None:
    template = _template()
    source = resolved(_policies(template, "RunnerRole")["amishare-source"])
    granted = {a for s in source["Statement"] for a in s["Action"]}
    assert granted == {a for s in iam_policy.policy("source", ["plan", "apply"])["Statement"] for a in s["Action"]}
    text = json.dumps(source)
    # the manifest's regions and the stack's own (the home region), the source's keys, the config's role names
    assert f"arn:aws:kms:us-east-1:{SOURCE}:key/*" in text and f"arn:aws:kms:{REGION}:{SOURCE}:key/*" in text
    assert "ap-southeast-2" not in text and "arn:aws:ec2:*:" not in text
    (assume,) = [s for s in source["Statement"] if s["Action"] == ["sts:AssumeRole"]]
    assert sorted(_listed(assume["Resource"])) == [
        "arn:aws:iam::*:role/AmiShareRole",
        "arn:aws:iam::*:role/platform/AmiCopyRole",
    ]


def test_a_config_naming_no_role_assumes_none_and_many_regions_are_not_spelled_out() -> None:
    bare = _config(f'[accounts.build]\nid = "{SOURCE}"\n[accounts.dev]\nid = "222222222222"\n')
    many = TWO_FAMILIES.replace(
        'regions = ["us-east-1", "eu-west-1"]',
        "regions = "
        + json.dumps(
            [
                "us-east-1",
                "us-east-2",
                "us-west-1",
                "us-west-2",
                "eu-west-1",
                "eu-west-2",
                "eu-west-3",
                "eu-central-1",
                "eu-north-1",
                "ap-southeast-1",
                "ap-southeast-2",
                "ap-northeast-1",
                "ap-northeast-2",
                "ap-south-1",
                "ca-central-1",
                "sa-east-1",
            ]
        ),
    )
    source = resolved(made.source_policy(_manifest(many, bare), bare))
    assert not [s for s in source["Statement"] if "sts:AssumeRole" in s["Action"]]
    assert "arn:aws:ec2:*::image/*" in json.dumps(source)  # 16 regions: any region, under IAM's size limit
    assert len(json.dumps(source, separators=(",", ":"))) < made.REGION_SCOPED_LIMIT


def test_sns_publish_only_on_the_topics_configured() -> None:
    assert "notify" not in _policies(_template(), "RunnerRole")
    notifying = _config(CONFIG + f'[transfer]\nnotify_sns = "arn:aws:sns:us-east-1:{SOURCE}:done"\n')
    template = made.template(_manifest(cfg=notifying), notifying, made.EngineOptions(drift_topic=TOPIC))
    (topics,) = _policies(template, "RunnerRole")["notify"]["Statement"]
    assert topics["Action"] == ["sns:Publish"]
    assert topics["Resource"] == [f"arn:aws:sns:us-east-1:{SOURCE}:done", TOPIC]


# ------------------------------------------------------------------------------------------------------ triggers
def test_the_rules_target_the_machine_through_their_role_one_per_parameter_one_for_images_one_schedule() -> None:
    template = _template(made.EngineOptions(schedule="rate(6 hours)", drift_topic=TOPIC))
    rules = {k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == "AWS::Events::Rule"}
    assert sorted(rules) == ["ImageAvailable", "ParameterAl2023Base", "Reconcile"]
    for rule in rules.values():
        (target,) = rule["Targets"]
        assert target["Arn"] == {"Ref": "Engine"} and target["RoleArn"] == {"Fn::GetAtt": ["TriggerRole", "Arn"]}
    assert rules["ParameterAl2023Base"]["EventPattern"] == {
        "source": ["aws.ssm"],
        "detail-type": ["Parameter Store Change"],
        "account": [SOURCE],
        "detail": {"name": ["/golden/al2023/latest"], "operation": ["Create", "Update"]},
    }
    assert rules["ImageAvailable"]["EventPattern"] == {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 AMI State Change"],
        "account": [SOURCE],
        "detail": {"State": ["available"]},
    }
    assert rules["Reconcile"]["ScheduleExpression"] == "rate(6 hours)" and "EventPattern" not in rules["Reconcile"]


def _filled(trigger: engine_triggers.Trigger, event: dict[str, Any]) -> dict[str, Any]:
    """The input EventBridge sends: each ``<name>`` of the template filled from the event at its path."""
    text = trigger.input_template
    for name, path in trigger.paths.items():
        value: Any = event
        for part in path.removeprefix("$.").split("."):
            value = value[part]
        text = text.replace(f"<{name}>", str(value))
    return dict(json.loads(text))


SCHEDULED = {"id": "e-3", "time": "2026-06-01T06:00:00Z", "detail-type": "Scheduled Event", "detail": {}}


@pytest.mark.parametrize(
    ("name", "event", "expected"),
    [
        (
            "ParameterAl2023Base",
            {"id": "e-1", "detail": {"name": "/golden/al2023/latest", "operation": "Update"}},
            {"trigger": "e-1", "family": "al2023-base", "parameter": "/golden/al2023/latest"},
        ),
        (
            "ImageAvailable",
            {"id": "e-2", "region": "eu-west-1", "detail": {"ImageId": "ami-0123456789abcdef0", "State": "available"}},
            {"trigger": "e-2", "family": "win2022", "image": "ami-0123456789abcdef0", "region": "eu-west-1"},
        ),
        ("Reconcile", SCHEDULED, {"trigger": "e-3", "schedule": "2026-06-01T06:00:00Z", "drift_topic": TOPIC}),
    ],
)
def test_each_rule_sends_the_runner_s_input(name: str, event: dict[str, Any], expected: dict[str, Any]) -> None:
    trigger = made.rules(_manifest(), made.EngineOptions(drift_topic=TOPIC))[name]
    assert _filled(trigger, event) == expected
    assert set(expected) <= set(engine_triggers.INPUT_CONTRACT)  # every key the rules send is documented


def test_families_sharing_a_parameter_or_all_by_id_shape_the_rules() -> None:
    shared = TWO_FAMILIES.replace('name = "golden-win2022-*"', 'ssm_parameter = "/golden/al2023/latest"')
    found = engine_triggers.triggers(_manifest(shared))
    assert sorted(found) == ["ParameterShared", "Reconcile"]  # no image rule: every family follows a parameter
    assert "family" not in found["ParameterShared"].fields  # two families: the runner decides
    by_id = TWO_FAMILIES.replace('name = "golden-win2022-*"', 'id = "ami-0123456789abcdef0"')
    by_id = by_id.replace('ssm_parameter = "/golden/al2023/latest"', 'id = "ami-0fedcba9876543210"')
    images = engine_triggers.triggers(_manifest(by_id))["ImageAvailable"]
    assert images.pattern is not None and images.pattern["detail"] == {
        "State": ["available"],
        "ImageId": ["ami-0123456789abcdef0", "ami-0fedcba9876543210"],
    }
    assert "family" not in images.fields


def test_a_manifest_naming_no_source_watches_the_stack_s_own_account() -> None:
    unnamed = TWO_FAMILIES.replace('source = "build"\n', "")
    pattern = engine_triggers.triggers(_manifest(unnamed))["ImageAvailable"].pattern
    assert pattern is not None and pattern["account"] == [{"Ref": "AWS::AccountId"}]


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (made.EngineOptions(budget=900), "--budget 900: a slice's budget is 1 to 840 seconds"),
        (made.EngineOptions(concurrency=0), "--concurrency 0: 1 to 10000"),
        (made.EngineOptions(schedule="daily"), "--schedule 'daily': an EventBridge schedule expression"),
        (made.EngineOptions(drift_topic="arn:aws:sqs:us-east-1:1:q"), "--drift-topic arn:aws:sqs:us-east-1:1:q"),
        (made.EngineOptions(code_bucket="My_Bucket"), "--bundle-bucket My_Bucket: not an S3 bucket name"),
    ],
)
def test_options_the_template_cannot_be_made_with_are_refused(options: made.EngineOptions, words: str) -> None:
    with pytest.raises(UsageError, match=re.escape(words)):
        made.check_options(options)


# --------------------------------------------------------------------------------------------- bundled config
def test_the_bundled_config_reads_back_as_written_without_this_machine_s_keys() -> None:
    data = tomllib.loads(
        CONFIG
        + '[transfer]\nregions = ["us-east-1"]\ntags = { team = "platform", "odd key" = "a \\"quoted\\" value" }\n'
        + 'keep_share = true\n[audit]\nallow = ["dev", "o-abcd123456"]\n'
    )
    text = made.bundled_config(data)
    back = tomllib.loads(text)
    expected = {**data, "defaults": {k: v for k, v in data["defaults"].items() if k not in made.MACHINE_KEYS}}
    assert back == expected and "profile" not in back["defaults"] and "journal" not in back["defaults"]
    assert config.parse(back, Path("amishare.toml")).account_named("dev") is not None
    assert made.bundled_config({}).startswith("# amishare.toml for the engine's runner")
