"""amishare: share Amazon Machine Images across accounts, organizations and regions securely.

The library's entry points are in ``amishare.api`` and re-exported here (loaded on first use, so
that ``import amishare.keypolicy`` or ``amishare --help`` does not load boto3)::

    import amishare
    settings = amishare.settings(region="us-east-1")
    plan = amishare.plan_share(settings, "ami-0123456789abcdef0", ["222222222222"])   # observe + plan
    outcome = amishare.apply(settings, plan)                                         # apply
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

if TYPE_CHECKING:
    from amishare.actions import Action, ActionKind, Plan
    from amishare.api import (
        Outcome,
        Settings,
        TransferRequest,
        apply,
        plan_revoke,
        plan_share,
        plan_transfer,
        resume,
        revoke,
        run,
        runs,
        settings,
        share,
        show,
        transfer,
    )
    from amishare.apply import ActionResult, RunResult
    from amishare.errors import (
        AccessDenied,
        AmiShareError,
        AwsError,
        ConfigError,
        JournalError,
        NotFound,
        PlanRefused,
        SandboxError,
        UsageError,
    )
    from amishare.gates import Gate, GateReport
    from amishare.model import Target, TargetKind

_WHERE = {
    "amishare.actions": ("Action", "ActionKind", "Plan"),
    "amishare.api": (
        "Outcome",
        "Settings",
        "TransferRequest",
        "apply",
        "plan_revoke",
        "plan_share",
        "plan_transfer",
        "resume",
        "revoke",
        "run",
        "runs",
        "settings",
        "share",
        "show",
        "transfer",
    ),
    "amishare.apply": ("ActionResult", "RunResult"),
    "amishare.errors": (
        "AccessDenied",
        "AmiShareError",
        "AwsError",
        "ConfigError",
        "JournalError",
        "NotFound",
        "PlanRefused",
        "SandboxError",
        "UsageError",
    ),
    "amishare.gates": ("Gate", "GateReport"),
    "amishare.model": ("Target", "TargetKind"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = [
    "AccessDenied",
    "Action",
    "ActionKind",
    "ActionResult",
    "AmiShareError",
    "AwsError",
    "ConfigError",
    "Gate",
    "GateReport",
    "JournalError",
    "NotFound",
    "Outcome",
    "Plan",
    "PlanRefused",
    "RunResult",
    "SandboxError",
    "Settings",
    "Target",
    "TargetKind",
    "TransferRequest",
    "UsageError",
    "__version__",
    "apply",
    "plan_revoke",
    "plan_share",
    "plan_transfer",
    "resume",
    "revoke",
    "run",
    "runs",
    "settings",
    "share",
    "show",
    "transfer",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'amishare' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
