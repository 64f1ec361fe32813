"""amishare: share Amazon Machine Images across accounts, organizations and regions securely.

The library's entry points are in ``amishare.api`` and re-exported here::

    import amishare
    settings = amishare.settings(region="us-east-1")
    outcome = amishare.share(settings, "ami-0123456789abcdef0", ["222222222222"], dry_run=True)
"""

from __future__ import annotations

__version__ = "0.1.0"

from amishare.actions import Action, ActionKind, Plan
from amishare.api import Outcome, Settings, resume, revoke, run, runs, settings, share, show, transfer
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
    "UsageError",
    "__version__",
    "resume",
    "revoke",
    "run",
    "runs",
    "settings",
    "share",
    "show",
    "transfer",
]
