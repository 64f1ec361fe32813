"""The journal: a durable record of runs and their actions, in SQLite.

AWS is the source of truth; the journal is a record and a shortcut (docs/architecture.md).
The run and its plan are committed before the first call to AWS. Action state changes are
committed by a writer thread in batches (one transaction every ``flush_interval``, 20 ms): a process
killed meanwhile loses at most the last batch, which is safe because every step is re-entrant (a
resumed step re-reads AWS; a step recorded as running or pending that had in fact finished is found
done). The previous key policy of every key amishare rewrites is kept in the action's parameters.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amishare.engine.action import Action
from amishare.engine.executor import RunLog
from amishare.engine.flusher import Flusher
from amishare.engine.lease import Leases, phase_lease
from amishare.engine.locks import FileKeyLocks
from amishare.engine.partition import Phase
from amishare.engine.plan import Plan
from amishare.errors import JournalError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    command     TEXT NOT NULL,
    account     TEXT NOT NULL,
    region      TEXT NOT NULL,
    image_id    TEXT NOT NULL,
    status      TEXT NOT NULL,          -- running, succeeded, partial, failed, interrupted
    created_at  TEXT NOT NULL,
    finished_at TEXT,
    plan_json   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS actions (
    run_id      TEXT NOT NULL REFERENCES runs(run_id),
    position    INTEGER NOT NULL,
    key         TEXT NOT NULL,
    kind        TEXT NOT NULL,
    state       TEXT NOT NULL,          -- pending, running, succeeded, failed, skipped, interrupted, superseded
    started_at  TEXT,
    finished_at TEXT,
    error       TEXT,
    output_json TEXT,
    PRIMARY KEY (run_id, key)
);
"""


def default_path() -> Path:
    """``$AMISHARE_JOURNAL``, else ``$XDG_STATE_HOME/amishare/journal.sqlite3`` (``~/.local/state``)."""
    if os.environ.get("AMISHARE_JOURNAL"):
        return Path(os.environ["AMISHARE_JOURNAL"])
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "amishare" / "journal.sqlite3"


def new_run_id(now: dt.datetime) -> str:
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class ActionRecord:
    key: str
    kind: str
    state: str
    started_at: str | None
    finished_at: str | None
    error: str | None
    output: dict[str, Any]


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    command: str
    account: str
    region: str
    image_id: str
    status: str
    created_at: str
    finished_at: str | None
    plan: dict[str, Any]
    actions: tuple[ActionRecord, ...] = ()


