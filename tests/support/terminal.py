"""amishare run as a person runs it: in a terminal (a pseudo-terminal: stdin, stdout and stderr are a tty), where
it asks before changing anything; the test answers the prompt, or presses Ctrl-C at it."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PROMPT = b"[y/N]"


@dataclass(frozen=True)
class Session:
    exit_code: int
    screen: str  # everything the terminal showed, stdout and stderr together


NEVER = "\0never"  # an answer for a command that asks nothing: the session just runs to its end


def in_a_terminal(args: list[str], env: dict[str, str], cwd: Path, columns: int) -> Session:
    """Run ``amishare ARGS`` to its end in a pseudo-terminal ``columns`` wide (it must ask nothing)."""
    return at_the_prompt(args, env, cwd, NEVER, columns=columns)


def at_the_prompt(
    args: list[str], env: dict[str, str], cwd: Path, answer: str | None, timeout: float = 60, columns: int = 200
) -> Session:
    """Run ``amishare ARGS`` in a pseudo-terminal until it asks; then type ``answer`` and Enter, or (``None``)
    press Ctrl-C (SIGINT to the process, as the terminal sends it). The exit code and the screen."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "amishare", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=cwd,
        env={**os.environ, **env, "COLUMNS": str(columns)},
        close_fds=True,
    )
    os.close(follower)
    screen = b""
    deadline = time.monotonic() + timeout
    answered = False
    interrupted: float | None = None
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the terminal closed: the process ended
                    break
                if not chunk:
                    break
                screen += chunk
            if not answered and PROMPT in screen:
                assert answer != NEVER, f"amishare {' '.join(args)} asked, where it should not: {screen[-500:]!r}"
                answered = True
                time.sleep(0.2)  # as a person would: the prompt on screen is not yet the process reading it
                if answer is None:
                    process.send_signal(signal.SIGINT)
                    interrupted = time.monotonic()
                else:
                    os.write(leader, answer.encode() + b"\n")
            if interrupted and process.poll() is None and time.monotonic() - interrupted > 3.0:
                # A SIGINT that lands between the prompt's flush and the read(2) that waits for the answer is only
                # seen once that read returns (CPython checks signals when a read is interrupted): press Ctrl-C
                # again, as a person would. Once is enough: the process is now blocked in the read.
                process.send_signal(signal.SIGINT)
                interrupted = None
            if process.poll() is not None and not ready:
                break
        try:
            exit_code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired as exc:  # say what the terminal showed: the prompt, or how far it got
            shown = screen.decode(errors="replace")[-3000:]
            raise AssertionError(
                f"amishare {' '.join(args)} still running after {timeout} s; the screen:\n{shown}"
            ) from exc
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)
    return Session(exit_code, screen.decode(errors="replace").replace("\r\n", "\n"))
