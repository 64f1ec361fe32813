"""Action fields as JSON values, the ``params`` of the ``amishare.plan/1`` document (docs/output.md):
``encode`` turns a field's value into JSON, ``decode`` turns it back into the field's type.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from enum import StrEnum
from typing import Any

from amishare.policy.key_policy import KeyAccess


def encode(value: Any) -> Any:
    """A field's value as JSON (tuples and sets as lists, dataclasses as objects)."""
    if isinstance(value, KeyAccess):
        return {
            "accounts": sorted(value.accounts),
            "organizations": sorted(value.organizations),
            "ous": [list(pair) for pair in sorted(value.ous)],
            "autoscaling": sorted(value.autoscaling),
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    if isinstance(value, frozenset | set):
        return sorted(encode(v) for v in value)
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, StrEnum):
        return value.value
    return value


def decode(hint: Any, value: Any) -> Any:
    """A JSON value back into the type of the field it came from."""
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return _decode_union(hint, value)
    if hint is KeyAccess:
        return _decode_key_access(value)
    if origin is tuple:
        (item, *_) = typing.get_args(hint)
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {value!r}")
        return tuple(decode(item, v) for v in value)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        sub = field_hints(hint)
        return hint(**{k: decode(sub[k], v) for k, v in value.items()})
    if hint is float:
        if isinstance(value, str):
            raise TypeError("not a number")
        return float(value)
    if hint is str and not isinstance(value, str):
        raise TypeError("not a string")
    return value


def _decode_union(hint: Any, value: Any) -> Any:
    """The first option of a union (``None`` aside) the value decodes as; the value itself when none does."""
    if value is None:
        return None
    for option in typing.get_args(hint):
        if option is type(None):
            continue
        try:
            return decode(option, value)
        except (TypeError, ValueError, KeyError):
            continue
    return value


def _decode_key_access(value: dict[str, Any]) -> KeyAccess:
    return KeyAccess(
        accounts=frozenset(value.get("accounts", ())),
        organizations=frozenset(value.get("organizations", ())),
        ous=frozenset((o, u) for o, u in value.get("ous", ())),
        autoscaling=frozenset(value.get("autoscaling", ())),
    )


_HINTS: dict[type, dict[str, Any]] = {}


def field_hints(cls: type) -> dict[str, Any]:
    """The resolved type hints of a dataclass's fields (computed once per class)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]