class Journal(RunLog):
    """Runs and actions in one SQLite file; safe to use from the executor's threads."""

    def __init__(self, path: Path | str, *, flush_interval: float = 0.02) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()  # the connection; batches are taken and written under it, in order
        self._pending: list[tuple[str, tuple[Any, ...]]] = []
        self._queue = threading.Lock()  # the pending writes
        self._flusher = Flusher(self.flush, flush_interval)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: every commit reaches the OS before the next AWS call, so a killed
            # process (kill -9, Ctrl-C) loses nothing; only a power loss could lose the last commits.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(
                f"cannot open the journal {self.path}: {exc}; pass --journal PATH or set "
                "AMISHARE_JOURNAL to a writable file"
            ) from exc
        self.leases = Leases(self.path)  # one process at a time per run
        # key policy edits: one writer per key among the processes of this machine that share the journal
        self.key_locks = FileKeyLocks(self.path.with_name(self.path.name + ".keylocks"))

    def close(self) -> None:
        self._flusher.close()
        self.flush()
        self.leases.close()
        with self._lock:
            self._db.close()

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._lock:
                self._write_pending()
                return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: {exc}") from exc

    # ----------------------------------------------------------- batched writes
    def _later(self, sql: str, params: tuple[Any, ...]) -> None:
        """Queue a write for the writer thread (committed within ``flush_interval``)."""
        with self._queue:
            self._pending.append((sql, params))
        self._flusher.poke()

    def _write_pending(self) -> None:
        """Write what is queued, in one transaction (the caller holds ``_lock``)."""
        with self._queue:
            batch, self._pending = self._pending, []
        if not batch:
            return
        self._db.execute("BEGIN")
        try:
            for sql, params in batch:
                self._db.execute(sql, params)
        except sqlite3.Error:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def flush(self) -> None:
        """Commit every queued change now."""
        try:
            with self._lock:
                self._write_pending()
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: {exc}") from exc

    def start(self, run_id: str, plan: Plan, now: dt.datetime) -> None:
        """Record a new run and its plan, committed before this returns (before any call to AWS)."""
        run = (
            run_id,
            plan.command,
            plan.account,
            plan.region,
            plan.image_id,
            now.isoformat(),
            json.dumps(plan.to_dict()),
        )

        def write(db: sqlite3.Connection) -> None:
            db.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, 'running', ?, NULL, ?)", run)
            db.executemany(
                "INSERT INTO actions VALUES (?, ?, ?, ?, 'pending', NULL, NULL, NULL, NULL)",
                [(run_id, position, a.key, a.kind.value) for position, a in enumerate(plan.actions)],
            )

        self._atomically(write)
        self.leases.acquire(run_id)

    def resume(self, run_id: str, keys: list[str], phase: Phase | None = None) -> None:
        """Mark a run running again (its lease taken, or ``RunBusy``); its unfinished actions go back to pending.
        A phase's slice takes the phase's lease and leaves the run's status alone."""
        self.leases.acquire(phase_lease(run_id, phase.name if phase else None))
        if phase is None:
            self._execute("UPDATE runs SET status='running', finished_at=NULL WHERE run_id=?", (run_id,))
        for key in keys:
            self._later("UPDATE actions SET state='pending', error=NULL WHERE run_id=? AND key=?", (run_id, key))
        self.flush()

    def revise(self, run_id: str, plan: Plan, superseded: tuple[str, ...]) -> None:
        """The run's plan grew (a resume makes failed copies again): store it, add the new actions as pending,
        and mark the actions they replace ``superseded``. One transaction."""

        def write(db: sqlite3.Connection) -> None:
            known = {row[0] for row in db.execute("SELECT key FROM actions WHERE run_id=?", (run_id,))}
            db.execute("UPDATE runs SET plan_json=? WHERE run_id=?", (json.dumps(plan.to_dict()), run_id))
            db.executemany(
                "INSERT INTO actions VALUES (?, ?, ?, ?, 'pending', NULL, NULL, NULL, NULL)",
                [(run_id, i, a.key, a.kind.value) for i, a in enumerate(plan.actions) if a.key not in known],
            )
            db.executemany(
                "UPDATE actions SET state='superseded' WHERE run_id=? AND key=?", [(run_id, k) for k in superseded]
            )

        self._atomically(write)

    def _atomically(self, write: Callable[[sqlite3.Connection], None]) -> None:
        """``write`` in one transaction, committed before this returns (queued writes go first)."""
        try:
            with self._lock:
                self._write_pending()
                self._db.execute("BEGIN")
                try:
                    write(self._db)
                except sqlite3.Error:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: {exc}") from exc

    def action_started(self, run_id: str, action: Action, now: dt.datetime) -> None:
        self._later(
            "UPDATE actions SET state='running', started_at=? WHERE run_id=? AND key=?",
            (now.isoformat(), run_id, action.key),
        )

    def action_progress(self, run_id: str, action: Action, output: dict[str, Any]) -> None:
        self._later(
            "UPDATE actions SET output_json=? WHERE run_id=? AND key=? AND state='running'",
            (json.dumps(output), run_id, action.key),
        )

    def action_finished(
        self,
        run_id: str,
        action: Action,
        state: str,
        now: dt.datetime,
        output: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        self._later(
            "UPDATE actions SET state=?, finished_at=?, output_json=?, error=? WHERE run_id=? AND key=?",
            (state, now.isoformat(), json.dumps(output or {}), error, run_id, action.key),
        )

    def finish(self, run_id: str, status: str, now: dt.datetime, phase: Phase | None = None) -> None:
        interrupted = "UPDATE actions SET state='interrupted' WHERE run_id=? AND state='running'"
        if status == "interrupted" and phase is None:  # what was under way when the run stopped
            self._later(interrupted, (run_id,))
        elif status == "interrupted" and phase is not None:
            for key in phase.keys:
                self._later(f"{interrupted} AND key=?", (run_id, key))
        if phase is None:
            self._later("UPDATE runs SET status=?, finished_at=? WHERE run_id=?", (status, now.isoformat(), run_id))
        self.flush()
        self.leases.release(phase_lease(run_id, phase.name if phase else None))

    def runs(self, limit: int = 50) -> list[RunRecord]:
        rows = self._execute(
            "SELECT run_id, command, account, region, image_id, status, created_at, finished_at, "
            "plan_json FROM runs ORDER BY created_at DESC, run_id DESC LIMIT ?",
            (limit,),
        )
        return [self._record(row) for row in rows]

    def run(self, run_id: str) -> RunRecord:
        rows = self._execute(
            "SELECT run_id, command, account, region, image_id, status, created_at, finished_at, "
            "plan_json FROM runs WHERE run_id=?",
            (run_id,),
        )
        if not rows:
            known = ", ".join(r.run_id for r in self.runs(5)) or "none yet"
            raise JournalError(f"no run {run_id!r} in {self.path} (latest: {known}); `amishare runs` lists them")
        actions = self._execute(
            "SELECT key, kind, state, started_at, finished_at, error, output_json FROM actions "
            "WHERE run_id=? ORDER BY position",
            (run_id,),
        )
        gone = self._abandoned(rows[0])
        records = tuple(
            ActionRecord(
                key=a[0],
                kind=a[1],
                state="interrupted" if gone and a[2] == "running" else a[2],
                started_at=a[3],
                finished_at=a[4],
                error=a[5],
                output=json.loads(a[6]) if a[6] else {},
            )
            for a in actions
        )
        return self._record(rows[0], records, abandoned=gone)

    def _abandoned(self, row: tuple[Any, ...]) -> bool:
        """A run recorded as running whose process is gone (killed): no live lease holds it."""
        return bool(row[5] == "running" and self.leases.holder(row[0]) is None)

    def _record(
        self, row: tuple[Any, ...], actions: tuple[ActionRecord, ...] = (), *, abandoned: bool | None = None
    ) -> RunRecord:
        gone = self._abandoned(row) if abandoned is None else abandoned
        return RunRecord(
            run_id=row[0],
            command=row[1],
            account=row[2],
            region=row[3],
            image_id=row[4],
            status="interrupted" if gone else row[5],
            created_at=row[6],
            finished_at=row[7],
            plan=json.loads(row[8]),
            actions=actions,
        )
