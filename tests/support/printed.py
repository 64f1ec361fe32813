"""The commands amishare prints for a user to run, or its docs show, found and parsed (issue 19: printed fixes that
do not run).

A command is found as ``render/wrap.py`` keeps it whole on a terminal: quoted in backticks, or an ``aws SERVICE
OPERATION ...`` or ``amishare COMMAND ...`` (with arguments) up to the next comma, semicolon or parenthesis. An
``amishare`` command is parsed by amishare's own command line (click, the global options moved as the CLI moves
them); an ``aws`` command by the AWS CLI's (``tests/support/aws_cli.py``). A command named in prose or shown as a
synopsis (``amishare audit [--org]``) is checked as a mention: its command exists, and every option it names.
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click

from amishare.cli.global_options import move_global_options
from amishare.cli.main import COMMANDS, cli

ROOT = Path(__file__).resolve().parents[2]
_TAIL = r"(?:[^,;()`\n]|,(?=\S))*[^,;()`\s]"  # render/wrap.py's: up to a comma, semicolon or parenthesis
_QUOTED = re.compile(r"`([^`\n]+)`")
_BARE_AWS = re.compile(rf"\baws [a-z0-9-]+ [a-z0-9-]+(?: {_TAIL})?")
_BARE_AMISHARE = re.compile(rf"\bamishare [a-z-]+ (?=ami-|--|[A-Z_]{{3,}}|\d){_TAIL}")
_STARTS = re.compile(r"^(?:\$ )?(?:aws|amishare) ")
_SHELL_BREAKS = {"&&", "||", "|", ";", ">", ">>", "2>", "&"}
SYNOPSIS = re.compile(r"[\[|]|\.\.\.|<|\((?:--|[A-Z])")  # [--opt], a|b, ..., <value>, (--a | --b): a usage line


@dataclass(frozen=True)
class Printed:
    """One command as printed: where (file:line, or what printed it), its text, and whether it is a mention (a
    name in prose, a synopsis, a docstring) rather than a command to paste."""

    where: str
    text: str
    mention: bool = False


def commands_in(text: str) -> list[str]:
    """The ``aws`` and ``amishare`` commands ``text`` holds (render/wrap.py's rules), without their backticks; a line
    ending in a backslash goes on on the next."""
    text = re.sub(r"\\\n\s*", " ", text)
    found = [q.strip().removeprefix("$ ") for q in _QUOTED.findall(text) if _STARTS.match(q.strip())]
    prose = _QUOTED.sub(" ", text)
    for match in _BARE_AWS.finditer(prose):
        words = match.group(0).split()
        if "-" in words[2] or "--" in match.group(0) or words[2] == "wait":  # not prose such as "aws or ssm"
            found.append(match.group(0))
    found += [c for c in _BARE_AMISHARE.findall(prose) if c.split()[1] in COMMANDS or c.split()[1].startswith("--")]
    return found


def in_order(text: str) -> list[list[str]]:
    """The ``aws`` and ``amishare`` commands of ``text`` in the order it prints them (a fix's steps), each as its
    words."""
    flat = re.sub(r"\\\n\s*", " ", text)
    return [words for found in sorted(commands_in(text), key=flat.find) for words in commands(found)]


def command_name(words: list[str]) -> str:
    """What a command is, without its arguments: ``aws SERVICE OPERATION`` or ``amishare COMMAND``."""
    return " ".join(words[:3] if words[0] == "aws" else words[:2])


def commands(words: str) -> list[list[str]]:
    """The ``aws`` and ``amishare`` commands of a shell line (``a && b | c > file``), each as its words."""
    try:
        tokens = shlex.split(words, comments=True)
    except ValueError:  # an unclosed quote: the words as they are, for the parser to say what is wrong
        tokens = words.split()
    out: list[list[str]] = [[]]
    for token in tokens:
        if token in _SHELL_BREAKS:
            out.append([])
        else:
            out[-1].append(token)
    return [c for c in out if c and c[0] in ("aws", "amishare")]


# the placeholders printed commands hold, as values of the shape the command's arguments check
PLACEHOLDERS = {
    "IMAGE": "ami-0123456789abcdef0",
    "COPY": "ami-0fedcba9876543210",
    "ACCOUNT": "222222222222",
    "OWNER": "111111111111",
    "RUN_ID": "20260101T000000Z-abcdef",
    "RUN": "20260101T000000Z-abcdef",
}


def parse_amishare(words: list[str]) -> str | None:
    """None when amishare's command line takes ``words`` (after ``amishare``) as a user types them; else why not.
    Options are parsed and their values converted as click does before a command runs (choices, ranges, comma
    lists, an AMI id's shape); nothing runs. A placeholder in capitals stands for a value of its kind."""
    from amishare.errors import AmiShareError

    context = click.Context(cli)
    words = [PLACEHOLDERS.get(word, word) for word in words]
    args = move_global_options(list(words), lambda name: cli.get_command(context, name))
    command: click.Command = cli
    name = "amishare"
    parent: click.Context | None = None
    try:
        while True:
            sub_context = command.make_context(name, list(args), parent=parent)
            if not isinstance(command, click.Group):
                return None
            rest = [*getattr(sub_context, "_protected_args", []), *sub_context.args]
            if not rest:
                return None if command.invoke_without_command or command is not cli else "no command"
            found = command.get_command(sub_context, rest[0])
            if found is None:
                return f"no command {rest[0]!r}"
            command, name, args, parent = found, rest[0], rest[1:], sub_context
    except click.exceptions.Exit:
        return None  # --help, --version
    except click.UsageError as exc:
        return exc.format_message()
    except AmiShareError as exc:  # an argument's own check (an AMI id's shape)
        return str(exc)


def mention(words: list[str]) -> bool:
    """Whether a command names only a command and options (no value, no argument): a name in prose, such as
    `amishare bootstrap` or `aws kms enable-key`, judged by what it names rather than parsed as a whole."""
    if words[0] == "amishare":
        path = 2
        group = cli.get_command(click.Context(cli), words[1]) if len(words) > 1 else None
        if isinstance(group, click.Group) and len(words) > 2 and words[2] in getattr(group, "commands", {}):
            path = 3
    else:
        path = 4 if len(words) > 2 and words[2] == "wait" else 3
    return all(word.startswith("-") for word in words[path:])


def mention_amishare(words: list[str]) -> str | None:
    """None when ``words`` (after ``amishare``) name a command that exists and options it has (a synopsis or a name
    in prose: values, required arguments and alternatives are not judged)."""
    context = click.Context(cli)
    args = move_global_options(list(words), lambda name: cli.get_command(context, name))
    names = [w.split("|")[0] for w in args if re.fullmatch(r"[a-z][a-z-]*(?:\|[a-z][a-z-]*)*", w)]
    for word in args:  # plan|apply|drift: each alternative a command
        if "|" in word and not word.startswith("-") and cli.get_command(context, word.split("|")[0]) is not None:
            missing = [a for a in word.split("|") if cli.get_command(context, a) is None]
            if missing:
                return f"no command {missing}"
    command: click.Command = cli
    for name in names:
        if not isinstance(command, click.Group):
            break
        found = command.get_command(context, name)
        if found is None:
            return f"no command {name!r}" if command is cli else None
        command = found
    if command is cli and names:
        return f"no command {names[0]!r}"
    options = {o for p in command.params for o in (*p.opts, *p.secondary_opts)} | {"--help", "-h", "--version"}
    unknown = [w.split("=")[0] for w in args if w.startswith("-") and w.split("=")[0] not in options]
    return f"{command.name}: no option {unknown}" if unknown else None


def source_literals(root: Path = ROOT / "src" / "amishare") -> Iterator[tuple[str, str, bool]]:
    """Every string of amishare's source (``where``, text, whether a docstring): f-strings with each value
    replaced by a value of its kind (``{image_id}`` by an AMI id), and strings joined with ``+`` as one."""
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(n.body[0].value) for n in ast.walk(tree) if _has_docstring(n)}  # type: ignore[attr-defined]
        seen: set[int] = set()
        for node in ast.walk(tree):
            if id(node) in seen:
                continue
            text = _text(node, seen)
            if text is not None:
                where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
                yield where, text, id(node) in docstrings


def _has_docstring(node: ast.AST) -> bool:
    body = getattr(node, "body", None)
    return (
        isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and bool(body)
        and isinstance(body[0], ast.Expr)  # type: ignore[index]
        and isinstance(body[0].value, ast.Constant)  # type: ignore[index]
        and isinstance(body[0].value.value, str)  # type: ignore[index]
    )


def _text(node: ast.AST, seen: set[int]) -> str | None:
    """The string ``node`` makes, when it is one (a constant, an f-string, or strings added), marking its parts."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a template's {name} as an f-string's
        return re.sub(r"\{([a-z_]+)\}", lambda m: _stand_in(m.group(1)), node.value)
    if isinstance(node, ast.JoinedStr):
        for part in ast.walk(node):
            seen.add(id(part))
        return "".join(
            str(v.value) if isinstance(v, ast.Constant) else _stand_in(ast.unparse(v.value))  # type: ignore[attr-defined]
            for v in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left, set()), _text(node.right, set())
        if left is not None and right is not None:
            for part in ast.walk(node):
                seen.add(id(part))
            return left + right
    return None


_STAND_INS = (  # what a value of that name looks like, for a command to parse as it will be printed
    (re.compile(r"region|where"), "us-east-1"),
    (re.compile(r"snapshot|\bsid\b"), "snap-0123456789abcdef0"),
    (re.compile(r"image|\biid\b"), "ami-0123456789abcdef0"),
    (re.compile(r"run_id"), "20260101T000000Z-abcdef"),
    (re.compile(r"arn|key"), "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
    (re.compile(r"account|owner|who|holders|named|caller"), "222222222222"),
    (re.compile(r"path|manifest|out\b|file"), "estate.toml"),
)


def _stand_in(expression: str) -> str:
    for pattern, value in _STAND_INS:
        if pattern.search(expression):
            return value
    return "VALUE"


def doc_commands(path: Path) -> Iterator[Printed]:
    """The commands a Markdown file shows: the lines of its shell code blocks, the ``$ `` lines of the others (and
    their lines that start with a command), and each inline `aws ...` / `amishare ...` (a mention: prose names a
    command). A section "What comes next" names commands to come, and is left out."""
    lines = path.read_text(encoding="utf-8").splitlines()
    block: str | None = None
    skipping = False
    number = 0
    while number < len(lines):
        line = lines[number]
        where = f"{path.relative_to(ROOT)}:{number + 1}"
        if line.startswith("#") and block is None:
            skipping = line.lstrip("# ").startswith("What comes next")
        if line.startswith("```"):
            block = None if block is not None else line[3:].strip()
        elif skipping or block in ("json", "toml", "python", "text"):
            pass
        elif block is not None:
            shell = block in ("sh", "bash", "shell") and line.strip() and not line.lstrip().startswith("#")
            if shell or (line.startswith("$ ") if block == "console" else _STARTS.match(line)):
                text, number = _joined(lines, number)
                yield Printed(where, text.strip().removeprefix("$ "))
        else:
            for text in commands_in(line):
                yield Printed(where, text, mention=True)
        number += 1


def _joined(lines: list[str], number: int) -> tuple[str, int]:
    """A command line with its continuations (a trailing backslash; a synopsis's indented option lines)."""
    text = lines[number]
    while number + 1 < len(lines):
        following = lines[number + 1]
        if text.endswith("\\"):
            text = text[:-1] + " " + following.strip()
        elif re.match(r"^\s{8,}[\[(-]", following):
            text += " " + following.strip()
        else:
            break
        number += 1
    return text, number


def judge(words: list[str], named: bool, cwd: Path) -> str | None:
    """None when the command (its words, ``amishare`` or ``aws`` first) parses, or, ``named`` (a mention), names
    what exists; else why not."""
    from tests.support import aws_cli

    program, *rest = words
    if program == "amishare":
        return mention_amishare(rest) if named else parse_amishare(rest)
    return aws_cli.mention(rest) if named else aws_cli.parse(rest, cwd)


_PLAN_TITLE = re.compile(r"^amishare [a-z-]+ \S+ in account \d{12}\b")


def broken_commands(lines: list[str], cwd: Path) -> list[str]:
    """The commands of ``lines`` (a screen's, each line whole) that do not parse: a command folded mid-token leaves
    a piece that does not."""
    broken = []
    joined = re.sub(r" \\\n\s*", " ", "\n".join(lines)).split("\n")  # a continued command: one line
    for line, following in zip(joined, [*joined[1:], ""], strict=True):
        if _PLAN_TITLE.match(line):  # "amishare share ami-... in account 111111111111, us-east-1: ..." names a plan
            continue
        if line.count("`") % 2:
            broken.append(f"a quoted command folded: {line!r}")
        found = commands_in(line)
        if found and line.rstrip().endswith(found[-1]) and following.lstrip().startswith("-"):
            broken.append(f"a command folded: {line!r} / {following!r}")
        for text in found:
            for words in commands(text):
                problem = judge(words, mention(words) or bool(SYNOPSIS.search(" ".join(words))), cwd)
                if problem is not None:
                    broken.append(f"{' '.join(words)!r}: {problem}")
    return broken


def cut_ids(rows: list[str]) -> list[str]:
    """The ids a screen shows cut: an AMI or snapshot id of other than 8 or 17 hex digits, or ending in an ellipsis;
    an account id shorter than 12 digits that begins one the screen shows whole, or ending in an ellipsis."""
    accounts = {a for row in rows for a in re.findall(r"(?<!\d)\d{12}(?!\d)", row)}
    cut = []
    for row in rows:
        for match in re.finditer(r"\b(?:ami|snap)-([0-9a-f]*)(…)?", row):
            if len(match.group(1)) not in (8, 17) or match.group(2):
                cut.append(f"{match.group(0)!r} in {row!r}")
        for match in re.finditer(r"(?<![\d.])(\d{6,11})(…)?(?!\d)", row):
            if match.group(2) or any(a.startswith(match.group(1)) for a in accounts):
                cut.append(f"{match.group(0)!r} in {row!r}")
    return cut
