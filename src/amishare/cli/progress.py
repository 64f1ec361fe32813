"""Progress of a run: a live table per destination on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from amishare.engine.action import Action, ActionKind
from amishare.engine.plan import Plan


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
class ProgressView:
    """Receives the executor's events and the poller's ticks; shows them."""

    live: bool
    quiet: bool
    rows: dict[tuple[str, str], _Row] = field(default_factory=dict)
    images: dict[str, tuple[str, str]] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _live: Live | None = None

    def confirm(self, confirm: Callable[[Plan], bool]) -> Callable[[Plan], bool]:
        """Ask first, then start the live view (a prompt cannot live under it)."""

        def inner(plan: Plan) -> bool:
            answer = confirm(plan)
            if answer and self.live:
                self.track(plan)
                self._live = Live(self._table(), console=Console(stderr=True), refresh_per_second=4, transient=False)
                self._live.start()
            return answer

        return inner

    def track(self, plan: Plan) -> None:
        """A row for each destination and region of ``plan``."""
        for action in plan.actions:
            if action.kind is ActionKind.COPY_TO_DESTINATION:
                self.rows[(action.account, action.region)] = _Row()

    def event(self, action: Action, state: str, detail: str | None) -> None:
        """An event of the executor: the destination's row, a step's line, or a plain line without a live view."""
        if self.quiet or (state == "progress" and self._live is None):
            return
        with self._lock:
            self._record(action, state, detail)
        if self._live is not None:
            self._live.update(self._table())
        elif state != "running":
            click.echo(_plain_line(action, state, detail), err=True)

    def _record(self, action: Action, state: str, detail: str | None) -> None:
        row = self.rows.get((action.account, action.region))
        if row is not None and action.kind is ActionKind.COPY_TO_DESTINATION:
            row.copy_event(state, detail)
        elif row is not None and action.kind is ActionKind.AWAIT_IMAGE:
            row.await_event(state, detail)
        elif state not in ("running", "progress"):
            self.steps.append(f"[{state}] {action.summary}" + (f": {detail}" if detail else ""))

    def poll(self, account: str | None, region: str, images: list[dict[str, Any]]) -> None:
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

    def _table(self) -> Table:
        table = Table(title="amishare: destinations", expand=False)
        for column in ("account", "region", "state", "progress", "image", "detail"):
            table.add_column(column)
        for (account, region), row in sorted(self.rows.items()):
            style = {"available": "green", "failed": "red", "skipped": "yellow"}.get(row.state, "")
            table.add_row(
                account,
                region,
                f"[{style}]{row.state}[/{style}]" if style else row.state,
                row.progress,
                row.image_id,
                row.detail[:60],
            )
        for line in self.steps[-3:]:
            table.caption = line
        return table

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def _plain_line(action: Action, state: str, detail: str | None) -> str:
    """An event as one line: ``[ok] <summary> -> <detail>``, ``[FAILED] <summary>: <error>``."""
    mark = {"succeeded": "ok", "failed": "FAILED", "skipped": "skipped"}.get(state, state)
    said = (f" -> {detail}" if state == "succeeded" else f": {detail}") if detail else ""
    return f"[{mark}] {action.summary}{said}"


@contextmanager
def progress_view(enabled: bool, live: bool = True) -> Iterator[ProgressView]:
    """A live table per destination when ``live`` and standard error is a terminal, plain lines otherwise,
    nothing when disabled."""
    view = ProgressView(live=enabled and live and sys.stderr.isatty(), quiet=not enabled)
    try:
        yield view
    finally:
        view.stop()
