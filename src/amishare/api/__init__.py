"""The library's entry points, each a typed call that prints nothing: observe -> plan -> apply.

Every command is one request value and one call: ``share(settings, ShareRequest(...))``. ``plan_share``,
``plan_revoke``, ``plan_transfer`` and ``plan_cleanup`` validate every input before the first AWS call,
observe (read-only) and return a ``Plan`` (pure planners); ``apply`` runs any plan (one executor for every
command, plans over many images and regions included) with the journal; ``share``, ``revoke``,
``transfer`` and ``cleanup`` are plan-then-apply, ``resume`` finishes a journaled run; ``show``,
``verify``, ``shared_with_me``, ``doctor`` and ``audit`` read and explain.

One module per family: ``context`` (config and flags: Settings), ``requests`` (what each command asks, and the
``Hooks`` a run reports to), ``execute`` (apply), ``sharing`` (share, revoke, show), ``handover`` (transfer, resume),
``inspection`` (verify, shared-with-me, doctor, audit), ``housekeeping`` (cleanup), ``history`` (runs).
"""

from __future__ import annotations

from amishare.api.context import Flags, Settings, settings
from amishare.api.execute import Outcome, apply
from amishare.api.handover import plan_transfer, resume, transfer
from amishare.api.history import run, runs
from amishare.api.housekeeping import cleanup, plan_cleanup
from amishare.api.inspection import audit, doctor, shared_with_me, shared_with_me_in, verify
from amishare.api.requests import (
    AuditRequest,
    CleanupRequest,
    Confirm,
    DoctorRequest,
    Hooks,
    RevokeRequest,
    ShareRequest,
    ShowRequest,
    VerifyRequest,
)
from amishare.api.sharing import plan_revoke, plan_share, revoke, share, show
from amishare.planners.transfer_request import TransferRequest, share_distribution

__all__ = [
    "AuditRequest",
    "CleanupRequest",
    "Confirm",
    "DoctorRequest",
    "Flags",
    "Hooks",
    "Outcome",
    "RevokeRequest",
    "Settings",
    "ShareRequest",
    "ShowRequest",
    "TransferRequest",
    "VerifyRequest",
    "apply",
    "audit",
    "cleanup",
    "doctor",
    "plan_cleanup",
    "plan_revoke",
    "plan_share",
    "plan_transfer",
    "resume",
    "revoke",
    "run",
    "runs",
    "settings",
    "share",
    "share_distribution",
    "shared_with_me",
    "shared_with_me_in",
    "show",
    "transfer",
    "verify",
]
