"""Which families an event concerns (planners/manifest/events.py): table-driven."""

from __future__ import annotations

from pathlib import Path

import pytest

from amishare.config import Config
from amishare.planners.manifest import parse_manifest
from amishare.planners.manifest.events import EventImage, families_for_image, families_for_parameter

TO_2 = [{"to": ["222222222222"], "mode": "share"}]
DATA = {
    "version": 1,
    "defaults": {"source": "111111111111", "regions": ["us-east-1"]},
    "image": [
        {"family": "al2023", "select": {"ssm_parameter": "/golden/al2023"}, "distribute": TO_2},
        {"family": "web", "select": {"name": "golden-web-*"}, "distribute": TO_2},
        {"family": "db", "select": {"tags": {"role": "db", "os": "al2023"}}, "distribute": TO_2},
        {"family": "pinned", "select": {"id": "ami-0123456789abcdef0"}, "distribute": TO_2},
        {
            "family": "al2023-b",
            "select": {"ssm_parameter": "/golden/al2023"},
            "distribute": [{"to": ["333333333333"], "mode": "share"}],
        },
    ],
}


@pytest.fixture(scope="module")
def manifest():  # type: ignore[no-untyped-def]
    return parse_manifest(DATA, Path("estate.toml"), Config(), ["us-east-1"])


@pytest.mark.parametrize(
    ("parameter", "families"),
    [("/golden/al2023", ("al2023", "al2023-b")), ("/golden/other", ()), ("/golden/al2023/", ())],
)
def test_a_parameter_change_concerns_the_families_it_selects(manifest, parameter, families) -> None:  # type: ignore[no-untyped-def]
    assert families_for_parameter(manifest, parameter) == families


@pytest.mark.parametrize(
    ("image", "families"),
    [
        (EventImage("ami-1", "golden-web-2026-12-02"), ("web",)),
        (EventImage("ami-1", "golden-web"), ()),  # the glob wants something after the dash
        (EventImage("ami-1", "x", {"role": "db", "os": "al2023", "extra": "1"}), ("db",)),
        (EventImage("ami-1", "x", {"role": "db"}), ()),  # every tag of the select, not some
        (EventImage("ami-0123456789abcdef0", "anything"), ("pinned",)),
        (EventImage("ami-1", "golden-al2023-1"), ()),  # an SSM family waits for its parameter's event
    ],
)
def test_an_image_made_available_concerns_the_families_that_would_select_it(manifest, image, families) -> None:  # type: ignore[no-untyped-def]
    assert families_for_image(manifest, image) == families
