"""Progress of a run: a live table per destination on a terminal, timestamped lines otherwise, JSON lines with
``--output json``.

Three ways to show one stream of events (the executor's, per action, and the poller's, per image poll):
- a **live table** (``rich``) when standard error is a terminal and the run has destinations (transfer, resume);
- **lines**, one per finished action and per wait's progress (at most one per ``PROGRESS_EVERY`` for each wait),
  each with its UTC time when standard error is not a terminal (a CI log), and a **heartbeat** line naming what
  is still under way after ``HEARTBEAT_SECONDS`` without a line (CI systems kill a job silent for too long);
- **JSON lines** on standard error with ``--output json`` (``amishare.progress/1``, docs/output.md): every
  event, every poll, the heartbeat; standard output keeps the one document.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from amishare.cli.common import say
from amishare.cli.logs import json_line, utc_stamp
from amishare.engine.action import Action, ActionKind
from amishare.engine.plan import Plan

HEARTBEAT_SECONDS = 60.0  # without a line for this long, a line says what is still under way
WIDE_TABLE = 110  # columns: narrower, the live table shows its details under it, not as a column
PROGRESS_EVERY = 15.0  # a wait's progress as a line at most this often (lines)
FINISHED = ("succeeded", "failed", "skipped", "superseded")


@dataclass
class _Row:
    """One destination and region: where its copy stands."""

    state: str = "waiting"
    image_id: str = ""
    progress: str = ""
    detail: str = ""

    def copy_event(self, state: str, detail: str | None) -> None:
        """An event of the destination's CopyImage."""
        self.state = {"running": "starting", "succeeded": "copying"}.get(state, state)
        if state == "succeeded":  # CopyImage answered: the new image's id, long before it is ready
            self.image_id, self.progress, self.detail = detail or self.image_id, self.progress or "0%", ""
        else:
            self.detail = detail or ""

    def await_event(self, state: str, detail: str | None) -> None:
        """An event of the wait for the destination's copy: its progress, then its end."""
        if state == "progress":
            self.progress = detail or self.progress
        elif state == "succeeded":
            self.state, self.progress = "available", "100%"
        elif state in ("failed", "skipped"):
            self.state, self.detail = state, detail or ""


@dataclass
class _Flight:
    """An action under way: since when, and what it last said."""

    action: Action
    since: float
    detail: str = ""
    said_at: float = 0.0  # when its progress was last a line


