"""One writer at a time per KMS key policy: the ``KeyLocks`` interface and its local implementations.

A key policy is one document, edited by read-modify-write (docs/aws-facts.md section 2): two writers that
interleave lose an edit. Within one process, ``LocalKeyLocks`` serializes the runs' edits per key; the processes
of one machine that share a journal file share ``FileKeyLocks`` (a locked file per key beside the journal);
runners on other machines share a lock through the journal's backend (the serverless engine's DynamoDB table),
behind the same interface.

Each lock also keeps a record its holders read and rewrite (``KeyHold``): the key's ledger, the access amishare's
edits under the lock mean to grant (aws/steps/key_edits.py), so that an edit's read-back tells access another run
granted again on purpose from access a writer outside the lock restored (from an older copy perhaps).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from amishare.errors import JournalError

FILE_LOCK_PATIENCE = 120.0  # seconds another process may hold a key's file lock (an edit takes a second or so)


@dataclass
class KeyHold:
    """A key's lock, held: the record its last holder left (``recorded``; None: none), and ``record``, set by this
    holder to what it leaves (kept when it lets go; None: the record stays as it is)."""

    recorded: str | None = None
    record: str | None = None


class KeyLocks(Protocol):
    """Who may edit a key's policy now: ``hold(key_arn)`` is held for one read-modify-write."""

    def hold(self, key_arn: str) -> contextlib.AbstractContextManager[KeyHold]:
        """Wait for, then hold, the edit lock of ``key_arn`` for the ``with`` block."""
        ...


class LocalKeyLocks:
    """One ``threading.Lock`` per key: the edits of every run in this process, one at a time per key."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._records: dict[str, str] = {}
        self._guard = threading.Lock()

    @contextlib.contextmanager
    def hold(self, key_arn: str) -> Iterator[KeyHold]:
        """Hold the key's lock for the ``with`` block."""
        with self._guard:
            lock = self._locks.setdefault(key_arn, threading.Lock())
        with lock:
            held = KeyHold(self._records.get(key_arn))
            try:
                yield held
            finally:
                if held.record is not None:
                    self._records[key_arn] = held.record


class FileKeyLocks:
    """``KeyLocks`` shared by the processes of one machine: an exclusively locked file per key (``flock``) in
    ``folder``, and beside it the record (replaced whole: a process killed while writing it leaves the old one). The
    operating system lets go of a killed process's lock; one held longer than ``patience`` seconds (an edit takes a
    second or so: its holder is stopped, Ctrl-Z) fails the edit, naming the file, instead of waiting for ever."""

    def __init__(self, folder: Path | str, *, patience: float = FILE_LOCK_PATIENCE) -> None:
        self.folder = Path(folder)
        self.patience = patience
        self._threads = LocalKeyLocks()  # this process's threads queue here, not on the file

    def path(self, key_arn: str) -> Path:
        """The lock file of ``key_arn``."""
        return self.folder / f"{hashlib.sha256(key_arn.encode()).hexdigest()[:32]}.lock"

    @contextlib.contextmanager
    def hold(self, key_arn: str) -> Iterator[KeyHold]:
        """Hold the key's lock for the ``with`` block (waiting while another process holds it)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        record = self.path(key_arn).with_suffix(".record")
        with self._threads.hold(key_arn), open(self.path(key_arn), "a", encoding="utf-8") as file:
            self._take(file.fileno(), key_arn)
            try:
                held = KeyHold(record.read_text(encoding="utf-8") if record.exists() else None)
                yield held
                if held.record is not None:  # whole or not at all: a new file put in the old one's place
                    fresh = record.with_suffix(f".{os.getpid()}.{threading.get_ident()}")
                    fresh.write_text(held.record, encoding="utf-8")
                    os.replace(fresh, record)
            finally:
                fcntl.flock(file.fileno(), fcntl.LOCK_UN)

    def _take(self, fd: int, key_arn: str) -> None:
        """Lock ``fd`` exclusively, asking again with backoff while another process holds it, for ``patience``."""
        deadline, delay = time.monotonic() + self.patience, 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise JournalError(
                        f"the key lock of {key_arn} ({self.path(key_arn)}) has been held by another amishare process "
                        f"for {self.patience:.0f} s: one that is stopped (Ctrl-Z) holds it; let it go on (fg) or end "
                        "it, then resume"
                    ) from None
                time.sleep(delay)
                delay = min(0.2, delay * 2)
