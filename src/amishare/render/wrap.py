"""Text that fits a terminal (pure): long lines wrapped at words with a hanging indent; an id, an ARN or a
command is never cut.

A line longer than the width is cut at spaces only, so an id or an ARN is never cut. Its continuation lines hang
under where its text starts (after a column gap of two spaces, or after a label such as ``note:`` or ``fix:``),
so a plan's action, a note or a cause reads as one block. A command (quoted in backticks, or an ``aws SERVICE
OPERATION ...`` or ``amishare COMMAND ...`` up to the next comma, semicolon or parenthesis; a comma inside a word,
as in ``Key=a,Key2=b``, does not end it) is one piece: it is moved whole to the next line when it does not fit,
and one longer than the width is written as a shell continues a command, over lines ending in a backslash, cut
between its words only (a command the terminal folds mid-word cannot be pasted). Nothing here reads the
terminal: the width is given.
"""

from __future__ import annotations

import re

MIN_WIDTH = 40  # narrower than this, wrapping hurts more than it helps: lines are left as they are
_COMMAND_TAIL = r"(?:[^,;()`\n]|,(?=\S))*[^,;()`\s]"  # a comma ends it, not one inside a word (Key=a,Key2=b)
_PIECES = re.compile(
    r"\(?`[^`]*`"  # a quoted command (after a parenthesis too: "(`aws ...`)" is one piece)
    rf"|\(?\baws [a-z0-9-]+ [a-z0-9-]+(?: {_COMMAND_TAIL})?"  # an AWS CLI command
    rf"|\(?\bamishare [a-z-]+ (?=ami-|--|[A-Z_]{{3,}}|\d){_COMMAND_TAIL}"  # an amishare command with arguments
    r"|[^\s`]+"
)
_LABEL = re.compile(r"^(?:\S+ ){0,2}?\S+: ")  # note: / WARNING: / fix: / [ok] ...: a label of up to 3 words


def fit(text: str, width: int | None) -> str:
    """``text`` with every line longer than ``width`` wrapped (None, or a width under ``MIN_WIDTH``: as is)."""
    if width is None or width < MIN_WIDTH:
        return text
    return "\n".join(out for line in text.split("\n") for out in fit_line(line, width))


def hang_of(line: str, width: int) -> int:
    """Where a long line's continuation starts: under its text after a column gap or a label, else 4 columns
    in from its own indent; never past half the width."""
    lead = len(line) - len(line.lstrip(" "))
    body = line[lead:]
    gap = body.find("  ")
    if 0 < gap < width // 2:
        after = gap + len(body[gap:]) - len(body[gap:].lstrip(" "))
        return min(lead + after, width // 2)
    label = _LABEL.match(body)
    if label and label.end() < width // 2:
        return lead + label.end()
    return min(lead + 4, width // 2)


def fit_line(line: str, width: int) -> list[str]:
    """One line as the lines that fit ``width`` (the module's rules); the spacing of what stays on a line is
    kept (a column layout stays aligned)."""
    if len(line) <= width:
        return [line]
    pieces = _glued(line)
    if not pieces:
        return [line]
    hang = hang_of(line, width)
    lines: list[str] = []
    current, fresh, end = line[: pieces[0][0]], True, pieces[0][0]
    for start, stop in pieces:
        gap, piece = ("" if fresh else line[end:start]), line[start:stop]
        end = stop
        if len(current) + len(gap) + len(piece) <= width:
            current, fresh = current + gap + piece, False
            continue
        if not fresh:
            lines.append(current)
        if len(piece) > width and _COMMAND.match(piece):  # a command longer than a line: a shell's continued lines
            lines += continued(piece, width)
            current, fresh = " " * hang, True
            continue
        # a piece too long for the hanging indent starts further left (an ARN, a command), at worst at column 0
        current, fresh = " " * min(hang, max(0, width - len(piece))) + piece, False
        if len(current) >= width:  # a line of its own, whole
            lines.append(current)
            current, fresh = " " * hang, True
    if not fresh:
        lines.append(current)
    return lines


_COMMAND = re.compile(r"\(?`?(?:aws|amishare) \S")
CONTINUED_INDENT = "    "


def continued(command: str, width: int) -> list[str]:
    """``command`` (longer than ``width``) as a shell takes a long command: its words packed into lines that end
    in `` \\`` (pasted, the lines run as one), the following ones indented. A word is never cut, nor a quoted
    string (a backslash inside quotes is no continuation); a word longer than a line stays whole on its own."""
    lines: list[str] = []
    current = ""
    for word in _shell_words(command):
        joined = f"{current} {word}" if current.strip() else current + word
        if current.strip() and len(joined) + 2 > width:
            lines.append(current + " \\")
            indent = CONTINUED_INDENT if len(CONTINUED_INDENT + word) + 2 <= width else ""  # a long ARN: no room
            current = indent + word
        else:
            current = joined
    lines.append(current)
    return lines


def _shell_words(command: str) -> list[str]:
    """``command`` split at the spaces outside quotes, each word as written (its quotes kept)."""
    words, word, quote = [], "", ""
    for char in command:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == " ":
            if word:
                words.append(word)
            word = ""
            continue
        word += char
    return [*words, word] if word else words


def _glued(line: str) -> list[tuple[int, int]]:
    """The pieces of ``line`` (start, end), those with no space between them joined: a command and the comma
    after it stay together."""
    spans: list[tuple[int, int]] = []
    for match in _PIECES.finditer(line):
        if spans and spans[-1][1] == match.start():
            spans[-1] = (spans[-1][0], match.end())
        else:
            spans.append((match.start(), match.end()))
    return spans
