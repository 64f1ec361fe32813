"""Every command a doctor cause, an audit finding or a verify finding prints as its fix, and every command
cleanup's warning about key access it did not write prints, runs on the local AWS, and fixes (issue 19: printed
fixes that do not run; tests/unit/test_printed_commands.py parses them, this runs them).

Doctor: each world of tests/support/doctor_worlds.py is broken, doctor names the code, the commands of its fix
run as printed, in the order printed (``aws ...`` through the AWS CLI, in this process, as the account the fix
names with "in account X", else as the owner who ran doctor; ``amishare ...`` through amishare's command line, in
the world's folder, where its amishare.toml is), and doctor asked again names the code no more: the image is
healthy. Where a fix offers alternatives, each runs in a world of its own. Audit: each code is planted in a region
of its own, its findings' commands run as the account of the finding, and audit asked again finds it no more.
Verify: each code whose fix prints a command is found on an image of its own, the fix's commands run, and the
image they make (copy-image's copy, share's re-encrypted copy) passes ``verify --shareable --key`` the key the
user filled in. Cleanup: in cleanup's world (tests/support/cleanup_world.py) a statement of someone's own and a
grant made by hand still admit the consumer of a shared image; the AWS CLI commands of each warning
``cleanup --include-shared`` prints run (between ``get-key-policy`` and ``put-key-policy`` the policy file is
written as the warning says: the account taken out of the statement), and then the key admits the consumer no
more: cleanup warns nothing, and the statement and the grant are gone.

As in a user's shell: the AWS CLI and amishare default to a region where nothing lives (``ELSEWHERE``), so a
printed command that does not name its region fails; a placeholder (``OWNER``, ``alias/YOUR-SHARE-KEY``,
``COPY``, ``IMAGE``, ``ACCOUNT``, ``REGION``, ``NAME``, ``KEY``) is filled in as the user would; ``--yes`` answers
amishare's question (there is no terminal here). What cannot run here is in ``NOT_RUN`` (doctor) or
``VERIFY_NOT_RUN`` (verify) with the reason, and every doctor, audit and verify code whose fix prints a command is
run or listed there, so a new code cannot slip through.

One sandbox for the module, no reset: each doctor world has a target account of its own and each audit code a
region of its own, side by side (verify reads its images by id, cleanup its golden-* family, in REGION); doctor,
audit and verify are read through one set of sessions (amishare's library)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import click
import pytest
from botocore.config import Config
from click.testing import CliRunner

from amishare import api
from amishare import config as config_file
from amishare.api.context import Settings
from amishare.checks.doctor import Diagnosis
from amishare.checks.verify import Verification
from amishare.cli.main import cli
from amishare.model import TAG_SOURCE_IMAGE
from amishare.policy import key_policy
from amishare.sandbox import Sandbox
from tests.support import aws_cli
from tests.support.cleanup_world import World as CleanupWorld
from tests.support.doctor_worlds import WORLDS, Breaker, World
from tests.support.fix_texts import audit_fixes, cleanup_texts, doctor_fixes, verify_fixes
from tests.support.printed import command_name, in_order
from tests.support.world import OWNER, REGION, REGION2, TARGET, Clients, share_by_hand

ELSEWHERE = "sa-east-1"  # the shell's default region: nothing lives there
STRANGER = "444444444444"  # outside the audit's allowlist
BREAKERS: dict[str, Breaker] = {code: breaker for code, breaker, _, _ in WORLDS}

# Codes whose fix prints a command that cannot make the fix on the local AWS, and why.
NOT_RUN = {
    "NOT_VISIBLE_FROM_HERE": "its command (`amishare iam --role destination`) prints the policy to compare with; the "
    "fix itself is a person's change to an SCP, a permissions boundary or the role's own policy in the target "
    "account, which no printed command makes",
}


class Clock:
    """The sandbox's clock, which a test moves on (a copy finishes) instead of sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def sb(clock: Clock) -> Iterator[Sandbox]:
    with Sandbox(clock=clock) as sandbox:
        sandbox.reset()
        yield sandbox


@pytest.fixture(scope="module")
def aws(sb: Sandbox) -> Clients:
    """``aws(account, service, region=REGION)``: a cached boto3 client acting as ``account``."""
    cache: dict[tuple[str, str, str], Any] = {}
    no_retries = Config(retries={"total_max_attempts": 1, "mode": "standard"})

    def client(account: str, service: str, region: str = REGION) -> Any:
        if (account, service, region) not in cache:
            cache[account, service, region] = sb.session(account, region).client(service, config=no_retries)
        return cache[account, service, region]

    return client


