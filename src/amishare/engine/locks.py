"""One writer at a time per KMS key policy: the ``KeyLocks`` interface and its in-process implementation.

A key policy is one document, edited by read-modify-write (docs/aws-facts.md section 2): two writers that
interleave lose an edit. Within one process, ``LocalKeyLocks`` serializes the runs' edits per key; runners on
other machines share a lock through the journal's backend (the serverless engine's DynamoDB table), behind the
same interface. Whatever the lock, the edit is read back after it was written (aws/steps/revoker.py), so a
writer outside amishare cannot silently drop it either.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Protocol


class KeyLocks(Protocol):
    """Who may edit a key's policy now: ``hold(key_arn)`` is held for one read-modify-write."""

    def hold(self, key_arn: str) -> contextlib.AbstractContextManager[None]:
        """Wait for, then hold, the edit lock of ``key_arn`` for the ``with`` block."""
        ...


class LocalKeyLocks:
    """One ``threading.Lock`` per key: the edits of every run in this process, one at a time per key."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @contextlib.contextmanager
    def hold(self, key_arn: str) -> Iterator[None]:
        """Hold the key's lock for the ``with`` block."""
        with self._guard:
            lock = self._locks.setdefault(key_arn, threading.Lock())
        with lock:
            yield
