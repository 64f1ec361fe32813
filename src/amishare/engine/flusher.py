"""A journal's background writer: what the executor's threads queue is written in batches, one every
``interval`` at most, by one thread of its own (both journals: SQLite and DynamoDB)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from amishare.errors import JournalError


class Flusher:
    """Calls ``flush`` on its own thread ``interval`` seconds after it is first poked, again while pokes come,
    until closed; a ``JournalError`` it raises is kept in ``error`` (the next write raises it)."""

    def __init__(self, flush: Callable[[], None], interval: float) -> None:
        self._flush, self._interval = flush, interval
        self._poked = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self.error: JournalError | None = None

    def poke(self) -> None:
        """Something was queued: flush it soon (starts the thread on first use)."""
        if self.error is not None:
            raise self.error
        with self._start:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="amishare-journal", daemon=True)
                self._thread.start()
        self._poked.set()

    def _loop(self) -> None:
        while not self._closing:
            if not self._poked.wait(timeout=1.0):
                continue
            time.sleep(self._interval)  # gather a batch: one write for many changes
            self._poked.clear()  # (``_closing`` is read after this: a close meanwhile is never missed)
            try:
                self._flush()
            except JournalError as exc:
                self.error = exc

    def close(self) -> None:
        """Stop the thread (the caller flushes what is left itself, in its own thread)."""
        self._closing = True
        self._poked.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
