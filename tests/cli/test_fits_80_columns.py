"""Output that fits (issue 19, item 5): at 80 columns, lines are wrapped at words with a hanging indent, every id is
whole, a command is never folded (whole on its own line when it is longer than a line), and each action of a run
is said once. The commands run in a pseudo-terminal of 80 columns, as a person runs them (piped, text is left
as it is); the JSON documents to compare with come from the same commands with ``--output json``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from amishare.cli.main import cli
from amishare.render.wrap import fit, fit_line
from amishare.sandbox import Sandbox
from tests.support import tmux
from tests.support.terminal import in_a_terminal
from tests.support.world import OTHER, OWNER, REGION, TARGET

WIDTH = 80
IDS = re.compile(
    r"ami-[0-9a-f]{8,17}|snap-[0-9a-f]{8,17}|\b\d{12}\b|arn:aws:[^\s,;()`\"\\{}\[\]]+[^\s,;()`\"\\{}\[\].:]"
)
COMMAND_LINE = re.compile(r"^\(?`[^`]+`\)?[:,;.]?$|^(?:aws|amishare) [a-z0-9-]+ \S.*$")


def _env(sb: Sandbox, tmp_path: Path) -> dict[str, str]:
    env = {**sb.credentials(OWNER), "AWS_REGION": REGION, "AMISHARE_JOURNAL": str(tmp_path / "journal.sqlite3")}
    return env


def _json(sb: Sandbox, tmp_path: Path, *args: str) -> Any:
    """The command's JSON document (CliRunner: no terminal)."""
    result = CliRunner().invoke(cli, [*args, "--output", "json"], env=_env(sb, tmp_path))
    return json.loads(result.stdout)


def _terminal(sb: Sandbox, tmp_path: Path, *args: str) -> tuple[int, str]:
    """``amishare ARGS`` in a pseudo-terminal of ``WIDTH`` columns: its exit code and the screen (stdout and
    stderr as the terminal shows them)."""
    session = in_a_terminal(list(args), _env(sb, tmp_path), tmp_path, WIDTH)
    return session.exit_code, session.screen


def _fits(text: str) -> None:
    """Every line fits, or is one whole command, or one piece that has no space to be cut at (a policy statement to
    paste, printed compact; a word of a continued command, longer than a line, and its continuation mark)."""
    for line in text.splitlines():
        alone = line.strip().removesuffix(" \\")
        assert len(line) <= WIDTH or COMMAND_LINE.match(alone) or " " not in alone, f"{len(line)}: {line!r}"


def _ids_whole(text: str, document: Any) -> None:
    """Every id the JSON document holds that the text shows is whole in the text."""
    shown = set(IDS.findall(text))
    wanted = set(IDS.findall(json.dumps(document)))
    assert shown, text
    assert shown <= wanted, shown - wanted  # nothing cut: a cut id would not be one of the document's


@pytest.fixture
def ebs_image(sb: Sandbox) -> str:
    sb.create_key(OWNER, REGION, alias="amishare-share")
    return sb.seed_image(OWNER, REGION, "golden-al2023-2026.11.22", volumes_gib=[8, 16], kms_key="aws/ebs")


def test_a_plan_fits_80_columns_with_every_id_whole(sb: Sandbox, ebs_image: str, tmp_path: Path) -> None:
    args = ("share", ebs_image, "--to", f"{TARGET},{OTHER}", "--reencrypt-key", "alias/amishare-share", "--dry-run")
    code, screen = _terminal(sb, tmp_path, *args)
    assert code == 0, screen
    document = _json(sb, tmp_path, *args)
    assert max(len(line) for line in screen.splitlines()) <= WIDTH, screen
    _ids_whole(screen, document)
    lines = screen.splitlines()
    share = next(i for i, line in enumerate(lines) if "+ ShareSnapshots" in line)
    hang = lines[share].index("createVolumePermission")
    assert lines[share + 1].startswith(" " * hang) and lines[share + 1][hang] != " "  # hanging under its text


def test_a_run_says_each_action_once(sb: Sandbox, tmp_path: Path) -> None:
    image = sb.seed_image(OWNER, REGION, "app", kms_key=sb.create_key(OWNER, REGION, alias="app"))
    code, screen = _terminal(sb, tmp_path, "share", image, "--to", TARGET, "--yes")
    assert code == 0, screen
    said = [line for line in screen.splitlines() if line.startswith("[ok] ")]
    assert len(said) == 3, screen  # PutKeyPolicy, ShareSnapshots, ShareImage: one line each, as they end
    assert not re.search(r"^\s+ok\s+\w+:", screen, re.M), screen  # not said again in the result
    assert f"Shared {image} with {TARGET}." in screen
    _fits(screen)


