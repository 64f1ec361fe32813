"""Every ``amishare`` command a doctor cause or an audit finding prints as its fix parses with the CLI's own
parser (issue 19: printed fixes that do not run). Each fix text is produced for real, one scenario per code,
and every code of doctor's ``CODES`` and audit's ``CODES`` must be produced, so a new code is covered too."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable
from pathlib import Path

import click
import pytest

from amishare.checks.audit import CODES as AUDIT_CODES
from amishare.checks.doctor.cause import CODES as DOCTOR_CODES
from amishare.checks.verify import CODES as VERIFY_CODES
from amishare.cli.main import COMMANDS, cli
from tests.support.fix_texts import (
    ADMIN,
    OWNER,
    REGION,
    A,
    B,
    C,
    audit_fixes,
    cleanup_texts,
    doctor_fixes,
    key_info,
    verify_fixes,
)
from tests.support.printed import (
    ROOT,
    SYNOPSIS,
    commands_in,
    doc_commands,
    in_order,
    judge,
    mention,
    source_literals,
)
from tests.support.printed import commands as shell_commands

QUOTED = re.compile(r"`(amishare [^`]+)`")
# the placeholders fix texts print, as values of the shape the command's arguments check
PLACEHOLDERS = {"IMAGE": "ami-0123456789abcdef0", "COPY": "ami-0fedcba9876543210", "ACCOUNT": A, "OWNER": OWNER}
ANY_COMMAND = re.compile(r"\bamishare (" + "|".join(re.escape(name) for name in COMMANDS) + r")\b")


def _commands(fixes: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for code, fix in fixes:
        quoted = QUOTED.findall(fix)
        bare = ANY_COMMAND.findall(QUOTED.sub("", fix))
        assert not bare, f"{code}: an amishare command outside backticks cannot be told from the prose: {fix}"
        out += [(code, command) for command in quoted]
    return out


def _manifest_texts() -> Iterable[tuple[str, str]]:
    """What drift prints when it finds something (the apply that fixes it)."""
    from amishare.planners.manifest.drift import Finding
    from amishare.render.drift import drift_text

    finding = Finding("base", "missing-share", "ami-0123456789abcdef0", A, REGION, "launch permission")
    yield "DRIFT", drift_text("estate.toml", [], (finding,))


def test_every_doctor_code_and_audit_code_is_produced() -> None:
    assert {code for code, _ in doctor_fixes()} == set(DOCTOR_CODES)
    assert {code for code, _ in audit_fixes()} == set(AUDIT_CODES)
    assert {code for code, _ in verify_fixes()} == set(VERIFY_CODES)


COMMANDS_PRINTED: list[tuple[str, str]] = sorted(
    set(_commands(doctor_fixes()))
    | set(_commands(audit_fixes()))
    | set(_commands(verify_fixes()))
    | set(_commands(_manifest_texts()))
)


@pytest.mark.parametrize(("code", "command"), COMMANDS_PRINTED, ids=[f"{c}:{s}" for c, s in COMMANDS_PRINTED])
def test_printed_command_parses(code: str, command: str) -> None:
    """``code``'s fix names a command that exists, with options that exist and the arguments it requires."""
    _, name, *args = [PLACEHOLDERS.get(word, word) for word in shlex.split(command)]
    with click.Context(cli) as context:
        command_object = cli.get_command(context, name)
    assert command_object is not None, f"{code}: no command {name!r} in {command!r}"
    try:
        command_object.make_context(name, args, resilient_parsing=False)
    except click.UsageError as exc:
        pytest.fail(f"{code}: {command!r} does not parse: {exc.format_message()}")


def test_printed_commands_include_the_fixed_ones() -> None:
    """The options issue 19 found printed but missing are gone, and the commands replacing them are checked."""
    printed = " ".join(command for _, command in COMMANDS_PRINTED)
    assert "--share-key" not in printed
    assert not re.search(r"amishare share [^,]*--grant-autoscaling", printed)
    assert "--reencrypt-key" in printed and "--grant-autoscaling" in printed


def test_verify_s_commands_name_their_region() -> None:
    """Issue 19: verify's `aws ec2 copy-image` and `amishare share` named no region: in a shell whose default region
    is not the image's, the copy was made there (and failed: no such key) or the image was not found.
    tests/integration/test_printed_fixes_run.py runs them."""
    printed = {code: in_order(fix) for code, fix in verify_fixes()}
    assert {code for code, commands in printed.items() if commands} == set(VERIFY_CODES) - {"NOT_EBS"}
    assert all("--region" in words for commands in printed.values() for words in commands), printed


def test_doctor_s_re_encryption_names_the_configured_share_key_and_leaves_nothing_to_fill_in() -> None:
    fixes = {fix for code, fix in doctor_fixes() if code == "AWS_MANAGED_KEY"}  # each capability's cause: one text
    configured = [fix for fix in fixes if "alias/amishare-share" in fix]
    assert len(fixes) == 2 and len(configured) == 1
    (words,) = in_order(configured[0])
    assert words == ["amishare", "share", "ami-0123456789abcdef0", "--to", A, "--region", REGION]
    assert "YOUR" not in configured[0]


