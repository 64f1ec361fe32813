"""The action kinds, grouped by what they do, and their registry ``KINDS`` (kind name -> class).

``copies``: the copies and the waits on them; ``gates``: launch permission, snapshot permission and
key access, opened and closed; ``distribution``: what a copy leaves in a destination; ``cleanup``:
retiring an image. Every module that defines kinds is listed here, and the registry refuses to
build unless each ``ActionKind`` names exactly one class.
"""

from __future__ import annotations

import types

from amishare.engine.action import Action, ActionKind
from amishare.engine.kinds import cleanup, copies, distribution, gates

_KIND_MODULES = (copies, gates, distribution, cleanup)


def _registry(modules: tuple[types.ModuleType, ...]) -> dict[ActionKind, type[Action]]:
    """Each kind name with the one class (defined in ``modules``) that declares it."""
    found: dict[ActionKind, type[Action]] = {}
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Action) and "kind" in vars(value):
                if value.__module__ != module.__name__:
                    continue  # imported from another kinds module: registered there
                if value.kind in found:
                    raise TypeError(f"action kind {value.kind} is declared twice")
                found[value.kind] = value
    missing = set(ActionKind) - set(found)
    if missing:
        raise TypeError(f"action kinds without a class: {', '.join(sorted(missing))}")
    return found


KINDS: dict[ActionKind, type[Action]] = _registry(_KIND_MODULES)

__all__ = ["KINDS"]