@pytest.fixture(scope="module")
def owner(sb: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """amishare's settings acting as OWNER, one set of sessions for every doctor and audit of the module."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in sb.credentials(OWNER).items():
            patch.setenv(name, value)
        patch.setenv("AWS_REGION", ELSEWHERE)
        patch.delenv("AWS_PROFILE", raising=False)
        patch.delenv("AWS_DEFAULT_REGION", raising=False)
        journal = tmp_path_factory.mktemp("journal") / "journal.sqlite3"
        flags = api.Flags(region=REGION, endpoint_url=sb.endpoint_url, journal_path=journal)
        yield api.settings(flags, cwd=tmp_path_factory.mktemp("nowhere")).reusing_sessions()


# ---------------------------------------------------------------------------------------------- running a fix
@dataclass
class Shell:
    """Where a fix's commands run: the sandbox, the account that ran doctor or audit, the folder (amishare.toml),
    the placeholders' values, and what each command printed."""

    sb: Sandbox
    caller: str
    folder: Path
    values: dict[str, str] = field(default_factory=dict)
    printed: list[str] = field(default_factory=list)

    def run_fix(self, fix: str, only: str | None = None) -> list[str]:
        """Run the commands of ``fix`` in the order printed (``only``: that alternative alone); their names."""
        named = re.search(r"\bin account (\d{12})\b", fix)
        taken_out = re.search(r"\bwith (\d{12}) taken out of (\S+):", fix)  # the edit between get and put
        ran = []
        for printed in in_order(fix):
            if only is not None and command_name(printed) != only:
                continue
            words = self.filled(printed)
            if words[:3] == ["aws", "kms", "put-key-policy"]:
                assert taken_out is not None, fix
                self.edit_key_policy(words, *taken_out.groups())
            if words[0] == "aws":
                self.aws(words, named.group(1) if named else self.caller)
            else:
                self.amishare(words)
            ran.append(command_name(words))
        return ran

    def filled(self, words: list[str]) -> list[str]:
        """The placeholders a user fills in, filled; a list of criteria to keep appended where the fix says so."""
        words = [self.values.get(word, word) for word in words]
        left = [w for w in words if re.fullmatch(r"[A-Z_]{3,}|alias/YOUR-[A-Z-]+", w)]
        assert not left, f"{' '.join(words)}: no value for {left}"
        if words[:3] == ["aws", "ec2", "replace-image-criteria-in-allowed-images-settings"]:
            words += _criteria_kept(json.loads(self.printed[-1]))  # "followed by each criterion it had"
        return words

    def edit_key_policy(self, words: list[str], account: str, sid: str) -> None:
        """Write the file ``put-key-policy`` reads (``--policy file://...``) as a user does: the policy the
        ``get-key-policy`` just before printed, with ``account`` taken out of statement ``sid``."""
        policy = json.loads(json.loads(self.printed[-1])["Policy"])
        edited = _taken_out(policy, account, sid)
        assert edited != policy, f"{account} is in no statement {sid}: {policy}"
        path = words[words.index("--policy") + 1].removeprefix("file://")
        (self.folder / path).write_text(json.dumps(edited))

    def aws(self, words: list[str], account: str) -> None:
        env = {**self.sb.credentials(account), "AWS_DEFAULT_REGION": ELSEWHERE}
        code, out, err = aws_cli.run(words[1:], env, self.folder)
        assert code == 0, f"{' '.join(words)} (as {account}): exit {code}: {err.strip()}"
        self.printed.append(out)
        if words[:3] == ["aws", "ec2", "copy-image"]:
            self.values["COPY"] = json.loads(out)["ImageId"]

    def amishare(self, words: list[str]) -> None:
        command = cli.get_command(click.Context(cli), words[1])
        assert command is not None, words
        yes = ["--yes"] if any("--yes" in p.opts for p in command.params) else []
        env = {**self.sb.credentials(self.caller), "AWS_REGION": ELSEWHERE}
        env["AMISHARE_JOURNAL"] = str(self.folder / "journal.sqlite3")
        done = CliRunner().invoke(cli, [*words[1:], *yes], env=env)
        assert done.exit_code == 0, f"{' '.join(words)}: exit {done.exit_code}: {done.output}{done.exception or ''}"
        self.printed.append(done.stdout)


def _taken_out(policy: dict[str, Any], account: str, sid: str) -> dict[str, Any]:
    """``policy`` with ``account``'s principals taken out of statement ``sid``; the statement gone when it names no
    other principal."""
    statements = []
    for statement in policy["Statement"]:
        if statement.get("Sid") != sid:
            statements.append(statement)
            continue
        principals = statement["Principal"]["AWS"]
        left = [p for p in ([principals] if isinstance(principals, str) else principals) if account not in p]
        if left:
            statements.append({**statement, "Principal": {"AWS": left}})
    return {**policy, "Statement": statements}


def _criteria_kept(settings: dict[str, Any]) -> list[str]:
    """The criteria ``aws ec2 get-allowed-images-settings`` printed, in the AWS CLI's shorthand."""
    criteria = settings.get("ImageCriteria", [])
    assert all(set(c) == {"ImageProviders"} for c in criteria), criteria  # what the world's criteria hold
    return [f"ImageProviders={','.join(c['ImageProviders'])}" for c in criteria]


# ---------------------------------------------------------------------------------------------------- doctor
def _healthy(w: World, diagnosis: Diagnosis, clients: Clients) -> None:
    assert diagnosis.codes == [], json.dumps(diagnosis.to_dict(), indent=1)
    assert all(c.ok for c in diagnosis.capabilities.values()), json.dumps(diagnosis.to_dict(), indent=1)


def _copied_into_region2(w: World, diagnosis: Diagnosis, clients: Clients) -> None:
    """The target has its own copy of the image where doctor looked (the image itself is still not there)."""
    assert diagnosis.codes == ["NOT_IN_REGION"]
    (copy,) = clients(w.target, "ec2", REGION2).describe_images(Owners=["self"])["Images"]
    assert copy["State"] == "available", copy
    assert {"Key": TAG_SOURCE_IMAGE, "Value": w.image} in copy["Tags"], copy


def _keys_in_region2(w: World, clock: Clock) -> None:
    """What a transfer into REGION2 needs there (it says so when they are missing): the owner's share key, for
    its staging copy, and the target's own key (amishare.toml names both)."""
    w.sb.create_key(OWNER, REGION2, alias=w.alias.removeprefix("alias/"))
    w.sb.create_key(w.target, REGION2, alias="mine")
    text = (w.tmp_path / "amishare.toml").read_text().replace(" }", f', {REGION2} = "alias/mine" }}')
    (w.tmp_path / "amishare.toml").write_text(f'[defaults]\nshare_key = "{w.alias}"\n{text}')


def _the_copy_finishes(w: World, clock: Clock) -> None:
    clock.offset += 3600  # the pending world's copy takes an hour


def _pending_deletion(w: World) -> None:
    w.aws(OWNER, "kms").schedule_key_deletion(KeyId=w.key, PendingWindowInDays=7)


@dataclass(frozen=True)
class Case:
    """A doctor code, the world that shows it, the commands its fix prints (their names, in order), the one it
    runs when they are alternatives, what the world needs beforehand, and what shows it fixed."""

    code: str
    printed: tuple[str, ...]
    only: str | None = None
    label: str = ""  # what tells it from another case of its code
    breaker: Breaker | None = None  # default: the code's world in WORLDS
    before: Callable[[World, Clock], None] | None = None
    fixed: Callable[[World, Diagnosis, Clients], None] = _healthy
    fills_the_key: bool = True  # the user fills in alias/YOUR-SHARE-KEY (False: the fix names the key itself)

    @property
    def runs(self) -> tuple[str, ...]:
        return (self.only,) if self.only else self.printed


def _aws_managed_and_a_share_key(w: World) -> tuple[str, ...] | None:
    """AWS_MANAGED_KEY's world, with amishare.toml naming the share key: doctor prints the share with the image,
    the account and the region, nothing to fill in."""
    config = w.tmp_path / "amishare.toml"
    config.write_text(f'[defaults]\nshare_key = "{w.alias}"\n' + config.read_text())
    return BREAKERS["AWS_MANAGED_KEY"](w)


SHARE = ("amishare share",)
CASES = [
    Case("NOT_IN_REGION", ("amishare transfer",), before=_keys_in_region2, fixed=_copied_into_region2),
    Case("DISABLED", ("aws ec2 enable-image", "amishare share")),
    Case("PENDING", ("aws ec2 wait",), before=_the_copy_finishes),
    Case("DEPRECATED", ("aws ec2 disable-image-deprecation",)),
    Case("NO_LAUNCH_PERMISSION", SHARE),
    Case("SNAPSHOT_NOT_SHARED", SHARE),
    Case("AWS_MANAGED_KEY", SHARE),
    Case("AWS_MANAGED_KEY", SHARE, label="share-key", breaker=_aws_managed_and_a_share_key, fills_the_key=False),
    Case("KEY_POLICY_MISSING_ACCOUNT", SHARE),
    Case("KEY_CONDITION_MISMATCH", SHARE),
    Case("KEY_DISABLED", ("aws kms enable-key",)),
    Case(
        "KEY_DISABLED",
        ("aws kms cancel-key-deletion", "aws kms enable-key"),
        label="pending deletion",
        breaker=_pending_deletion,
    ),
    Case("AUTOSCALING_GRANT_MISSING", ("aws kms create-grant", "amishare transfer"), only="aws kms create-grant"),
    Case("AUTOSCALING_GRANT_MISSING", ("aws kms create-grant", "amishare transfer"), only="amishare transfer"),
    Case(
        "ALLOWED_AMIS_BLOCKS",
        ("aws ec2 get-allowed-images-settings", "aws ec2 replace-image-criteria-in-allowed-images-settings"),
    ),
    Case("ROLE_PRINCIPAL_ID", SHARE),
]


def _printed_by_code(fixes: Any) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for code, fix in fixes:
        names = {command_name(words) for words in in_order(fix)}
        if names:
            found.setdefault(code, set()).update(names)
    return found


def test_every_doctor_code_with_a_command_is_run_or_said_why_not() -> None:
    """Every code whose fix prints a command (doctor's texts for every code, tests/support/fix_texts.py) has a
    case here that runs each of those commands, or is in NOT_RUN with the reason; a stale entry fails too."""
    printed = _printed_by_code(doctor_fixes())
    cases = {case.code for case in CASES}
    assert cases.isdisjoint(NOT_RUN)
    assert set(printed) == cases | set(NOT_RUN)
    for code in cases:
        assert printed[code] <= {name for case in CASES if case.code == code for name in case.runs}, code
    assert all(NOT_RUN.values())


def _doctor(settings: Settings, w: World, region: str) -> Diagnosis:
    with_config = replace(settings, config=config_file.load(w.tmp_path / "amishare.toml"))
    return api.doctor(with_config, api.DoctorRequest(w.image, w.target, region=region))


@pytest.mark.slow  # 0.2 to 2 s a world; NOT_IN_REGION ~11 s (doctor looks in each of the sandbox's 38 regions)
@pytest.mark.parametrize(
    "number", range(len(CASES)), ids=[":".join(filter(None, (c.code, c.only or c.label))) for c in CASES]
)
def test_the_fix_doctor_prints_runs_and_fixes(
    number: int, sb: Sandbox, aws: Clients, owner: Settings, clock: Clock, tmp_path: Path
) -> None:
    case = CASES[number]
    w = World(sb, aws, tmp_path, target=f"2000000000{number:02d}", alias=f"share-{number}")
    extra = (case.breaker or BREAKERS[case.code])(w) or ()
    region = extra[extra.index("--region") + 1] if "--region" in extra else REGION
    before = _doctor(owner, w, region)
    assert before.codes == [case.code], json.dumps(before.to_dict(), indent=1)
    (fix,) = {c.fix for capability in before.capabilities.values() for c in capability.causes}
    assert tuple(command_name(words) for words in in_order(fix)) == case.printed, fix
    if case.before is not None:
        case.before(w, clock)
    shell = Shell(
        sb, OWNER, tmp_path, {"OWNER": OWNER, **({"alias/YOUR-SHARE-KEY": w.alias} if case.fills_the_key else {})}
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)  # amishare reads ./amishare.toml
        assert tuple(shell.run_fix(fix, case.only)) == case.runs
    case.fixed(w, _doctor(owner, w, region), aws)


# ----------------------------------------------------------------------------------------------------- audit
def _key(sb: Sandbox, region: str, *admits: str, alias: str | None = None) -> str:
    access = key_policy.KeyAccess(accounts=frozenset(admits))
    statements = key_policy.statements_for(region, access) if admits else []
    admin = {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OWNER}:root"}, "Action": "kms:*"}
    policy = {"Version": "2012-10-17", "Statement": [{**admin, "Resource": "*"}, *statements]}
    return sb.create_key(OWNER, region, alias=alias, policy=policy)


def _snapshot(aws: Clients, region: str, image: str) -> str:
    (mapping,) = aws(OWNER, "ec2", region).describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"]
    return str(mapping["Ebs"]["SnapshotId"])


def _public_image(sb: Sandbox, aws: Clients, region: str) -> None:
    image = sb.seed_image(OWNER, region, "open", kms_key=None)
    aws(OWNER, "ec2", region).modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"Group": "all"}]})


