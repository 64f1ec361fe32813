"""Shared fixtures: a fresh sandbox per test, boto3 clients acting as sandbox accounts, amishare's settings on
the sandbox; the hypothesis profile. Helpers and constants live in ``tests/support``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from hypothesis import settings as hypothesis_settings

from amishare.sandbox import Sandbox
from tests.support.world import OWNER, REGION, Clients

# Property tests judge what the code does, not how fast: no per-example deadline (hypothesis' default, 200 ms,
# fails correct code on a loaded machine). A profile, so that every @given, today's and tomorrow's, has it.
hypothesis_settings.register_profile("amishare", deadline=None)
hypothesis_settings.load_profile("amishare")


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        sandbox.reset()  # moto keeps state per process: start every test from nothing
        yield sandbox


@pytest.fixture
def aws(sb: Sandbox) -> Clients:
    """``aws(account, service, region=REGION)``: a cached boto3 client acting as ``account``."""
    cache: dict[tuple[str, str, str], Any] = {}
    no_retries = Config(retries={"total_max_attempts": 1, "mode": "standard"})

    def client(account: str, service: str, region: str = REGION) -> Any:
        key = (account, service, region)
        if key not in cache:
            cache[key] = sb.session(account, region).client(service, config=no_retries)
        return cache[key]

    return client


@pytest.fixture
def builder(sb: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    """amishare's settings acting as OWNER on the sandbox, with a journal and a config dir of its own."""
    from amishare import api

    for name, value in sb.credentials(OWNER).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AMISHARE_JOURNAL", str(tmp_path / "journal.sqlite3"))
    monkeypatch.chdir(tmp_path)
    return api.settings(api.Flags(region=REGION, endpoint_url=sb.endpoint_url), cwd=tmp_path)
