"""The commands of the READMEs ``amishare bootstrap`` and ``amishare engine template`` write run, as printed, on the
local AWS, and deploy what amishare needs (issue 19: printed commands run on the sandbox where they can;
tests/unit/test_printed_commands.py and tests/cli/test_engine.py parse them, this runs them).

As in a user's shell, in the README's folder (``--template-file`` and ``file://`` name the files there): every
``aws ...`` line through the AWS CLI in this process, as the account its section names (else the image owner's:
the StackSet's administrator, the account monitoring watches, the engine's source), a ``NAME=$(aws ...)`` line
setting NAME to what its command prints and ``$NAME`` expanded after, an ``amishare ...`` line through amishare's
command line; the placeholders filled in as a user does (``FILLED``), the roles they name made first.

Bootstrap (an owner and two destination accounts, a self-managed StackSet; the local AWS enforcing the roles'
identity policies): the source role is assumed by the pipeline's role it trusts; each destination's role refuses
it without the external id; amishare's ``share`` runs as the source role with the README's starter amishare.toml
(the external id filled in) and sets each destination's parameter through its role; the copy's ``EC2 AMI State
Change`` matches the monitoring stack's rule, which sends it to the stack's topic. The share key's stack cannot be
made here (NOT_RUN): the share re-encrypts with a key of the sandbox's made with the template's policy, resolved
with the parameters the README's command gives as CloudFormation resolves them. Not proved here: whether the topic
takes the event (moto's CloudFormation creates no ``AWS::SNS::TopicPolicy``), the StackSet's administration and
execution roles (moto's StackSets do not need them).

Engine (issue 17's manifest, both READMEs: a bucket given, and none, each in a region of its own): the bundle built
by the README's ``amishare engine package`` (its files stood in for by one small file, as in
tests/cli/test_engine.py: S3 and CloudFormation do not read what is in it) goes to S3, the stack is deployed from S3
(``--s3-bucket``), its function's code is that bundle, and the journal its runner is given (the stack's
``JournalUrl``) is a table ``amishare runs --journal`` reads.

What cannot run on the local AWS is in ``NOT_RUN`` with the reason; every ``aws`` command of every README variant
is run here as printed or listed there (``test_every_readme_command_is_run_or_said_why_not``)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from amishare.cli.main import cli
from amishare.generate import bootstrap, lambda_bundle
from amishare.sandbox import Sandbox
from amishare.sandbox.server import sandbox_session
from tests.support import aws_cli
from tests.support.manifests import CONFIG, EXAMPLE
from tests.support.printed import command_name
from tests.support.printed import commands as shell_commands
from tests.support.world import OTHER, OWNER, REGION, REGION2, TARGET

SECRET = "golden-images-7f3a"  # the external id the user chooses
FILLED = {"PIPELINE": "pipeline", "KEY-ADMINS": "key-admins", "CHANGE-ME": SECRET}  # the README's placeholders
# a command's name and the options that tell it apart -> why it cannot run on the local AWS
NOT_RUN = {
    "aws cloudformation create-stack-set --permission-model SERVICE_MANAGED": "a StackSet across an organization "
    "(bootstrap --org): moto deploys a service-managed StackSet's instances to the accounts of its own "
    "Organizations, which the sandbox's Organizations (its own, not moto's) never fills, and does not check "
    "trusted access for StackSets: it would answer success having deployed nowhere",
    "aws cloudformation create-stack-instances --deployment-targets": "its instances, to the organization's root or "
    "OUs (bootstrap --org): see create-stack-set --permission-model SERVICE_MANAGED",
    "aws cloudformation describe-stacks --stack-name amishare-engine": "moto keeps the outputs of a stack a change "
    "set created (what aws cloudformation deploy does for a new stack) as they were before the change set ran: "
    "none; its --query would print None. The test reads the journal's URL from the runner's environment, which "
    "the template gives the output's very expression",
    "aws cloudformation deploy --template-file share-key.json": "moto's CloudFormation reads an AWS::KMS::Key's Tags "
    "in the KMS API's form (TagKey, TagValue), not CloudFormation's (Key, Value, as the template has them and "
    "cfn-lint checks): it fails on the template AWS takes (InternalFailure, KeyError 'TagKey'); and a key it made "
    "would be moto's, which amishare's KMS calls (the sandbox's) never reach",
}
ENGINE_VARIANTS = {"bucket": (REGION, ["--bundle-bucket", "my-artifacts"]), "no-bucket": (REGION2, [])}
BOOTSTRAP_VARIANTS = {"accounts": ["--accounts", f"{TARGET},{OTHER}"], "org": ["--org"]}
RUN = {"bootstrap accounts", "engine bucket", "engine no-bucket"}  # the README variants run here


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(enforce_iam=True) as sandbox:
        sandbox.reset()
        yield sandbox


# ------------------------------------------------------------------------------------------- the README's lines
def script(readme: str) -> list[tuple[str, str]]:
    """The README's shell lines (its indented lines, continuations joined), each with its section's heading."""
    lines, section = [], ""
    for line in re.sub(r" *\\\n\s*", " ", readme).splitlines():
        if line.startswith("## "):
            section = line[3:]
        elif line.startswith("    ") and line.strip():
            lines.append((section, line.strip()))
    return lines


ASSIGNMENT = re.compile(r"([A-Z_]+)=(.*)")
SUBSTITUTION = re.compile(r"\$\((aws [^)]*)\)")


def printed_commands(readme: str) -> list[list[str]]:
    """Every ``aws`` command of the README as printed (a ``$(aws ...)`` of an assignment among them), as words."""
    found = []
    for _, line in script(readme):
        assigned = ASSIGNMENT.fullmatch(line)
        for text in SUBSTITUTION.findall(assigned.group(2)) if assigned else [line]:
            found += [words for words in shell_commands(text) if words[0] == "aws"]
    return found


def not_run(words: list[str]) -> str | None:
    """The NOT_RUN entry ``words`` matches: its name, and the entry's options in a row."""
    for entry in NOT_RUN:
        name, options, rest = entry.split()[:3], entry.split()[3:], words[3:]
        if words[:3] == name and any(rest[i : i + len(options)] == options for i in range(len(rest))):
            return entry
    return None


