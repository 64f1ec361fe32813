"""One process at a time per run: a lease in the journal (owner, host, pid, heartbeat).

A run's lease is taken when the run starts or resumes and released when it finishes. While the holder
lives it refreshes a heartbeat every ``heartbeat_every`` seconds; another process that wants the run
(``amishare resume``) is refused with the holder's name while the lease is live. A lease is stale, and
taken over, when its process is gone (same host: the pid no longer exists) or its heartbeat is older
than ``stale_after`` (another host, or a process frozen that long). Taking and checking happen in one
``BEGIN IMMEDIATE`` transaction, so two processes cannot both win.

A run driven in phases (the serverless engine: engine/partition.py) has a lease per phase, named
``<run>@<phase>`` (``phase_lease``), so its chunks can be driven at once by different processes. A phase's lease
and the whole run's exclude each other (``rivals``): a process driving the whole run (``amishare resume``) and
one driving a phase never both go on.

The journal is one machine's file: runs on other machines are not seen here. What keeps those safe is
on the AWS side (docs/concepts.md, "Concurrent runs").
"""

from __future__ import annotations

import getpass
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from amishare.errors import JournalError, RunBusy

SCHEMA = """
CREATE TABLE IF NOT EXISTS leases (
    run_id     TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,   -- user@host
    host       TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    heartbeat  REAL NOT NULL    -- epoch seconds of the last refresh
);
"""

HEARTBEAT_EVERY = 5.0
STALE_AFTER = 60.0
PHASE_MARK = "@"


def phase_lease(run_id: str, phase: str | None) -> str:
    """The name of the lease that drives ``phase`` of ``run_id`` (the run's own when ``phase`` is None)."""
    return run_id if phase is None else f"{run_id}{PHASE_MARK}{phase}"


def run_of_lease(name: str) -> str:
    """The run a lease belongs to."""
    return name.split(PHASE_MARK, 1)[0]


def rivals(name: str, held: str) -> bool:
    """Whether the lease ``held`` keeps ``name`` from being taken: the same lease, the run's own lease against
    any of its phases', or a phase's against the run's (two phases of one run never do)."""
    if held == name:
        return True
    if run_of_lease(held) != run_of_lease(name):
        return False
    return PHASE_MARK not in held or PHASE_MARK not in name


@dataclass(frozen=True)
class Holder:
    """Who holds a run's lease."""

    owner: str
    host: str
    pid: int
    heartbeat: float


def alive(pid: int) -> bool:
    """Whether the process ``pid`` of this host still exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


class Leases:
    """The leases of one journal file, held by this process."""

    def __init__(
        self,
        path: Path,
        *,
        heartbeat_every: float = HEARTBEAT_EVERY,
        stale_after: float = STALE_AFTER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.heartbeat_every, self.stale_after, self.clock = heartbeat_every, stale_after, clock
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.owner = f"{current_user()}@{self.host}"
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beating: threading.Thread | None = None
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise JournalError(f"journal {path}: {exc}") from exc

    def holder(self, run_id: str) -> Holder | None:
        """Who holds ``run_id`` now (None: nobody, or a stale lease)."""
        with self._lock:
            row = self._db.execute(
                "SELECT owner, host, pid, heartbeat FROM leases WHERE run_id=?", (run_id,)
            ).fetchone()
        return None if row is None or self._stale(Holder(*row)) else Holder(*row)

    def _stale(self, holder: Holder) -> bool:
        if holder.host == self.host and not alive(holder.pid):
            return True
        return self.clock() - holder.heartbeat > self.stale_after

    def acquire(self, run_id: str) -> None:
        """Take the lease ``run_id`` (a run's, or a phase's: ``phase_lease``), or raise ``RunBusy`` naming the live
        holder of it or of a rival (``rivals``)."""
        run = run_of_lease(run_id)
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    rows = self._db.execute(
                        "SELECT run_id, owner, host, pid, heartbeat FROM leases WHERE run_id=? OR run_id LIKE ?",
                        (run, f"{run}{PHASE_MARK}%"),
                    ).fetchall()
                    for name, *row in rows:
                        holder = Holder(*row)
                        mine = (holder.host, holder.pid) == (self.host, self.pid)
                        if rivals(run_id, name) and not mine and not self._stale(holder):
                            raise RunBusy(_busy(name, holder, self.clock()))
                    self._db.execute(
                        "INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?, ?)",
                        (run_id, self.owner, self.host, self.pid, self.clock()),
                    )
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
                self._held.add(run_id)
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: {exc}") from exc
        self._start_heartbeat()

    def release(self, run_id: str) -> None:
        """Give ``run_id`` back (only this process's own lease is removed)."""
        with self._lock:
            self._held.discard(run_id)
            try:
                self._db.execute(
                    "DELETE FROM leases WHERE run_id=? AND host=? AND pid=?", (run_id, self.host, self.pid)
                )
            except sqlite3.Error as exc:
                raise JournalError(f"journal {self.path}: {exc}") from exc

    def close(self) -> None:
        for run_id in list(self._held):
            self.release(run_id)
        self._stop.set()
        if self._beating is not None:
            self._beating.join(timeout=5)
        with self._lock:
            self._db.close()

    def beat(self) -> None:
        """Refresh the heartbeat of every lease this process holds."""
        with self._lock:
            for run_id in self._held:
                self._db.execute(
                    "UPDATE leases SET heartbeat=? WHERE run_id=? AND host=? AND pid=?",
                    (self.clock(), run_id, self.host, self.pid),
                )

    def _start_heartbeat(self) -> None:
        if self._beating is not None:
            return

        def loop() -> None:
            while not self._stop.wait(self.heartbeat_every):
                try:
                    self.beat()
                except sqlite3.Error:
                    continue  # a busy journal: the next beat tries again (stale_after is 12 beats)

        self._beating = threading.Thread(target=loop, name="amishare-lease", daemon=True)
        self._beating.start()


def current_user() -> str:
    """Who runs this process (for a lease's owner)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _busy(name: str, holder: Holder, now: float) -> str:
    run_id = run_of_lease(name)
    what = f"run {run_id}" if name == run_id else f"phase {name.split(PHASE_MARK, 1)[1]} of run {run_id}"
    return (
        f"{what} is being applied by {holder.owner} (pid {holder.pid}, heartbeat {now - holder.heartbeat:.0f} s "
        f"ago): one process at a time. Wait for it to finish (`amishare runs show {run_id}`), or stop it; a lease "
        f"whose process is gone, or silent for {STALE_AFTER:.0f} s, is taken over"
    )
