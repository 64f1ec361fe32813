"""The curated public API: every exported name exists, is documented, and the lists are sorted."""

from __future__ import annotations

import inspect

import amishare
import amishare.sandbox


def test_all_is_honest() -> None:
    for module in (amishare, amishare.sandbox):
        assert module.__all__ == sorted(module.__all__)
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isfunction(value) or inspect.isclass(value):
                assert inspect.getdoc(value), f"{module.__name__}.{name} has no docstring"


def test_nothing_public_is_left_out() -> None:
    exported = set(amishare.__all__)
    for name in ("share", "revoke", "show", "transfer", "resume", "runs", "run", "settings"):
        assert name in exported
