"""amishare in a real terminal emulator (tmux), as a person at an 80-column terminal sees it: the screen and its
scrollback as tmux drew them (cursor movements of a live view applied, long lines folded by the terminal), row by
row. A pseudo-terminal's byte stream (tests/support/terminal.py) shows what was written; this shows what stayed."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

AVAILABLE = shutil.which("tmux") is not None
_DONE = "[amishare exited "


@dataclass(frozen=True)
class Screen:
    exit_code: int
    rows: list[str]  # every row of the scrollback and the screen, as drawn (no row wider than the terminal)
    lines: list[str]  # the same, a line the terminal folded joined again (what a copy and paste gets)

    @property
    def text(self) -> str:
        return "\n".join(self.rows)


def run(args: list[str], env: dict[str, str], cwd: Path, columns: int = 80, timeout: float = 300) -> Screen:
    """``amishare ARGS`` to its end in a tmux window ``columns`` wide (it must ask nothing); what it drew."""
    socket = cwd / "tmux.sock"
    conf = cwd / "tmux.conf"
    conf.write_text("set -g history-limit 100000\nset -g remain-on-exit off\n")
    settings = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    command = (
        f"cd {shlex.quote(str(cwd))} && env -u COLUMNS -u LINES {settings} "
        f"{shlex.quote(sys.executable)} -m amishare {' '.join(shlex.quote(a) for a in args)}; "
        f"echo '{_DONE}'$?']'; sleep {timeout}"
    )
    tmux = ["tmux", "-S", str(socket), "-f", str(conf)]
    environment = {k: v for k, v in os.environ.items() if k not in ("TMUX", "COLUMNS", "LINES")}
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", str(columns), "-y", "50", "-s", "amishare", command],
        check=True,
        env=environment,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            rows = _capture(tmux)
            ended = [r for r in rows if r.startswith(_DONE)]
            if ended:
                lines = _capture(tmux, joined=True)
                code = int(ended[-1][len(_DONE) :].rstrip("]"))
                return Screen(code, rows[: rows.index(ended[-1])], lines[: lines.index(ended[-1])])
            if time.monotonic() > deadline:
                raise AssertionError(f"amishare {' '.join(args)} still running after {timeout} s:\n" + "\n".join(rows))
            time.sleep(0.5)
    finally:
        subprocess.run([*tmux, "kill-server"], check=False, capture_output=True)


def _capture(tmux: list[str], joined: bool = False) -> list[str]:
    """The pane's scrollback and screen, each row as drawn, or (``joined``) each line the terminal folded whole."""
    shown = subprocess.run(
        [*tmux, "capture-pane", "-p", *(["-J"] if joined else []), "-S", "-", "-E", "-", "-t", "amishare"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = [row.rstrip() for row in shown.split("\n")]
    while rows and not rows[-1]:
        rows.pop()
    return rows