def _public_snapshot(sb: Sandbox, aws: Clients, region: str) -> None:
    """A public snapshot its image left behind."""
    image = sb.seed_image(OWNER, region, "orphan", kms_key=None)
    snapshot = _snapshot(aws, region, image)
    aws(OWNER, "ec2", region).deregister_image(ImageId=image)
    aws(OWNER, "ec2", region).modify_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission", OperationType="add", GroupNames=["all"]
    )


@dataclass(frozen=True)
class Planted:
    """What a planter leaves for the fixes: the placeholders' values, and for an image whose finding's fix offers
    alternatives, the one it runs."""

    values: dict[str, str] = field(default_factory=dict)
    choices: dict[str, str] = field(default_factory=dict)


def _plant_nothing(sb: Sandbox, aws: Clients, region: str) -> Planted:
    return Planted()  # image block public access is off in a new region


def _plant_public_image(sb: Sandbox, aws: Clients, region: str) -> Planted:
    _public_image(sb, aws, region)
    return Planted()


def _plant_public_snapshot(sb: Sandbox, aws: Clients, region: str) -> Planted:
    _public_snapshot(sb, aws, region)
    return Planted()


def _plant_outside(sb: Sandbox, aws: Clients, region: str) -> Planted:
    """An image shared through all three gates with STRANGER: its launch permission, snapshot and key."""
    image = sb.seed_image(OWNER, region, "outside", kms_key=_key(sb, region, STRANGER))
    share_by_hand(aws(OWNER, "ec2", region), image, STRANGER)
    return Planted({"IMAGE": image, "ACCOUNT": STRANGER})  # the key's fix: revoke an image on it from the account


