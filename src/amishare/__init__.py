"""amishare: share Amazon Machine Images across accounts, organizations and regions securely.

The library's entry points are in ``amishare.api`` and re-exported here (loaded on first use, so
that ``import amishare.policy.key_policy`` or ``amishare --help`` does not load boto3)::

    import amishare
    settings = amishare.settings(amishare.Flags(region="us-east-1"))
    request = amishare.ShareRequest("ami-0123456789abcdef0", ("222222222222",))
    plan = amishare.plan_share(settings, request)      # validate, observe, plan
    outcome = amishare.apply(settings, plan)            # apply (journaled)

Each command takes the settings and one request value (``ShareRequest``, ``TransferRequest``,
``AuditRequest`` ...); a run reports to ``Hooks`` (confirm, events, polls).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

if TYPE_CHECKING:
    from amishare.api import (
        AuditRequest,
        CleanupRequest,
        DoctorRequest,
        Flags,
        Hooks,
        Outcome,
        RevokeRequest,
        Settings,
        ShareRequest,
        ShowRequest,
        TransferRequest,
        VerifyRequest,
        apply,
        audit,
        cleanup,
        doctor,
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
        verify,
    )
    from amishare.checks.gates import Gate, GateReport
    from amishare.engine.action import Action, ActionKind
    from amishare.engine.executor import ActionResult, RunResult
    from amishare.engine.plan import Plan
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
    from amishare.model import Target, TargetKind

# Where the exported names live, lightest first: a name is taken from the first module that has it, so
# ``amishare.PlanRefused`` loads the exception tree only, and ``amishare.share`` loads the AWS layer.
_MODULES = (
    "amishare.errors",
    "amishare.model",
    "amishare.engine.action",
    "amishare.engine.plan",
    "amishare.engine.executor",
    "amishare.checks.gates",
    "amishare.api",
)

__all__ = [
    "AccessDenied",
    "Action",
    "ActionKind",
    "ActionResult",
    "AmiShareError",
    "AuditRequest",
    "AwsError",
    "CleanupRequest",
    "ConfigError",
    "DoctorRequest",
    "Flags",
    "Gate",
    "GateReport",
    "Hooks",
    "JournalError",
    "NotFound",
    "Outcome",
    "Plan",
    "PlanRefused",
    "RevokeRequest",
    "RunResult",
    "SandboxError",
    "Settings",
    "ShareRequest",
    "ShowRequest",
    "Target",
    "TargetKind",
    "TransferRequest",
    "UsageError",
    "VerifyRequest",
    "__version__",
    "apply",
    "audit",
    "cleanup",
    "doctor",
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
    "verify",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        for module in _MODULES:
            found = importlib.import_module(module)
            if hasattr(found, name):
                value = getattr(found, name)
                globals()[name] = value
                return value
    raise AttributeError(f"module 'amishare' has no attribute {name!r}")
