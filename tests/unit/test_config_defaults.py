"""config.with_defaults: the one place a request's unset fields meet the config's defaults."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from amishare.config import TransferDefaults, with_defaults
from amishare.planners.transfer_request import TRANSFER_BY_HAND, TransferRequest


@dataclass(frozen=True)
class Request:
    name: str | None = None
    regions: tuple[str, ...] = ()
    flag: bool | None = None
    seconds: float | None = None


@pytest.mark.parametrize(
    ("asked", "table", "expected"),
    [
        (Request(), SimpleNamespace(name="cfg"), Request(name="cfg")),
        (Request(name="flag"), SimpleNamespace(name="cfg"), Request(name="flag")),  # what was asked wins
        (Request(name=""), SimpleNamespace(name="cfg"), Request(name="cfg")),  # an empty word is unset
        (Request(), SimpleNamespace(regions=("eu-west-1",)), Request(regions=("eu-west-1",))),
        (Request(regions=("us-east-1",)), SimpleNamespace(regions=("eu-west-1",)), Request(regions=("us-east-1",))),
        (Request(), SimpleNamespace(flag=False), Request(flag=False)),  # a false default is a value
        (Request(flag=True), SimpleNamespace(flag=False), Request(flag=True)),
        (Request(), SimpleNamespace(seconds=60), Request(seconds=60)),  # an int is a float
        (Request(), SimpleNamespace(name=None, other="x"), Request()),  # unset in the table, unknown names
    ],
)
def test_unset_fields_take_the_table_s_value(asked: Request, table: Any, expected: Request) -> None:
    assert with_defaults(asked, table) == expected


def test_the_first_table_that_sets_a_field_wins() -> None:
    first, second = SimpleNamespace(name=None), SimpleNamespace(name="second")
    assert with_defaults(Request(), first, second) == Request(name="second")


def test_a_field_of_another_type_is_a_mistake_unless_converted_by_hand() -> None:
    with pytest.raises(TypeError, match="seconds"):
        with_defaults(Request(), SimpleNamespace(seconds="24h"))
    assert with_defaults(Request(), SimpleNamespace(seconds="24h"), by_hand=("seconds",)) == Request()


def test_the_transfer_table_fills_a_request_and_converts_nothing_silently() -> None:
    table = TransferDefaults(source="build", regions=("eu-west-1",), keep_share=True, timeout="2h", tags={"a": "b"})
    merged = with_defaults(TransferRequest("ami-12345678", ("dev",)), table, by_hand=TRANSFER_BY_HAND)
    assert (merged.source, merged.regions, merged.keep_share) == ("build", ("eu-west-1",), True)
    assert (merged.timeout, merged.tags) == (None, ())  # converted by the resolution, not copied
    with pytest.raises(TypeError):
        with_defaults(TransferRequest("ami-12345678", ("dev",)), table)