@dataclass
class Shell:
    """Where a README's lines run: the folder, the shell's default region, the account of each section, the
    variables the lines set, and the commands run (as printed)."""

    sb: Sandbox
    folder: Path
    region: str
    account_of: Callable[[str], str]
    variables: dict[str, str] = field(default_factory=dict)
    ran: list[list[str]] = field(default_factory=list)

    def run(self, readme: str) -> dict[str, str]:
        """Run every line of ``readme`` in order; what each command printed, by command name (the last of a name)."""
        out: dict[str, str] = {}
        for section, line in script(readme):
            assigned = ASSIGNMENT.fullmatch(line)
            if assigned:
                name, value = assigned.groups()
                self.variables[name] = SUBSTITUTION.sub(lambda m, at=section: self.command(at, m.group(1), out), value)
            else:
                self.command(section, line, out)
        return out

    def command(self, section: str, line: str, out: dict[str, str]) -> str:
        printed = ""
        for words in shell_commands(line):
            if not_run(words):
                continue
            filled = [self.filled(word) for word in words]
            printed = self.aws(section, filled) if words[0] == "aws" else self.amishare(filled)
            out[command_name(words)] = printed
            self.ran.append(words)
        return printed.strip()

    def filled(self, word: str) -> str:
        for name, value in {**FILLED, **{f"${k}": v for k, v in self.variables.items()}}.items():
            word = word.replace(name, value)
        assert "$" not in word, f"{word}: a variable no line set"
        return word

    def aws(self, section: str, words: list[str]) -> str:
        account = self.account_of(section)
        env = {**self.sb.credentials(account), "AWS_DEFAULT_REGION": self.region}
        code, out, err = aws_cli.run(words[1:], env, self.folder)
        assert code == 0, f"{' '.join(words)} (as {account}): exit {code}: {err.strip()}"
        return out

    def amishare(self, words: list[str]) -> str:
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(self.folder)
            done = CliRunner().invoke(cli, words[1:])
        assert done.exit_code == 0, f"{' '.join(words)}: exit {done.exit_code}: {done.output}{done.exception or ''}"
        return done.output