def test_verify_s_commands_name_the_image_and_the_key_or_say_what_to_fill_in() -> None:
    """verify printed IMAGE, REGION, NAME and KEY for the user to fill in: its commands name the image, its region,
    a name for the copy and the key (--key, else the share key); only the account to share with is the user's, and
    a key verify cannot know is a placeholder the text explains."""
    for key, share_key in ((key_info(), None), (None, "alias/amishare-share"), (None, None)):
        for code, fix in verify_fixes(expected=key, share_key=share_key):
            for words in in_order(fix):
                assert "ami-0123456789abcdef0" in words and REGION in words, fix
                placeholders = {w for w in words if re.fullmatch(r"[A-Z_]{3,}|alias/YOUR-[A-Z-]+", w)}
                wanted = {"alias/YOUR-KEY"} if key is None and share_key is None else set()
                assert placeholders == wanted | ({"ACCOUNT"} if code == "AWS_MANAGED_KEY" else set()), fix
                if wanted:
                    assert "alias/YOUR-KEY: a customer managed key of yours; --key or share_key fills it in" in fix
                chosen = key.arn if key is not None else share_key
                assert chosen is None or chosen in words, fix


# ---------------------------------------------------------------------------------------------------------------
# Every command, aws ones included (the AWS CLI's own parser), wherever amishare prints it or its docs show it.


def _refusal_texts() -> Iterable[tuple[str, str]]:
    """The refusals that say which AWS CLI commands make what is missing: a share key, a DynamoDB journal's table."""
    from amishare.aws.dynamodb_journal import CREATE_TABLE
    from amishare.errors import PlanRefused
    from amishare.planners.share import usable_share_key

    for key in (None, key_info(state="Disabled")):
        with pytest.raises(PlanRefused) as refused:
            usable_share_key(key, REGION, "ami-0123456789abcdef0")
        yield "SHARE_KEY", str(refused.value)
    yield "JOURNAL_TABLE", f"`{CREATE_TABLE.format(table='amishare-journal')} --region {REGION}`"


def _every_text() -> list[tuple[str, str]]:
    return [
        *doctor_fixes(),
        *audit_fixes(),
        *verify_fixes(),
        *_manifest_texts(),
        *cleanup_texts(),
        *_refusal_texts(),
    ]


