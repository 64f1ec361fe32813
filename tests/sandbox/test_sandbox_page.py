"""docs/sandbox.md tells one truth: its rules table and its "What is not emulated" list agree with the handlers the
overlay really has (issue 20: the list still named launch templates, image references and the Recycle Bin after the
table emulated them)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import botocore.session

from amishare.sandbox.state import Settings, World
from amishare.sandbox.wire.app import OverlayApp

PAGE = (Path(__file__).resolve().parents[2] / "docs" / "sandbox.md").read_text()
# services whose operation names the page may mention: the overlay's, and moto's that the page talks about
MENTIONED_SERVICES = ("events", "sns", "sqs", "iam", "ses", "cloudformation")


def _section(title: str) -> str:
    return PAGE.split(f"\n## {title}", 1)[1].split("\n## ", 1)[0]


def _names(text: str) -> set[str]:
    """What the text puts in backticks, with the page's shorthand expanded: ``Get/Enable/DisableX`` is GetX,
    EnableX and DisableX."""
    names: set[str] = set()
    for quoted in re.findall(r"`([^`]+)`", text):
        *verbs, last = quoted.split("/")
        found = re.match(r"^[A-Z][a-z]+(?=[A-Z])", last)
        names.add(last)
        if verbs and found:
            names.update(verb + last[found.end() :] for verb in verbs)
    return names


@cache
def _handled() -> dict[str, set[str]]:
    """Service -> the actions the overlay answers itself."""
    app = OverlayApp(World(Settings()), moto_app=None)
    return {service: set(table) for service, table in app.handlers.items()}


@cache
def _operations() -> frozenset[str]:
    """Every operation name of the services the page may mention (so that error codes and fields in backticks are
    not taken for operations)."""
    session = botocore.session.get_session()
    services = (*_handled(), *MENTIONED_SERVICES)
    return frozenset(name for s in services for name in session.get_service_model(s).operation_names)


def _answered(name: str) -> bool:
    return any(name in actions for actions in _handled().values())


def _not_emulated_text() -> str:
    """The "What is not emulated" list and every rules row's "Not emulated: ..." part."""
    rows = [line for line in _section("The rules, and where they come from").splitlines() if line.startswith("| ")]
    parts = [row.split(" | ", 1)[0].split("Not emulated:", 1)[1] for row in rows if "Not emulated:" in row]
    return "\n".join([_section("What is not emulated"), *parts])


def test_every_operation_the_rules_table_names_is_answered_by_the_overlay() -> None:
    named = _names(_section("The rules, and where they come from")) & _operations()
    assert named, "the rules table names no operation: the page or this test lost its way"
    assert sorted(n for n in named if not _answered(n)) == []


def test_every_operation_the_overlay_answers_is_named_in_the_rules_table() -> None:
    named = _names(_section("The rules, and where they come from"))
    prefixes = tuple(n[:-1] for n in named if n.endswith("*"))  # GenerateDataKey*
    for service, actions in _handled().items():
        undocumented = sorted(a for a in actions if a not in named and not a.startswith(prefixes))
        assert undocumented == [], f"{service}: answered by the overlay, missing from docs/sandbox.md's rules table"


def test_nothing_the_page_calls_not_emulated_is_answered_by_the_overlay() -> None:
    text = _not_emulated_text()
    named = _names(text) & _operations()
    assert "CreateImage" in named  # the test reads what it should
    assert sorted(n for n in named if _answered(n)) == []
    claims = re.findall(r"[^.;]*\b(?:is|are) emulated\b[^.;]*", _section("What is not emulated"))
    assert claims == [], "the not-emulated list says what is emulated: that belongs in the rules table"