def _client(sb: Sandbox, credentials: dict[str, str], service: str) -> Any:
    keys = (credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"])
    return sandbox_session(sb.endpoint_url, REGION, *keys).client(service)


def _resolved(value: Any, names: dict[str, str]) -> Any:
    """``value`` with its ``Ref`` and ``Fn::Sub`` of ``names`` resolved, as CloudFormation resolves them."""
    if isinstance(value, list):
        return [_resolved(v, names) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return names[value["Ref"]]
    if set(value) == {"Fn::Sub"}:
        return re.sub(r"\$\{([\w:]+)\}", lambda m: names[m.group(1)], value["Fn::Sub"])
    return {k: _resolved(v, names) for k, v in value.items()}


# ---------------------------------------------------------------------------------------------------- bootstrap
def _bootstrap_readme(out: Path, variant: str) -> str:
    done = CliRunner().invoke(
        cli, ["bootstrap", "--out", str(out), "--source", OWNER, *BOOTSTRAP_VARIANTS[variant], "--regions", REGION]
    )
    assert done.exit_code == 0, done.output
    return (out / "README.md").read_text()


def _section_account(section: str) -> str:
    named = re.findall(r"\b\d{12}\b", section)
    return named[0] if named else OWNER  # the StackSet's administrator; the account monitoring watches


def _assume(sb: Sandbox, credentials: dict[str, str] | None, role_arn: str, **extra: str) -> dict[str, str]:
    sts = sb.session(OWNER).client("sts") if credentials is None else _client(sb, credentials, "sts")
    return dict(sts.assume_role(RoleArn=role_arn, RoleSessionName="readme", **extra)["Credentials"])


def _share_key(sb: Sandbox, shell: Shell, readme: str) -> None:
    """The key the share key's stack makes (moto's CloudFormation cannot: NOT_RUN), made in the sandbox's KMS, where
    amishare's calls go: the template's policy resolved with the parameters the README's command gives, as
    CloudFormation resolves them."""
    (words,) = [w for w in printed_commands(readme) if "share-key.json" in w]
    template = bootstrap.share_key()
    names = {name: p.get("Default", "") for name, p in template["Parameters"].items()}
    names |= dict(shell.filled(w).split("=", 1) for w in words[words.index("--parameter-overrides") + 1 :])
    names |= {"AWS::Partition": "aws", "AWS::AccountId": OWNER, "AWS::Region": REGION}
    assert names["AdministratorRoleArn"] == f"arn:aws:iam::{OWNER}:role/{FILLED['KEY-ADMINS']}"
    policy = _resolved(template["Resources"]["Key"]["Properties"]["KeyPolicy"], names)
    sb.create_key(OWNER, REGION, alias=names["AliasName"], policy=policy)


@pytest.mark.slow  # 5 to 9 s: moto's CloudFormation loaded (~3 s, once a process), three stacks and a StackSet, a share
def test_the_bootstrap_readme_s_commands_run_and_deploy_what_amishare_needs(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    iam = sb.session(OWNER).client("iam")  # the roles the placeholders name (AWS refuses a policy naming none)
    sb.create_role(OWNER, FILLED["KEY-ADMINS"], trusted_account=OWNER)
    sb.create_role(OWNER, FILLED["PIPELINE"], trusted_account=OWNER)
    source_arn = f"arn:aws:iam::{OWNER}:role/{bootstrap.SOURCE_ROLE_NAME}"
    allow = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": source_arn}
    iam.put_role_policy(
        RoleName=FILLED["PIPELINE"],
        PolicyName="assume-amishare",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow]}),
    )
    readme = _bootstrap_readme(tmp_path, "accounts")
    shell = Shell(sb, tmp_path, REGION, _section_account)
    shell.run(readme)
    assert shell.ran == [w for w in printed_commands(readme) if not not_run(w)]

    # the StackSet: a destination role in each account, which the source role assumes with the external id only
    pipeline = _assume(sb, None, f"arn:aws:iam::{OWNER}:role/{FILLED['PIPELINE']}")
    source = _assume(sb, pipeline, source_arn)
    for account in (TARGET, OTHER):
        role = f"arn:aws:iam::{account}:role/{bootstrap.ROLE_NAME}"
        with pytest.raises(ClientError, match="AccessDenied"):
            _assume(sb, source, role)
        _assume(sb, source, role, ExternalId=SECRET)

    # the share key, then amishare's share as the source role with the starter amishare.toml (its external id)
    _share_key(sb, shell, readme)
    starter = textwrap.dedent(readme.split("## 5. amishare.toml\n\n", 1)[1].split("\n\n")[0])
    (tmp_path / "amishare.toml").write_text(shell.filled(starter))
    image = sb.seed_image(OWNER, REGION, "golden", kms_key="aws/ebs")
    env = {
        "AWS_ACCESS_KEY_ID": source["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": source["SecretAccessKey"],
        "AWS_SESSION_TOKEN": source["SessionToken"],
        "AWS_ENDPOINT_URL": sb.endpoint_url,
        "AWS_REGION": REGION,
        "AMISHARE_JOURNAL": str(tmp_path / "journal.sqlite3"),
    }
    monkeypatch.chdir(tmp_path)
    args = ["share", image, "--to", "destination-1,destination-2", "--ssm-parameter", "/golden/latest", "--yes"]
    done = CliRunner().invoke(cli, args, env=env)
    assert done.exit_code == 0, done.output
    copies = {
        sb.session(account, REGION).client("ssm").get_parameter(Name="/golden/latest")["Parameter"]["Value"]
        for account in (TARGET, OTHER)
    }
    (copy,) = copies
    assert copy != image

    # monitoring: the copy becoming available matched the stack's rule, which sends it to the stack's topic
    cloudformation = sb.session(OWNER, REGION).client("cloudformation")
    topic = cloudformation.describe_stack_resource(StackName="amishare-monitoring", LogicalResourceId="Topic")
    topic_arn = topic["StackResourceDetail"]["PhysicalResourceId"]
    (available,) = [e for e in sb.events(OWNER, REGION) if e.detail.get("ImageId") == copy]
    assert topic_arn in [*available.delivered, *(arn for arn, _ in available.failed)], available


# ------------------------------------------------------------------------------------------------------- engine
def _engine_folder(folder: Path, variant: str) -> str:
    """The user's folder: issue 17's manifest and its amishare.toml (the variant's home region); the README."""
    region, options = ENGINE_VARIANTS[variant]
    (folder / "amishare.toml").write_text(CONFIG + f'[defaults]\nregion = "{region}"\nrole_name = "AmiShareRole"\n')
    (folder / "manifest.toml").write_text(EXAMPLE)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        args = ["engine", "template", "--out", "stack", "--manifest", "manifest.toml", "--config", "amishare.toml"]
        done = CliRunner().invoke(cli, [*args, *options])
    assert done.exit_code == 0, done.output
    return (folder / "stack" / "README.md").read_text()


@pytest.mark.slow  # 0.7 to 2 s a variant: the bundle, a bucket, the engine's stack deployed through S3
@pytest.mark.parametrize("variant", list(ENGINE_VARIANTS))
def test_the_engine_readme_s_commands_run_and_deploy_the_engine(
    variant: str, sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    region, options = ENGINE_VARIANTS[variant]
    monkeypatch.setattr(lambda_bundle, "contents", lambda found: {"amishare/__init__.py": b"X = 1\n" * 1000})
    if options:  # the user's own bucket, in the stack's region
        sb.session(OWNER, region).client("s3").create_bucket(Bucket=options[1])
    readme = _engine_folder(tmp_path, variant)
    shell = Shell(sb, tmp_path, "sa-east-1", lambda section: OWNER)  # the shell's region: where nothing lives
    shell.run(readme)
    assert [w for w in shell.ran if w[0] == "aws"] == [w for w in printed_commands(readme) if not not_run(w)]

    session = sb.session(OWNER, region)
    function = session.client("lambda").get_function(FunctionName="amishare-engine-runner")["Configuration"]
    bundle = (tmp_path / "amishare-engine.zip").read_bytes()
    assert function["CodeSha256"] == base64.b64encode(hashlib.sha256(bundle).digest()).decode()
    # the stack's JournalUrl (describe-stacks: NOT_RUN) is what its runner journals in
    stack = json.loads((tmp_path / "stack" / "engine.json").read_text())
    runner = stack["Resources"]["Runner"]["Properties"]["Environment"]["Variables"]
    assert stack["Outputs"]["JournalUrl"]["Value"] == runner["AMISHARE_JOURNAL"]
    journal = function["Environment"]["Variables"]["AMISHARE_JOURNAL"]
    table = re.fullmatch(rf"dynamodb://([\w.-]+)\?region={region}", journal)
    assert table is not None, journal
    keys = session.client("dynamodb").describe_table(TableName=table.group(1))["Table"]["KeySchema"]
    assert [k["AttributeName"] for k in keys] == ["pk", "sk"]
    monkeypatch.chdir(tmp_path)
    runs = CliRunner().invoke(cli, ["runs", "--journal", journal], env=sb.credentials(OWNER))
    assert runs.exit_code == 0, runs.output


# ------------------------------------------------------------------------------------------------- completeness
def test_every_readme_command_is_run_or_said_why_not(tmp_path: Path) -> None:
    """Every ``aws`` command of every README variant is one the tests above run, as printed, or is in NOT_RUN; every
    NOT_RUN entry still matches a command."""
    run: list[list[str]] = []
    listed: set[str] = set()
    readmes = {f"bootstrap {v}": _bootstrap_readme(tmp_path / v, v) for v in BOOTSTRAP_VARIANTS}
    readmes |= {f"engine {v}": _engine_folder(_made(tmp_path / v), v) for v in ENGINE_VARIANTS}
    for name, readme in readmes.items():
        for words in printed_commands(readme):
            entry = not_run(words)
            if entry is not None:
                listed.add(entry)
            elif name in RUN:
                run.append(words)
            else:
                assert any(words == other for other in run), f"{name}: {' '.join(words)} is neither run nor listed"
    assert listed == set(NOT_RUN) and all(NOT_RUN.values())


def _made(folder: Path) -> Path:
    folder.mkdir()
    return folder