def _plant_snapshot_alone(sb: Sandbox, aws: Clients, region: str) -> Planted:
    image = sb.seed_image(OWNER, region, "kept", kms_key=_key(sb, region))
    aws(OWNER, "ec2", region).modify_snapshot_attribute(
        SnapshotId=_snapshot(aws, region, image), Attribute="createVolumePermission", OperationType="add",
        UserIds=[TARGET],
    )  # fmt: skip
    return Planted()


def _plant_key_alone(sb: Sandbox, aws: Clients, region: str) -> Planted:
    image = sb.seed_image(OWNER, region, "keyed", kms_key=_key(sb, region, TARGET))
    return Planted({"IMAGE": image, "ACCOUNT": TARGET})


def _plant_unusable(sb: Sandbox, aws: Clients, region: str) -> Planted:
    """Two images shared with TARGET by launch permission alone: one is fixed by sharing, one by revoking."""
    key, choices = _key(sb, region), {}
    for name, choice in (("half-a", "amishare share"), ("half-b", "amishare revoke")):
        image = sb.seed_image(OWNER, region, name, kms_key=key)
        aws(OWNER, "ec2", region).modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": TARGET}]})
        choices[image] = choice
    return Planted(choices=choices)


def _plant_unencrypted(sb: Sandbox, aws: Clients, region: str) -> Planted:
    """Each kind of unencrypted share: an image shared with TARGET (and its snapshot), a public image, a public
    snapshot; and the share key the encrypted copy is made with."""
    image = sb.seed_image(OWNER, region, "plain", kms_key=None)
    share_by_hand(aws(OWNER, "ec2", region), image, TARGET)
    _public_image(sb, aws, region)
    _public_snapshot(sb, aws, region)
    _key(sb, region, alias="share")
    return Planted({"alias/YOUR-SHARE-KEY": "alias/share"})


