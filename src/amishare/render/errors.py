"""An error as a JSON object (pure): what ``--output json`` prints when a command fails."""

from __future__ import annotations

from typing import Any

from amishare.errors import AmiShareError


def error_json(error: AmiShareError) -> dict[str, Any]:
    """``{"code", "message", "exit"}``: the AWS error code when AWS answered, else the kind of error."""
    code = getattr(error, "code", "") or type(error).__name__
    return {"code": code, "message": str(error), "exit": error.exit_code}