def _printed(where: str, text: str, mention: bool = False) -> list[tuple[str, list[str], bool]]:
    """Each command of ``text`` as (where, its words, mention)."""
    out = []
    for command in commands_in(text):
        for words in shell_commands(command):
            out.append((where, words, mention or bool(SYNOPSIS.search(" ".join(words)))))
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where a printed command runs: the policy file a key-policy fix edits is there (file://policy.json)."""
    folder = tmp_path_factory.mktemp("printed")
    (folder / "policy.json").write_text(json.dumps({"Version": "2012-10-17", "Statement": [ADMIN]}))
    return folder


FIXES = sorted({(code, " ".join(words)): (code, words) for text_code, text in _every_text()
                for code, words, _ in _printed(text_code, text)}.values())  # fmt: skip


def test_the_fixes_print_aws_commands_too() -> None:
    """The texts above hold AWS CLI commands for every kind of fix that is not amishare's to make."""
    printed = [" ".join(words) for _, words in FIXES if words[0] == "aws"]
    assert all(
        any(p.startswith(command) for p in printed)
        for command in (
            "aws ec2 enable-image",
            "aws ec2 wait image-available",
            "aws kms create-grant",
            "aws kms put-key-policy",
            "aws kms revoke-grant",
            "aws kms create-alias",
            "aws dynamodb create-table",
            "aws ec2 modify-snapshot-attribute",
            "aws ec2 replace-image-criteria-in-allowed-images-settings",
        )
    ), printed


@pytest.mark.parametrize(("code", "words"), FIXES, ids=[f"{c}:{' '.join(w)[:60]}" for c, w in FIXES])
def test_every_printed_fix_parses(code: str, words: list[str], workdir: Path) -> None:
    """Each command a fix, a warning or a refusal prints, as printed (placeholders in capitals included), parses:
    ``amishare`` with its own command line, ``aws`` with the AWS CLI's, up to the request it would send."""
    problem = judge(words, False, workdir)  # a placeholder in capitals stands for a value of its kind
    assert problem is None, f"{code}: {' '.join(words)!r} does not parse: {problem}"


@pytest.mark.parametrize("org", [True, False], ids=["org", "accounts"])
def test_the_bootstrap_readme_s_commands_parse_where_it_is_written(tmp_path: Path, org: bool) -> None:
    """Issue 19: the README amishare bootstrap writes put --permission-model on create-stack-instances (the AWS
    CLI refuses it), left "(the root, or your OUs)" inside a command and always said id = "222222222222". Each of
    its commands now parses as written, in the folder it is written to (its templates there for file://)."""
    from click.testing import CliRunner

    targets = ["--org"] if org else ["--accounts", f"{B},{C}"]
    out = tmp_path / "stacks"
    done = CliRunner().invoke(cli, ["bootstrap", "--out", str(out), "--source", OWNER, *targets])
    assert done.exit_code == 0, done.output
    readme = (out / "README.md").read_text()
    code = [line[4:] for line in readme.splitlines() if line.startswith("    ")]
    shell = "\n".join(code).replace("\\\n", " ")
    found = [words for line in shell.splitlines() for words in shell_commands(line) if words]
    assert len([w for w in found if w[0] == "aws"]) == 5, found
    for words, named in [(w, False) for w in found] + [(w, True) for _, w, _ in _printed("README", readme)]:
        problem = judge(words, named, out)  # a command in prose (`amishare iam`) names what exists
        assert problem is None, f"{' '.join(words)!r} does not parse: {problem}"
    instances = next(w for w in found if w[:3] == ["aws", "cloudformation", "create-stack-instances"])
    assert "--permission-model" not in instances and "(the" not in " ".join(instances)
    assert (A not in readme) if org else (f'id = "{B}"' in readme and f'id = "{C}"' in readme and A not in readme)


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DOC_COMMANDS = [
    (p.where, words, p.mention or bool(SYNOPSIS.search(" ".join(words))))
    for path in DOCS
    for p in doc_commands(path)
    for words in shell_commands(p.text)
]


def test_the_docs_show_commands() -> None:
    shown = {" ".join(words[:2]) for _, words, _ in DOC_COMMANDS}
    assert {"amishare demo", "amishare bootstrap", "aws cloudformation", "amishare audit"} <= shown
    assert len([1 for _, _, mention in DOC_COMMANDS if not mention]) >= 10  # commands to paste, not only names


@pytest.mark.parametrize(
    ("where", "words", "mention"), DOC_COMMANDS, ids=[f"{w}:{' '.join(c)[:50]}" for w, c, _ in DOC_COMMANDS]
)
def test_every_command_the_docs_show_parses(where: str, words: list[str], mention: bool, workdir: Path) -> None:
    """A command to paste parses (``aws cloudformation deploy`` reads its template: the bootstrap's are written
    first); a synopsis or a command named in prose names a command and options that exist."""
    if words[0] == "aws" and not mention:
        _Templates.into(workdir)
    problem = judge(words, mention, workdir)
    assert problem is None, f"{where}: {' '.join(words)!r}: {problem}"


class _Templates:
    """The bootstrap's templates written into a folder, once (the deploy commands shown read them)."""

    done: set[Path] = set()

    @classmethod
    def into(cls, folder: Path) -> None:
        if folder in cls.done:
            return
        from amishare.generate import bootstrap

        for name, document in bootstrap.templates().items():
            (folder / name).write_text(json.dumps(document))
        cls.done.add(folder)


# Strings whose commands are parsed as printed elsewhere, or not yet fixed (each must still be there: a stale entry
# fails): the bootstrap README's are parsed as the command writes it (above), the engine template's README likewise
# (tests/cli/test_engine.py); their values are commands' pieces the stand-ins cannot be.
PARSED_AS_PRINTED = {"src/amishare/generate/bootstrap.py", "src/amishare/generate/engine_template.py"}
LEFT_ALONE: dict[str, tuple[str, str]] = {}  # file -> the command as found, why it is left
SOURCE_TEXTS = list(source_literals())
SOURCE_COMMANDS = [
    (where, words, docstring or mention(words) or bool(SYNOPSIS.search(" ".join(words))))
    for where, text, docstring in SOURCE_TEXTS
    if where.split(":")[0] not in PARSED_AS_PRINTED
    for _, words, _ in _printed(where, text)
    if LEFT_ALONE.get(where.split(":")[0], ("",))[0] != " ".join(words)
]


def test_what_is_left_alone_is_still_there() -> None:
    for path, (command, _) in LEFT_ALONE.items():
        assert any(command in text for where, text, _ in SOURCE_TEXTS if where.startswith(path)), path


def test_the_source_prints_commands() -> None:
    assert len(SOURCE_COMMANDS) >= 40, len(SOURCE_COMMANDS)


@pytest.mark.parametrize(
    ("where", "words", "mention"),
    SOURCE_COMMANDS,
    ids=[f"{w.removeprefix('src/amishare/')}:{' '.join(c)[:50]}" for w, c, _ in SOURCE_COMMANDS],
)
def test_every_command_in_amishare_s_source_parses(where: str, words: list[str], mention: bool, workdir: Path) -> None:
    """Every string amishare can print (its f-strings' values stood in for by values of their kind) that holds a
    command: the command parses; a docstring's (help text, or a word to a developer) names what exists."""
    if words[0] == "aws" and not mention:
        _Templates.into(workdir)
    problem = judge(words, mention, workdir)
    assert problem is None, f"{where}: {' '.join(words)!r}: {problem}"