Planter = Callable[[Sandbox, Clients, str], Planted]
# code -> the region it is planted in, and how
AUDITED: dict[str, tuple[str, Planter]] = {
    "IMAGE_BPA_OFF": ("us-east-2", _plant_nothing),
    "PUBLIC_IMAGE": ("us-west-1", _plant_public_image),
    "PUBLIC_SNAPSHOT": ("us-west-2", _plant_public_snapshot),
    "OUTSIDE_ALLOWLIST": ("ca-central-1", _plant_outside),
    "SNAPSHOT_SHARED_WITHOUT_IMAGE": ("eu-central-1", _plant_snapshot_alone),
    "KEY_ACCESS_WITHOUT_SHARE": ("eu-west-2", _plant_key_alone),
    "SHARE_UNUSABLE": ("eu-north-1", _plant_unusable),
    "UNENCRYPTED_SHARED": ("ap-northeast-1", _plant_unencrypted),
}


def test_every_audit_code_with_a_command_is_run_or_said_why_not() -> None:
    """Every audit code whose fix prints a command (audit's texts for every code) is planted and run here, each in
    a region of its own, where no doctor world lives."""
    assert set(_printed_by_code(audit_fixes())) == set(AUDITED)
    regions = [region for region, _ in AUDITED.values()]
    assert len(set(regions)) == len(regions) and not {REGION, REGION2, ELSEWHERE} & set(regions)


