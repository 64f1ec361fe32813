"""Bad input: a clear message naming the value and the fix, a documented exit code, and no AWS change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from amishare.aws.session import known_regions
from amishare.cli.main import cli
from amishare.sandbox import Sandbox
from tests.support.world import OTHER, OWNER, REGION, REGION2, TARGET, mutating_calls

OU = "arn:aws:organizations::111111111111:ou/o-abcdefghij/ou-abcd-12345678"

# (id, arguments, expected exit code, text the message must contain)
CASES: list[tuple[str, list[str], int, str]] = [
    ("short image id", ["share", "ami-123", "--to", TARGET], 2, "'ami-123' is not an AMI id"),
    ("instance id instead of image", ["share", "i-0123456789abcdef0", "--to", TARGET], 2, "i-0123456789abcdef0"),
    ("eleven-digit account", ["share", "{plain}", "--to", "22222222222"], 2, "exactly 12 digits (this has 11)"),
    ("unknown account name", ["share", "{plain}", "--to", "prod"], 2, "'prod' is not an account id"),
    ("account with a letter", ["share", "{plain}", "--to", "22222222222x"], 2, "'22222222222x'"),
    (
        "malformed organization ARN",
        ["share", "{plain}", "--to", "arn:aws:organizations::111111111111:organization/xyz"],
        2,
        "organization ARN",
    ),
    ("malformed OU ARN", ["share", "{plain}", "--to", "arn:aws:organizations::111111111111:ou/o-x/ou-y"], 2, "OU ARN"),
    ("malformed region", ["share", "{plain}", "--to", TARGET, "--region", "us-east"], 2, "'us-east' is not an AWS"),
    ("unknown region", ["share", "{plain}", "--to", TARGET, "--region", "us-east-9"], 2, "unknown region 'us-east-9'"),
    (
        "malformed share key",
        ["share", "{golden}", "--to", TARGET, "--reencrypt-key", "my key"],
        2,
        "'my key' is not a KMS share key",
    ),
    (
        "missing share key",
        ["share", "{golden}", "--to", TARGET, "--reencrypt-key", "alias/nope"],
        6,
        "alias/nope not found",
    ),
    (
        "share key in another region",
        ["share", "{golden}", "--to", TARGET, "--reencrypt-key", "{key_other_region}"],
        6,
        "not found in us-east-1",
    ),
    (
        "share key is aws/ebs",
        ["share", "{golden}", "--to", TARGET, "--reencrypt-key", "alias/aws/ebs"],
        9,
        "AWS managed key",
    ),
    ("aws/ebs image and no share key", ["share", "{golden}", "--to", TARGET], 9, "aws kms create-alias"),
    ("public without the flag", ["share", "{plain}", "--to", "public"], 2, "--allow-public"),
    ("public encrypted image", ["share", "{app}", "--to", "public", "--allow-public"], 9, "encrypted"),
    (
        "public with block public access on",
        ["share", "{plain2}", "--to", "public", "--allow-public", "--region", REGION2],
        9,
        "block public access",
    ),
    (
        "image that does not exist",
        ["share", "ami-0123456789abcdef0", "--to", TARGET],
        6,
        "ami-0123456789abcdef0 not found in us-east-1",
    ),
    ("image in another region", ["share", "{plain}", "--to", TARGET, "--region", REGION2], 6, "AMIs are regional"),
    ("image owned by another account", ["share", "{theirs}", "--to", TARGET], 5, f"owned by account {OTHER}"),
    ("key the caller cannot edit", ["share", "{foreign}", "--to", TARGET], 9, "Ask the key's owner"),
    ("grant with an OU target", ["share", "{app}", "--to", OU, "--key-access", "grant"], 9, "use --key-access policy"),
    (
        "endpoint without scheme",
        ["share", "{plain}", "--to", TARGET, "--endpoint-url", "localhost:4566"],
        2,
        "'localhost:4566': must start with http://",
    ),
    (
        "missing config file",
        ["share", "{plain}", "--to", TARGET, "--config", "nope.toml"],
        3,
        "nope.toml does not exist",
    ),
    ("config syntax error", ["share", "{plain}", "--to", TARGET, "--config", "{cfg_broken}"], 3, "not valid TOML"),
    (
        "config unknown key",
        ["share", "{plain}", "--to", TARGET, "--config", "{cfg_typo}"],
        3,
        "did you mean 'share_key'",
    ),
    (
        "config account id",
        ["share", "{plain}", "--to", "dev", "--config", "{cfg_bad_id}"],
        3,
        "[accounts.dev] id = '2222'",
    ),
    ("config key_access", ["share", "{plain}", "--to", TARGET, "--config", "{cfg_access}"], 3, "key_access = 'both'"),
    (
        "config region",
        ["share", "{plain}", "--to", TARGET, "--config", "{cfg_region}"],
        3,
        "region = 'Virginia' is not an AWS region",
    ),
    ("no target", ["share", "{plain}"], 2, "Missing option '--to'"),
    ("unknown output", ["show", "{plain}", "--output", "yaml"], 2, "'yaml' is not one of"),
    ("apply without --yes, non-interactive", ["share", "{plain}", "--to", TARGET], 2, "add --yes"),
    ("revoke with malformed target", ["revoke", "{plain}", "--from", "123"], 2, "exactly 12 digits"),
    ("unknown run", ["runs", "show", "20260101T000000Z-abcdef"], 10, "no run '20260101T000000Z-abcdef'"),
    (
        "transfer without a role to assume",
        ["transfer", "{plain}", "--from", OWNER, "--to", TARGET, "--yes"],
        2,
        f"no role to assume in destination account {TARGET}",
    ),
    (
        "transfer to an OU the caller cannot list",
        ["transfer", "{plain}", "--from", OWNER, "--to", OU, "--yes"],
        9,
        "needs its management account",
    ),
    ("transfer to public", ["transfer", "{plain}", "--from", OWNER, "--to", "public", "--yes"], 2, "public is not"),
    (
        "transfer excluding an OU",
        ["transfer", "{plain}", "--from", OWNER, "--to", TARGET, "--exclude", OU, "--yes"],
        2,
        "--exclude",
    ),
    ("transfer without a source", ["transfer", "{plain}", "--to", TARGET, "--yes"], 2, "no source account"),
    (
        "transfer timeout",
        ["transfer", "{plain}", "--from", OWNER, "--to", TARGET, "--timeout", "soon"],
        2,
        "'soon' is not a duration",
    ),
    (
        "transfer email without sender",
        ["transfer", "{plain}", "--from", OWNER, "--to", TARGET, "--notify-email", "a@example.com"],
        2,
        "needs --ses-sender",
    ),
    (
        "transfer SNS ARN",
        ["transfer", "{plain}", "--from", OWNER, "--to", TARGET, "--notify-sns", "topic"],
        2,
        "'topic' is not an SNS topic ARN",
    ),
    (
        "autoscaling grant without a live share",
        ["transfer", "{plain}", "--from", OWNER, "--to", TARGET, "--grant-autoscaling"],
        2,
        "add --keep-share",
    ),
    ("share with the owner", ["share", "{plain}", "--to", OWNER], 9, f"--to {OWNER}: that account owns"),
    (
        "transfer to the source",
        ["transfer", "{plain}", "--from", OWNER, "--to", "dev", "--to", OWNER, "--config", "{cfg_roles}"],
        9,
        f"account {OWNER} is the source",
    ),
    (
        "config key that is not a key",
        ["share", "{plain}", "--to", "dev", "--config", "{cfg_not_a_key}"],
        3,
        "[accounts.dev.keys] us-east-1 = 'my key' is not a KMS key reference",
    ),
    (
        "config key of another region",
        ["share", "{plain}", "--to", "dev", "--config", "{cfg_key_region}"],
        3,
        "names a key in eu-west-1, not us-east-1",
    ),
    (
        "config role of another account",
        ["share", "{plain}", "--to", "dev", "--config", "{cfg_role_account}"],
        3,
        'is a role of account 333333333333, but id = "222222222222"',
    ),
    (
        "config timeout of zero",
        ["transfer", "{plain}", "--from", OWNER, "--to", TARGET, "--config", "{cfg_timeout}"],
        3,
        "[transfer] timeout = '0' must be longer than zero",
    ),
    (
        "config share key that is not a key",
        ["share", "{plain}", "--to", TARGET, "--config", "{cfg_share_key}"],
        3,
        "[defaults] share_key = 'amishare-share' is not a KMS key reference",
    ),
    (
        "destination key ARN of another region",
        [
            "transfer",
            "{plain}",
            "--from",
            OWNER,
            "--to",
            TARGET,
            "--regions",
            "us-east-1,eu-west-1",
            "--dest-key",
            "arn:aws:kms:us-east-1:222222222222:alias/mine",
            "--config",
            "{cfg_roles}",
        ],
        2,
        "is a key of us-east-1, but the transfer needs one in eu-west-1",
    ),
    (
        "transfer with a role that cannot be assumed",
        ["transfer", "{plain}", "--from", OWNER, "--to", TARGET, "--config", "{cfg_roles}", "--dry-run"],
        9,
        "cannot assume arn:aws:iam::222222222222:role/AmiShareRole",
    ),
    (
        "transfer region list",
        ["transfer", "{plain}", "--from", OWNER, "--to", TARGET, "--regions", "us-east-1,mars-1"],
        2,
        "'mars-1' is not an AWS region",
    ),
    ("doctor: short image id", ["doctor", "ami-12", "--account", TARGET], 2, "'ami-12' is not an AMI id"),
    ("doctor: no account", ["doctor", "{plain}"], 2, "--account"),
    ("doctor: an OU as the account", ["doctor", "{plain}", "--account", "prod"], 2, "'prod' is not an account id"),
    ("doctor: unknown capability", ["doctor", "{plain}", "--account", TARGET, "--need", "fly"], 2, "choose from"),
    ("doctor: another owner's image", ["doctor", "{theirs}", "--account", TARGET], 5, "owner's credentials"),
    ("doctor: malformed dest key", ["doctor", "{plain}", "--account", TARGET, "--dest-key", "mine"], 2, "'mine'"),
    ("audit: malformed --allow", ["audit", "--allow", "acme"], 2, "--allow 'acme'"),
    (
        "audit: config allow names nothing",
        ["audit", "--config", "{cfg_allow}"],
        3,
        "[audit] allow has 'acme', which is not an account id",
    ),
    ("audit: accounts and org", ["audit", "--accounts", TARGET, "--org"], 2, "--accounts or --org"),
    ("audit: regions twice over", ["audit", "--regions", REGION, "--all-regions"], 2, "--regions or --all-regions"),
    ("audit: unknown region", ["audit", "--regions", "us-east-9"], 2, "unknown region 'us-east-9'"),
    ("audit: no role for an account", ["audit", "--accounts", TARGET], 2, "no role to read account"),
    ("audit: unknown output", ["audit", "--output", "xml"], 2, "'xml' is not one of"),
    (
        "audit: report in a missing directory",
        ["audit", "--report", "missing-dir/r.html"],
        2,
        "the directory missing-dir does not exist",
    ),
    ("audit: report of an unknown format", ["audit", "--report", "r.txt"], 2, "--report r.txt: the extension"),
    ("audit: report is a directory", ["audit", "--report", "."], 2, "end the file name with one of"),
    ("cleanup: no action", ["cleanup", "--name", "golden-*"], 2, "--deprecate, --disable or --deregister"),
    ("cleanup: no name or tag", ["cleanup", "--deregister"], 2, "--name GLOB or --tag"),
    (
        "cleanup: neither --older-than nor --keep-last",
        ["cleanup", "--name", "golden*", "--deregister"],
        2,
        "--older-than DURATION (e.g. --older-than 90d) or --keep-last N",
    ),
    ("cleanup: bad age", ["cleanup", "--name", "x*", "--deregister", "--older-than", "old"], 2, "not a duration"),
    ("cleanup: negative keep-last", ["cleanup", "--name", "x*", "--deregister", "--keep-last", "-1"], 2, "-1"),
    ("cleanup: bad tag", ["cleanup", "--tag", "team", "--deregister"], 2, "KEY=VALUE"),
    ("shared-with-me: unknown region", ["shared-with-me", "--regions", "us-east-1,mars-1"], 2, "'mars-1' is not"),
    ("iam: unknown role", ["iam", "--role", "admin"], 2, "--role admin: choose from"),
    ("iam: unknown command", ["iam", "--for", "fly"], 2, "--for fly: choose from"),
    ("iam: bad account", ["iam", "--source", "1234"], 2, "'1234' is not an account id"),
]

CONFIGS = {
    "broken": "[defaults\nregion = 'us-east-1'\n",
    "typo": "[defaults]\nshare_kye = 'alias/x'\n",
    "bad_id": "[accounts.dev]\nid = '2222'\n",
    "access": "[defaults]\nkey_access = 'both'\n",
    "region": "[defaults]\nregion = 'Virginia'\n",
    "not_a_key": "[accounts.dev]\nid = '222222222222'\nkeys = { us-east-1 = 'my key' }\n",
    "key_region": "[accounts.dev]\nid = '222222222222'\n"
    "keys = { us-east-1 = 'arn:aws:kms:eu-west-1:222222222222:alias/mine' }\n",
    "role_account": "[accounts.dev]\nid = '222222222222'\nrole = 'arn:aws:iam::333333333333:role/AmiShareRole'\n",
    "timeout": "[transfer]\ntimeout = '0'\n",
    "share_key": "[defaults]\nshare_key = 'amishare-share'\n",
    "allow": "[accounts.dev]\nid = '222222222222'\n[audit]\nallow = ['dev', 'acme']\n",
    "roles": "[defaults]\nrole_name = 'AmiShareRole'\n[accounts.dev]\nid = '222222222222'\n"
    "keys = { us-east-1 = 'alias/mine' }\n",
}


@pytest.fixture
def world(sb: Sandbox, tmp_path: Path) -> dict[str, str]:
    foreign_key = sb.create_key(
        OTHER,
        REGION,
        policy={
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": [f"arn:aws:iam::{OTHER}:root", f"arn:aws:iam::{OWNER}:root"]},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        },
    )
    theirs = sb.seed_image(OTHER, REGION, "theirs", kms_key=None)
    sb.session(OTHER).client("ec2").modify_image_attribute(
        ImageId=theirs, LaunchPermission={"Add": [{"UserId": OWNER}]}
    )
    sb.session(OWNER, REGION2).client("ec2").enable_image_block_public_access(
        ImageBlockPublicAccessState="block-new-sharing"
    )
    ids = {
        "plain": sb.seed_image(OWNER, REGION, "plain", kms_key=None),
        "plain2": sb.seed_image(OWNER, REGION2, "plain", kms_key=None),
        "golden": sb.seed_image(OWNER, REGION, "golden", kms_key="aws/ebs"),
        "app": sb.seed_image(OWNER, REGION, "app", kms_key=sb.create_key(OWNER, REGION)),
        "foreign": sb.seed_image(OWNER, REGION, "foreign", kms_key=foreign_key),
        "theirs": theirs,
        "key_other_region": sb.create_key(OWNER, REGION2),
    }
    for name, text in CONFIGS.items():
        (tmp_path / f"{name}.toml").write_text(text)
        ids[f"cfg_{name}"] = str(tmp_path / f"{name}.toml")
    return ids


# The heaviest cases (those the AWS state refuses, half a second each and more) are left to the whole suite.
SLOW_CASES = {
    "missing share key",
    "share key is aws/ebs",
    "aws/ebs image and no share key",
    "public encrypted image",
    "public with block public access on",
    "share with the owner",
    "image in another region",
    "image owned by another account",
    "key the caller cannot edit",
    "grant with an OU target",
    "apply without --yes, non-interactive",
    "transfer with a role that cannot be assumed",
    "doctor: another owner's image",
}


@pytest.mark.parametrize(
    ("case", "args", "code", "text"),
    [pytest.param(*c, id=c[0], marks=pytest.mark.slow if c[0] in SLOW_CASES else ()) for c in CASES],
)
def test_bad_input(
    sb: Sandbox,
    world: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    args: list[str],
    code: int,
    text: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    env: dict[str, Any] = {
        **sb.credentials(OWNER),
        "AWS_REGION": REGION,
        "AMISHARE_JOURNAL": str(tmp_path / "journal.sqlite3"),
    }
    argv = [a.format(**world) if "{" in a else a for a in args]
    sb.clear_calls()
    result = CliRunner().invoke(cli, argv, env=env)
    assert result.exit_code == code, (case, result.output)
    assert text in result.output, (case, result.output)
    assert mutating_calls(sb) == [], case


def test_there_are_at_least_25_bad_inputs() -> None:
    assert len(CASES) >= 25
    assert len({c[0] for c in CASES}) == len(CASES)


def test_an_unknown_profile_in_the_environment_is_one_line_with_exit_5(tmp_path: Path) -> None:
    """``AWS_PROFILE=nosuch amishare show IMAGE`` (issue 19): botocore's ProfileNotFound, raised while reading
    the regions it knows, is amishare's error, not a traceback."""
    known_regions.cache_clear()  # a fresh process reads them first of all
    result = CliRunner().invoke(
        cli,
        ["show", "ami-12345678"],
        env={
            "AWS_PROFILE": "nosuch",
            "AWS_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        },
    )
    assert result.exit_code == 5, result.output
    assert "nosuch" in result.output and "AWS_PROFILE" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_an_unknown_profile_is_one_line_with_exit_5(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["show", "ami-0123456789abcdef0", "--profile", "nosuch", "--region", "us-east-1"],
        env={"AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")},
    )
    assert result.exit_code == 5, result.output
    assert "nosuch" in result.output and "--profile" in result.output
    assert "Traceback" not in result.output
