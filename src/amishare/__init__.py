"""amishare: share Amazon Machine Images across accounts, organizations and regions securely."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
