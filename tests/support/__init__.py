"""Helpers shared by the tests (``conftest.py`` keeps the fixtures)."""
