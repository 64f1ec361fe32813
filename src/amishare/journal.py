"""The journal: a durable record of runs and their actions, in SQLite.

AWS is the source of truth; the journal is a record and a shortcut (``../shared/DESIGN.md``).
Each state change of an action is committed before the next call to AWS, so a run that is
interrupted leaves a record of what was done, what was in progress and what was not started.
The previous key policy of every key amishare rewrites is kept in the action's parameters.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amishare.actions import Action, Plan
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
    state       TEXT NOT NULL,          -- pending, running, succeeded, failed, skipped
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


class Journal:
    """Runs and actions in one SQLite file; safe to use from the executor's threads."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
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

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._lock:
                return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: {exc}") from exc

    def start(self, run_id: str, plan: Plan, now: dt.datetime) -> None:
        self._execute("BEGIN")
        try:
            self._execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, 'running', ?, NULL, ?)",
                (
                    run_id,
                    plan.command,
                    plan.account,
                    plan.region,
                    plan.image_id,
                    now.isoformat(),
                    json.dumps(plan.to_dict()),
                ),
            )
            for position, action in enumerate(plan.actions):
                self._execute(
                    "INSERT INTO actions VALUES (?, ?, ?, ?, 'pending', NULL, NULL, NULL, NULL)",
                    (run_id, position, action.key, action.kind.value),
                )
            self._execute("COMMIT")
        except JournalError:
            self._execute("ROLLBACK")
            raise

    def resume(self, run_id: str, keys: list[str]) -> None:
        """Mark a run running again; its unfinished actions go back to pending."""
        self._execute("UPDATE runs SET status='running', finished_at=NULL WHERE run_id=?", (run_id,))
        for key in keys:
            self._execute("UPDATE actions SET state='pending', error=NULL WHERE run_id=? AND key=?", (run_id, key))

    def action_started(self, run_id: str, action: Action, now: dt.datetime) -> None:
        self._execute(
            "UPDATE actions SET state='running', started_at=? WHERE run_id=? AND key=?",
            (now.isoformat(), run_id, action.key),
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
        self._execute(
            "UPDATE actions SET state=?, finished_at=?, output_json=?, error=? WHERE run_id=? AND key=?",
            (state, now.isoformat(), json.dumps(output or {}), error, run_id, action.key),
        )

    def finish(self, run_id: str, status: str, now: dt.datetime) -> None:
        self._execute("UPDATE runs SET status=?, finished_at=? WHERE run_id=?", (status, now.isoformat(), run_id))

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
        records = tuple(
            ActionRecord(
                key=a[0],
                kind=a[1],
                state=a[2],
                started_at=a[3],
                finished_at=a[4],
                error=a[5],
                output=json.loads(a[6]) if a[6] else {},
            )
            for a in actions
        )
        return self._record(rows[0], records)

    @staticmethod
    def _record(row: tuple[Any, ...], actions: tuple[ActionRecord, ...] = ()) -> RunRecord:
        return RunRecord(
            run_id=row[0],
            command=row[1],
            account=row[2],
            region=row[3],
            image_id=row[4],
            status=row[5],
            created_at=row[6],
            finished_at=row[7],
            plan=json.loads(row[8]),
            actions=actions,
        )
