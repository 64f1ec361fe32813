"""The causes ``amishare doctor`` names (pure): each with a stable code, what it found and the fix.

The codes are documented in docs/doctor.md:

    NOT_IN_REGION              no such image in the region (the regions where it does exist are named)
    DEREGISTERED               the image was deregistered
    DISABLED                   the image is disabled (DisableImage removed every launch permission)
    PENDING                    the image is still being made (a copy in progress): wait until it is available
    NOT_AVAILABLE              the image is failed (or in another state that never becomes available)
    DEPRECATED                 past its deprecation time (a warning: it still launches)
    NO_LAUNCH_PERMISSION       the launch permission names neither the account, its organization or OU, nor all
    SNAPSHOT_NOT_SHARED        a snapshot lacks createVolumePermission for the account (copy only)
    AWS_MANAGED_KEY            a volume is encrypted with aws/ebs: no other account can ever use it
    KEY_POLICY_MISSING_ACCOUNT no statement or grant of the key admits the account
    KEY_CONDITION_MISMATCH     a statement admits the account but a condition does not hold (which one, and why)
    KEY_EXPLICIT_DENY          a Deny statement of the key matches the account's use
    KEY_DISABLED               the key is disabled or pending deletion
    DEST_KEY_UNUSABLE          the target's own key for its copy is missing, disabled or not usable by it
    AUTOSCALING_GRANT_MISSING  no grant of the key to the account's Auto Scaling service-linked role
    ALLOWED_AMIS_BLOCKS        the account's Allowed AMIs criteria do not allow the image
    ROLE_PRINCIPAL_ID          the key policy names a principal by unique id (a deleted role): it admits no one
    NOT_VISIBLE_FROM_HERE      every gate amishare can see is open, yet the target's dry run is refused
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CODES = (
    "NOT_IN_REGION",
    "DEREGISTERED",
    "DISABLED",
    "PENDING",
    "NOT_AVAILABLE",
    "DEPRECATED",
    "NO_LAUNCH_PERMISSION",
    "SNAPSHOT_NOT_SHARED",
    "AWS_MANAGED_KEY",
    "KEY_POLICY_MISSING_ACCOUNT",
    "KEY_CONDITION_MISMATCH",
    "KEY_EXPLICIT_DENY",
    "KEY_DISABLED",
    "DEST_KEY_UNUSABLE",
    "AUTOSCALING_GRANT_MISSING",
    "ALLOWED_AMIS_BLOCKS",
    "ROLE_PRINCIPAL_ID",
    "NOT_VISIBLE_FROM_HERE",
)
WARNINGS = frozenset({"DEPRECATED"})


@dataclass(frozen=True)
class Cause:
    """One reason a capability does not work (or, for a warning, a risk to it), and the fix."""

    code: str
    detail: str
    fix: str

    @property
    def warning(self) -> bool:
        return self.code in WARNINGS

    def to_dict(self) -> dict[str, Any]:
        out = {"code": self.code, "detail": self.detail, "fix": self.fix}
        if self.warning:
            out["severity"] = "warning"
        return out