@dataclass
class ProgressView:
    """Receives the executor's events and the poller's ticks; shows them (live table, lines or JSON lines)."""

    live: bool
    quiet: bool
    as_json: bool = False
    stamp: bool = False  # lines carry their UTC time
    heartbeat: float = HEARTBEAT_SECONDS
    rows: dict[tuple[str, str], _Row] = field(default_factory=dict)
    images: dict[str, tuple[str, str]] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    flights: dict[str, _Flight] = field(default_factory=dict)
    finished: int = 0
    columns: int = 200  # the terminal's width (the live table drops its detail column below WIDE_TABLE)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _live: Live | None = None
    _said: float = field(default_factory=time.monotonic)  # when the last line went out
    _started: float = field(default_factory=time.monotonic)
    _stop: threading.Event = field(default_factory=threading.Event)
    _beat: threading.Thread | None = None

    def confirm(self, confirm: Callable[[Plan], bool]) -> Callable[[Plan], bool]:
        """Ask first, then start showing the run (a prompt cannot live under the live view)."""

        def inner(plan: Plan) -> bool:
            answer = confirm(plan)
            if answer:
                self.start(plan)
            return answer

        return inner

    def start(self, plan: Plan, states: dict[str, str] | None = None) -> None:
        """The run of ``plan`` starts (``states``: what a resumed run's actions already are): the live view on a
        terminal, else the heartbeat."""
        if self.quiet:
            return
        self.track(plan, states or {})
        self._started = self._said = time.monotonic()
        if self.as_json:
            self._say(json_line("run", {"command": plan.command, "actions": len(plan.actions), "done": self.finished}))
        if self.live and self.rows:
            console = Console(stderr=True)
            self.columns = console.width
            self._live = Live(self._table(), console=console, refresh_per_second=4, transient=False)
            self._live.start()
        elif self._beat is None and self.heartbeat > 0:
            self._beat = threading.Thread(target=self._beating, name="amishare-heartbeat", daemon=True)
            self._beat.start()

    def track(self, plan: Plan, states: dict[str, str] | None = None) -> None:
        """A row for each destination and region of ``plan`` (its state when a resumed run's copy is done)."""
        states = states or {}
        for action in plan.actions:
            if action.kind is ActionKind.COPY_TO_DESTINATION:
                self.rows.setdefault((action.account, action.region), _Row())
            if states.get(action.key) in FINISHED:
                self.finished += 1
                if action.kind is ActionKind.AWAIT_IMAGE and (action.account, action.region) in self.rows:
                    self.rows[(action.account, action.region)].await_event(states[action.key], None)

    def event(self, action: Action, state: str, detail: str | None) -> None:
        """An event of the executor: the destination's row, a step's line, a JSON line."""
        if self.quiet:
            return
        with self._lock:
            said = self._record(action, state, detail)
        if self._live is not None:
            self._live.update(self._table())
        elif self.as_json:
            fields: dict[str, Any] = {"key": action.key, "kind": action.kind.value, "account": action.account}
            fields |= {"region": action.region, "state": state, "detail": detail, "summary": action.summary}
            self._say(json_line("action", fields))
        elif said:
            self._say(_plain_line(action, state, detail))

    def _record(self, action: Action, state: str, detail: str | None) -> bool:
        """Keep the event; whether it is worth a line."""
        now = time.monotonic()
        row = self.rows.get((action.account, action.region))
        if row is not None and action.kind is ActionKind.COPY_TO_DESTINATION:
            row.copy_event(state, detail)
        elif row is not None and action.kind is ActionKind.AWAIT_IMAGE:
            row.await_event(state, detail)
        elif state not in ("running", "progress"):
            self.steps.append(f"[{state}] {action.summary}" + (f": {detail}" if detail else ""))
        if state == "running":
            self.flights[action.key] = _Flight(action, now)
            return False
        if state == "progress":
            flight = self.flights.setdefault(action.key, _Flight(action, now))
            flight.detail = detail or flight.detail
            if now - flight.said_at < PROGRESS_EVERY:
                return False
            flight.said_at = now
            return True
        self.flights.pop(action.key, None)
        self.finished += 1
        return True

    def poll(self, account: str | None, region: str, images: list[dict[str, Any]]) -> None:
        """A tick of the image poller: each copy's id and progress."""
        if self.quiet:
            return
        if self.as_json:
            seen = [
                {"image_id": i["ImageId"], "state": i.get("State", ""), "progress": i.get("Progress", "")}
                for i in images
            ]
            self._say(json_line("poll", {"account": account or "", "region": region, "images": seen}))
        if not self.rows:
            return
        with self._lock:
            for image in images:
                row = self.rows.get((account or "", region))
                if row is None:
                    continue
                row.image_id = image["ImageId"]
                row.progress = str(image.get("Progress", row.progress))
        if self._live is not None:
            self._live.update(self._table())

    def beat(self) -> None:
        """Say what is still under way (the heartbeat, also when nothing is)."""
        with self._lock:
            flights = sorted(self.flights.values(), key=lambda f: f.since)
            finished = self.finished
        elapsed = round(time.monotonic() - self._started)
        if self.as_json:
            under_way = [
                {"key": f.action.key, "kind": f.action.kind.value, "account": f.action.account,
                 "region": f.action.region, "detail": f.detail, "seconds": round(time.monotonic() - f.since)}
                for f in flights
            ]  # fmt: skip
            self._say(json_line("heartbeat", {"under_way": under_way, "finished": finished, "elapsed": elapsed}))
            return
        named = "; ".join(
            f"{f.action.kind.value} {f.action.account} {f.action.region}" + (f" {f.detail}" if f.detail else "")
            for f in flights[:5]
        )
        more = f" and {len(flights) - 5} more" if len(flights) > 5 else ""
        what = f"{len(flights)} under way ({named}{more})" if flights else "nothing under way"
        self._say(f"[..] still running after {_duration(elapsed)}: {what}, {finished} finished")

    def _beating(self) -> None:
        tick = min(self.heartbeat, 5.0)
        while not self._stop.wait(tick):
            if time.monotonic() - self._said >= self.heartbeat:
                self.beat()

    @property
    def watching(self) -> bool:
        """Whether someone reads the run's progress (a live table, lines or JSON lines): the poller then reads each
        pending copy's progress too (``Hooks.progress``: one DescribeSnapshots per account and region per tick),
        and a wait says it (a re-encrypted or staging copy's as well as a destination's)."""
        return not self.quiet

    @property
    def lines(self) -> bool:
        """Whether each finished action is said as a line (not live, not JSON, not quiet)."""
        return not (self.quiet or self.as_json or self._live is not None)

    def _say(self, line: str) -> None:
        if self.as_json:
            click.echo(line, err=True)
        else:
            say(f"{utc_stamp()} {line}" if self.stamp else line, err=True)
        self._said = time.monotonic()

    def _table(self) -> Table:
        table = Table(title="amishare: destinations", expand=False)
        for column, whole in (("account", 12), ("region", 14), ("state", 9), ("progress", 4), ("image", 21)):
            table.add_column(column, min_width=whole, no_wrap=True)  # ids are never cut: the detail gives way
        wide = self.columns >= WIDE_TABLE
        if wide:
            table.add_column("detail", overflow="fold")
        notes = []
        for (account, region), row in sorted(self.rows.items()):
            style = {"available": "green", "failed": "red", "skipped": "yellow"}.get(row.state, "")
            cells = [account, region, f"[{style}]{row.state}[/{style}]" if style else row.state, row.progress]
            table.add_row(*cells, row.image_id, *([row.detail[:120]] if wide else []))
            if row.detail and not wide:
                notes.append(f"{account} {region}: {row.detail}")
        waits = [  # what is waited for outside the destinations' rows: a re-encrypted or a staging copy
            f"[..] {f.action.summary}: {f.detail}"
            for f in self.flights.values()
            if f.detail and (f.action.account, f.action.region) not in self.rows
        ]
        lines = [*notes[-3:], *waits[-3:], *self.steps[-1:]]
        if lines:
            table.caption = "\n".join(lines)
        return table

    def stop(self) -> None:
        """The run is over: the live view stays as it ends, the heartbeat stops."""
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
            self._beat = None
        if self._live is not None:
            self._live.stop()
            self._live = None


def _duration(seconds: int) -> str:
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def _plain_line(action: Action, state: str, detail: str | None) -> str:
    """An event as one line: ``[ok] <summary> -> <detail>``, ``[FAILED] <summary>: <error>``, ``[..] <summary>:
    <progress>``."""
    mark = {"succeeded": "ok", "failed": "FAILED", "skipped": "skipped", "progress": ".."}.get(state, state)
    said = (f" -> {detail}" if state == "succeeded" else f": {detail}") if detail else ""
    return f"[{mark}] {action.summary}{said}"


@contextmanager
def progress_view(
    enabled: bool, live: bool = True, *, output: str = "text", heartbeat: float = HEARTBEAT_SECONDS
) -> Iterator[ProgressView]:
    """How a run shows its progress on standard error: nothing when not ``enabled``; JSON lines with ``output``
    json; else a live table per destination when ``live`` and standard error is a terminal, and lines (with
    their time when it is not a terminal)."""
    terminal = sys.stderr.isatty()
    view = ProgressView(
        live=enabled and live and terminal and output != "json",
        quiet=not enabled,
        as_json=output == "json",
        stamp=not terminal,
        heartbeat=heartbeat,
    )
    try:
        yield view
    finally:
        view.stop()
