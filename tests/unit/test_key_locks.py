"""The local key locks (engine/locks.py): the threads of one process take turns per key (``LocalKeyLocks``,
``FileKeyLocks``); the processes of one machine share ``FileKeyLocks`` through their journal's folder: another
process waits while one holds it, a holder killed with SIGKILL lets go at once, and what a holder wrote is what the
next one reads."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from amishare.engine.locks import FileKeyLocks, KeyLocks, LocalKeyLocks
from amishare.errors import JournalError

KEY = "arn:aws:kms:eu-west-1:111111111111:key/11111111-2222-3333-4444-555555555555"

HOLDER = """
import sys, time
import pytest

from amishare.engine.locks import FileKeyLocks, KeyLocks, LocalKeyLocks
from amishare.errors import JournalError
with FileKeyLocks(sys.argv[1]).hold(sys.argv[2]) as held:
    held.record = "recorded-by-the-other-process"
    print("held", flush=True)
    time.sleep(float(sys.argv[3]))
"""


def _holder(folder: Path, seconds: float) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder), KEY, str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def _taken_within(locks: FileKeyLocks, seconds: float) -> str | bool | None:
    """What the holder before recorded, once this process holds the lock (False: not held within ``seconds``)."""
    got: list[str | None] = []

    def take() -> None:
        with locks.hold(KEY) as held:
            got.append(held.recorded)

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    thread.join(timeout=seconds)
    return got[0] if got else False


def test_another_process_waits_while_one_holds_the_lock_and_reads_what_it_wrote(tmp_path: Path) -> None:
    holder = _holder(tmp_path, 1.0)
    started = time.monotonic()
    assert _taken_within(FileKeyLocks(tmp_path), 10) == "recorded-by-the-other-process"
    assert time.monotonic() - started > 0.5  # it waited for the holder to let go
    holder.wait(timeout=10)


def test_a_holder_killed_with_sigkill_lets_go_at_once(tmp_path: Path) -> None:
    holder = _holder(tmp_path, 60.0)
    locks = FileKeyLocks(tmp_path)
    assert _taken_within(locks, 0.3) is False  # held by the living process
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    assert _taken_within(locks, 5) is None  # killed before letting go: nothing recorded, the lock free


@pytest.mark.parametrize("kind", ["process", "file"])
def test_the_threads_of_one_process_take_turns_and_other_keys_are_free(kind: str, tmp_path: Path) -> None:
    locks: KeyLocks = LocalKeyLocks() if kind == "process" else FileKeyLocks(tmp_path)
    inside: list[str] = []
    overlaps: list[tuple[str, str]] = []

    def edit(key: str, name: str) -> None:
        with locks.hold(key):
            overlaps.extend((name, other) for other in inside if other.split(":")[0] == key)
            inside.append(f"{key}:{name}")
            time.sleep(0.01)
            inside.remove(f"{key}:{name}")

    threads = [threading.Thread(target=edit, args=(k, str(n))) for n in range(4) for k in ("key-a", "key-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []  # never two writers of one key at once (two keys may be edited together)


@pytest.mark.parametrize("kind", ["process", "file"])
def test_what_a_holder_records_is_what_the_next_holder_reads(kind: str, tmp_path: Path) -> None:
    locks: KeyLocks = LocalKeyLocks() if kind == "process" else FileKeyLocks(tmp_path)
    with locks.hold(KEY) as held:
        assert held.recorded is None
        held.record = "ledger-1"
    with locks.hold(KEY) as held:
        assert held.recorded == "ledger-1"  # a holder that records nothing leaves the record as it was
    with locks.hold(KEY) as held:
        assert held.recorded == "ledger-1"
    with locks.hold("another-key") as held:
        assert held.recorded is None


def test_a_lock_held_past_its_patience_fails_the_edit_naming_the_file(tmp_path: Path) -> None:
    """A holder that is stopped (Ctrl-Z) keeps its lock: the next edit fails after ``patience``, not never."""
    holder = _holder(tmp_path, 60.0)
    locks = FileKeyLocks(tmp_path, patience=0.3)
    try:
        with (
            pytest.raises(JournalError, match=f"{locks.path(KEY)}.*held by another amishare process for 0 s"),
            locks.hold(KEY),
        ):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    with locks.hold(KEY) as held:  # nothing is left held in this process (the killed holder recorded nothing)
        assert held.recorded is None
