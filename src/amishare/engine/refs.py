"""``@key`` references: a field whose value is ``"@<action key>"`` stands for the image that action
produces (``"@<key>#<output>"`` for another of its outputs); the executor resolves them, and merging
plans renames them with the keys they point at.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def map_refs(value: Any, replace: Callable[[str, str], Any]) -> Any:
    """``value`` with each ``"@<key>[#<name>]"`` string replaced by ``replace(key, name)`` (when that returns
    something else than ``None``), through tuples and dicts. The same object when nothing changes."""
    if isinstance(value, str):
        if value.startswith("@"):
            key, _, name = value[1:].partition("#")
            found = replace(key, name)
            return value if found is None else found
        return value
    if isinstance(value, tuple):
        items = tuple(map_refs(v, replace) for v in value)
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if isinstance(value, dict):
        mapped = {k: map_refs(v, replace) for k, v in value.items()}
        return value if all(mapped[k] is value[k] for k in value) else mapped
    return value


def resolve(value: Any, outputs: dict[str, dict[str, Any]]) -> Any:
    """``"@<key>"`` -> the image id that action produced; ``"@<key>#<name>"`` -> another of its outputs.

    Returns ``value`` itself (the same object) when nothing in it changes."""
    return map_refs(value, lambda key, name: outputs.get(key, {}).get(name or "image_id"))


def rekey(value: Any, renamed: dict[str, str]) -> Any:
    """``value`` with each ``@<key>`` reference to a key in ``renamed`` pointing at its new name."""
    return map_refs(
        value, lambda key, name: f"@{renamed[key]}" + (f"#{name}" if name else "") if key in renamed else None
    )


def collect_refs(value: Any, found: set[str]) -> None:
    """Add to ``found`` the action keys that the ``@key`` references in ``value`` name."""
    if isinstance(value, str) and value.startswith("@"):
        found.add(value[1:].partition("#")[0])
    elif isinstance(value, list | tuple):
        for item in value:
            collect_refs(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            collect_refs(item, found)