@pytest.mark.slow  # 0.1 to 3 s a code: amishare's share and revoke wait 0.5 s to see their key policy edit hold
@pytest.mark.parametrize("code", list(AUDITED))
def test_the_fix_audit_prints_runs_and_fixes(
    code: str, sb: Sandbox, aws: Clients, owner: Settings, tmp_path: Path
) -> None:
    region, plant = AUDITED[code]
    planted = plant(sb, aws, region)
    request = api.AuditRequest(regions=(region,), allow=(TARGET,))
    found = [f for f in api.audit(owner, request).findings if f.code == code]
    assert found
    shell = Shell(sb, OWNER, tmp_path, dict(planted.values))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        for finding in found:
            assert finding.account == OWNER  # the account the finding's fix is run in
            names = [command_name(words) for words in in_order(finding.fix)]
            only = planted.choices.get(finding.image)
            assert only is None or (len(names) > 1 and only in names), finding.fix
            assert shell.run_fix(finding.fix, only), finding.fix
    left = [f for f in api.audit(owner, request).findings if f.code == code]
    assert left == [], left


# ---------------------------------------------------------------------------------------------------- verify
def _the_copy(shell: Shell, aws: Clients, image: str) -> str:
    return shell.values["COPY"]  # the id copy-image printed


def _the_reencrypted_copy(shell: Shell, aws: Clients, image: str) -> str:
    tagged = [{"Name": f"tag:{TAG_SOURCE_IMAGE}", "Values": [image]}]
    (copy,) = aws(OWNER, "ec2").describe_images(Owners=["self"], Filters=tagged)["Images"]
    return str(copy["ImageId"])


@dataclass(frozen=True)
class Verified:
    """A verify code: the key of the image that shows it (None: unencrypted; "other": another customer managed
    key), whether verify is asked for the share key (``--key``), the commands its fix prints (their names, in
    order), and the image the fix makes, to verify in its place."""

    key: str | None
    with_key: bool
    printed: tuple[str, ...]
    made: Callable[[Shell, Clients, str], str]


VERIFIED = {
    "UNENCRYPTED": Verified(None, False, ("aws ec2 copy-image",), _the_copy),
    "AWS_MANAGED_KEY": Verified("aws/ebs", False, ("amishare share",), _the_reencrypted_copy),
    "WRONG_KEY": Verified("other", True, ("aws ec2 copy-image",), _the_copy),
}
# verify codes whose fix prints a command that is not run here, and why
VERIFY_NOT_RUN: dict[str, str] = {
    "SNAPSHOT_MISMATCH": "EC2 (and the sandbox) derives an image's mappings from its snapshots: no image can show "
    "it; its command is WRONG_KEY's copy-image, run above",
}


