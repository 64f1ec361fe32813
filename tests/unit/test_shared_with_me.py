"""The consumer's verdicts on an image shared with it (pure, table-driven)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from amishare.checks.shared_with_me import SharedImageFacts, judge

NOW = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
BASE = SharedImageFacts(
    image_id="ami-12345678",
    name="golden",
    owner="111111111111",
    region="us-east-1",
    state="available",
    public=False,
    deprecation_time=None,
    allowed=None,
    snapshots=("snap-1", "snap-2"),
    visible_snapshots=frozenset({"snap-1", "snap-2"}),
    keys=(),
)

# (case, facts, can launch, can copy, deprecated, words in the copy verdict); Allowed AMIs enabled unless the
# case says audit mode
CASES: list[tuple[str, SharedImageFacts, bool, bool, bool, str]] = [
    ("everything open", BASE, True, True, False, "yes"),
    ("one snapshot not shared", replace(BASE, visible_snapshots=frozenset({"snap-1"})), True, False, False, "snap-2"),
    ("encrypted: the owner's key decides", replace(BASE, keys=("arn:k",)), True, True, False, "owner's key"),
    ("not allowed here", replace(BASE, allowed=False), False, False, False, "Allowed AMIs"),
    ("allowed here", replace(BASE, allowed=True), True, True, False, "yes"),
    ("not allowed, audit mode", replace(BASE, allowed=False, name="audit-mode"), True, True, False, "once the setting"),
    ("disabled", replace(BASE, state="disabled"), False, False, False, "is disabled"),
    ("deprecated yesterday", replace(BASE, deprecation_time="2026-11-22T00:00:00.000Z"), True, True, True, "yes"),
    ("deprecation ahead", replace(BASE, deprecation_time="2026-12-22T00:00:00.000Z"), True, True, False, "yes"),
]


@pytest.mark.parametrize(
    ("facts", "launch", "copy", "deprecated", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_judge(facts: SharedImageFacts, launch: bool, copy: bool, deprecated: bool, words: str) -> None:
    shared = judge(facts, NOW, "audit-mode" if facts.name == "audit-mode" else "enabled")
    assert (shared.can_launch, shared.can_copy, shared.deprecated) == (launch, copy, deprecated)
    assert words in shared.copy
