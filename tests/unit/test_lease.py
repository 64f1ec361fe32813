"""The run lease: one live process per run; a lease whose process is gone, or silent too long, is taken over."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from amishare.engine.lease import STALE_AFTER, Leases
from amishare.errors import RunBusy


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _other(path: Path, *, pid: int, host: str | None = None, now: float | None = None) -> Leases:
    """Leases as another process (another pid, maybe another host) would hold them."""
    leases = Leases(path, clock=(lambda: now) if now is not None else time.time)
    leases.pid = pid
    if host is not None:
        leases.host = host
        leases.owner = f"someone@{host}"
    return leases


def test_a_live_holder_keeps_the_run(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    holder = _other(path, pid=1)  # pid 1 lives on every Linux host
    holder.acquire("run-1")
    mine = Leases(path)
    with pytest.raises(RunBusy, match=r"run run-1 is being applied by .* \(pid 1, heartbeat"):
        mine.acquire("run-1")
    mine.acquire("run-2")  # other runs are free
    assert mine.holder("run-1") is not None and mine.holder("run-1").pid == 1  # type: ignore[union-attr]


def test_a_lease_whose_process_is_gone_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    _other(path, pid=_dead_pid()).acquire("run-1")  # killed with -9: it could not release
    mine = Leases(path)
    assert mine.holder("run-1") is None
    mine.acquire("run-1")
    assert mine.holder("run-1") is not None


def test_another_host_s_lease_is_live_until_its_heartbeat_is_too_old(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    _other(path, pid=4242, host="builder-2", now=1000.0).acquire("run-1")
    with pytest.raises(RunBusy, match="someone@builder-2"):
        Leases(path, clock=lambda: 1000.0 + STALE_AFTER - 1).acquire("run-1")
    late = Leases(path, clock=lambda: 1000.0 + STALE_AFTER + 1)
    late.acquire("run-1")  # silent for longer than STALE_AFTER: taken over


def test_the_holder_s_heartbeat_keeps_it_live_and_release_frees_it(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    now = [1000.0]
    holder = _other(path, pid=4242, host="builder-2")
    holder.clock = lambda: now[0]
    holder.acquire("run-1")
    now[0] += STALE_AFTER - 1
    holder.beat()
    now[0] += STALE_AFTER - 1  # 2 x STALE_AFTER after it was taken, but beaten since
    with pytest.raises(RunBusy):
        Leases(path, clock=lambda: now[0]).acquire("run-1")
    holder.release("run-1")
    Leases(path, clock=lambda: now[0]).acquire("run-1")


def test_the_same_process_may_take_its_own_lease_again(tmp_path: Path) -> None:
    leases = Leases(tmp_path / "journal.sqlite3")
    leases.acquire("run-1")
    leases.acquire("run-1")
    leases.close()