def test_doctor_fixes_keep_their_commands_whole(sb: Sandbox, tmp_path: Path) -> None:
    image = sb.seed_image(OWNER, REGION, "app", kms_key=sb.create_key(OWNER, REGION, alias="app"))
    code, screen = _terminal(sb, tmp_path, "doctor", image, "--account", TARGET)
    assert code == 13, screen
    document = _json(sb, tmp_path, "doctor", image, "--account", TARGET)
    _fits(screen)
    _ids_whole(screen, document)
    commands = {c for cap in document["capabilities"].values() for cause in cap["causes"] for c in _quoted(cause)}
    assert commands
    pasted = re.sub(r" \\\n\s*", " ", screen)  # a command longer than a line, continued as a shell continues it
    for command in commands:  # each on one line, whole, or on lines a shell joins back into it
        assert any(command in line for line in pasted.splitlines()), command
    assert any(line.endswith(" \\") for line in screen.splitlines())  # this one has a command longer than 80


def test_piped_text_is_left_as_it_is(sb: Sandbox, ebs_image: str, tmp_path: Path) -> None:
    """A pipe or a file gets whole lines (grep finds a line whole), whatever $COLUMNS says."""
    args = ["share", ebs_image, "--to", f"{TARGET},{OTHER}", "--reencrypt-key", "alias/amishare-share", "--dry-run"]
    piped = CliRunner().invoke(cli, args, env={**_env(sb, tmp_path), "COLUMNS": str(WIDTH)})
    assert piped.exit_code == 0, piped.output
    assert max(len(line) for line in piped.stdout.splitlines()) > WIDTH


def _quoted(cause: dict[str, str]) -> list[str]:
    return re.findall(r"`[^`]+`", cause["fix"])


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "  note: " + "word " * 20,
            ["  note: " + "word " * 13 + "word", "        " + "word " * 5 + "word"],
        ),
        (
            "  + ShareImage  launch permission on ami-0123456789abcdef0 for 222222222222, 333333333333, 444444444444",
            [
                "  + ShareImage  launch permission on ami-0123456789abcdef0 for 222222222222,",
                "                333333333333, 444444444444",
            ],
        ),
        (
            "    fix: `amishare share ami-0123456789abcdef0 --to 222222222222 --region us-east-1 --reencrypt-key x`",
            [  # longer than a line: continued as a shell continues it, never folded mid-word by the terminal
                "    fix:",
                "`amishare share ami-0123456789abcdef0 --to 222222222222 --region us-east-1 \\",
                "    --reencrypt-key x`",
            ],
        ),
    ],
)
def test_lines_wrap_at_words_with_a_hanging_indent(line: str, expected: list[str]) -> None:
    assert [out.rstrip() for out in fit_line(line.rstrip(), WIDTH)] == expected


def test_narrow_or_unknown_widths_leave_text_as_it_is() -> None:
    long = "x " * 100
    assert fit(long, None) == long and fit(long, 20) == long


@pytest.mark.slow
@pytest.mark.skipif(not tmux.AVAILABLE, reason="tmux draws the screen")
def test_a_transfer_s_live_view_at_80_columns_in_a_real_terminal(sb: Sandbox, tmp_path: Path) -> None:
    """Issue 19: at 80 columns the live view truncated account and image ids (``2222222222…``). A transfer to two
    accounts in two regions, in tmux at 80 columns: what stays on the screen (the live table's last state, the
    result) shows every account and every copy whole, cuts none, and each command on it parses."""
    from tests.support.printed import broken_commands, cut_ids
    from tests.support.world import REGION2, seed_destinations

    sb.settings.copy_seconds_per_gib = 0.1  # copies under way long enough for the live table to draw them
    seed_destinations(sb)
    image = sb.seed_image(OWNER, REGION, "golden-al2023-2026.11.22", volumes_gib=[8], kms_key="aws/ebs")
    (tmp_path / "amishare.toml").write_text(
        '[defaults]\nshare_key = "alias/amishare-share"\nrole_name = "AmiShareRole"\n'
        f'endpoint_url = "{sb.endpoint_url}"\n'
        + "".join(
            f'[accounts.{name}]\nid = "{account}"\nkeys = {{ {REGION} = "alias/mine", {REGION2} = "alias/mine" }}\n'
            for name, account in (("dev", TARGET), ("qa", OTHER))
        )
    )
    args = ["transfer", image, "--from", OWNER, "--to", "dev,qa", "--regions", f"{REGION},{REGION2}", "--yes"]
    screen = tmux.run(args, _env(sb, tmp_path), tmp_path, columns=WIDTH, timeout=120)
    assert screen.exit_code == 0, screen.text
    copies = {
        i["ImageId"]
        for account in (TARGET, OTHER)
        for region in (REGION, REGION2)
        for i in sb.session(account, region).client("ec2").describe_images(Owners=["self"])["Images"]
    }
    assert len(copies) == 4
    table = [row for row in screen.rows if row.startswith("│ ")]  # the live table, as it last drew itself
    for wanted in (TARGET, OTHER, *copies):
        assert any(wanted in row for row in table), f"{wanted} is not whole in the live table:\n{screen.text}"
    assert any(image in row for row in screen.rows), screen.text
    assert cut_ids(screen.rows) == [], screen.text
    assert all(len(row) <= WIDTH for row in screen.rows)
    assert broken_commands(screen.lines, tmp_path) == [], screen.text
