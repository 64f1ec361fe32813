"""``runs``: what the journal recorded."""

from __future__ import annotations

from amishare.api.context import Settings
from amishare.engine import journal


def runs(settings: Settings, limit: int = 50) -> list[journal.RunRecord]:
    """The runs recorded in the journal, newest first."""
    log = settings.journal()
    try:
        return log.runs(limit)
    finally:
        log.close()


def run(settings: Settings, run_id: str) -> journal.RunRecord:
    """One run of the journal, with its actions."""
    log = settings.journal()
    try:
        return log.run(run_id)
    finally:
        log.close()