def test_every_verify_code_with_a_command_is_run_or_said_why_not() -> None:
    """Every verify code whose fix prints a command (verify's texts for every code) is run here, each of its
    commands, or is in VERIFY_NOT_RUN with the reason."""
    printed = _printed_by_code(verify_fixes())
    assert set(VERIFIED).isdisjoint(VERIFY_NOT_RUN)
    assert set(printed) == set(VERIFIED) | set(VERIFY_NOT_RUN)
    for code, case in VERIFIED.items():
        assert printed[code] == set(case.printed), code
    assert all(VERIFY_NOT_RUN.values())


def _verify(settings: Settings, image: str, key: str | None = None) -> Verification:
    (verified,) = api.verify(settings, api.VerifyRequest((image,), key=key, shareable=True, region=REGION))
    return verified


@pytest.mark.slow  # ~0.1 s (copy-image) and ~1 s (amishare share waits 0.5 s to see its key policy edit hold)
@pytest.mark.parametrize("code", list(VERIFIED))
def test_the_fix_verify_prints_runs_and_the_image_it_makes_passes(
    code: str, sb: Sandbox, aws: Clients, owner: Settings, tmp_path: Path
) -> None:
    """The image verify finds ``code`` on, with amishare.toml's share key (a customer managed key): the fix's
    commands run as printed, with the image's id, region and name and the share key in them (only the account to
    share with filled in, as a user does), and the image they make passes verify --shareable --key that key."""
    case, name = VERIFIED[code], f"verify-{code.lower().replace('_', '-')}"
    alias = f"alias/{name}"
    sb.create_key(OWNER, REGION, alias=name)
    other = sb.create_key(OWNER, REGION, alias=f"{name}-other")
    image = sb.seed_image(OWNER, REGION, name, kms_key=other if case.key == "other" else case.key)
    (tmp_path / "amishare.toml").write_text(f'[defaults]\nshare_key = "{alias}"\n')
    flags = api.Flags(region=REGION, endpoint_url=sb.endpoint_url, journal_path=tmp_path / "journal.sqlite3")
    settings = api.settings(flags, cwd=tmp_path)
    before = _verify(settings, image, key=alias if case.with_key else None)
    assert [f.code for f in before.findings] == [code], before.findings
    (fix,) = {f.fix for f in before.findings}
    assert tuple(command_name(words) for words in in_order(fix)) == case.printed, fix
    shell = Shell(sb, OWNER, tmp_path, {"ACCOUNT": TARGET})
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        assert tuple(shell.run_fix(fix)) == case.printed
    made = case.made(shell, aws, image)
    assert made != image
    after = _verify(settings, made, key=alias)
    assert after.ok, after.findings


# --------------------------------------------------------------------------------------------------- cleanup
@pytest.mark.slow  # ~1 s: two dry runs of cleanup, three AWS CLI commands
def test_the_commands_cleanup_s_warning_prints_run_and_the_consumer_is_admitted_no_more(
    sb: Sandbox, aws: Clients, owner: Settings, tmp_path: Path
) -> None:
    """cleanup --include-shared's world where a statement of someone's own and a grant made by hand still admit
    the consumer (tests/integration/test_cleanup.py): the AWS CLI commands each warning prints run as printed (the
    policy file written between get-key-policy and put-key-policy as the warning says), and then the key admits
    the consumer no more: cleanup warns nothing, and neither the statement nor the grant is there."""
    world = CleanupWorld(sb, tmp_path)  # its cleanup runs as OWNER: ``owner`` put OWNER's credentials in the env
    hand, grant = world.admitted_by_hand()
    warnings = world.cleanup(include_shared=True, dry_run=True).plan.warnings
    ran = [Shell(sb, OWNER, tmp_path).run_fix(warning) for warning in warnings]
    assert ran == [["aws kms get-key-policy", "aws kms put-key-policy"], ["aws kms revoke-grant"]], warnings
    assert {name for names in ran for name in names} == _printed_by_code(cleanup_texts())["CLEANUP_STILL_ADMITTED"]
    assert world.cleanup(include_shared=True, dry_run=True).plan.warnings == ()
    kms = aws(OWNER, "kms")
    policy = json.loads(kms.get_key_policy(KeyId=world.key, PolicyName="default")["Policy"])
    assert hand["Sid"] not in {s.get("Sid") for s in policy["Statement"]} and TARGET not in json.dumps(policy)
    assert grant not in {g["GrantId"] for g in kms.list_grants(KeyId=world.key)["Grants"]}
