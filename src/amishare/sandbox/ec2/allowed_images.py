"""Allowed AMIs (docs/aws-facts.md section 5): a consumer account's criteria for the AMIs it may discover and use.

Per account and region: ``disabled`` (the default), ``enabled`` or ``audit-mode``, and up to 10 criteria.
An image is allowed when it is the account's own (never restricted) or matches ANY criterion; within a
criterion every parameter given must match, and any value of a parameter matches. ``enabled`` hides
the others from ``DescribeImages`` (and refuses them at launch); ``audit-mode`` hides nothing; in both,
``DescribeImages`` reports ``ImageAllowed`` per image.

Not emulated: Marketplace product codes, watermarks and scan results (no sandbox image has them, so a
criterion naming them matches nothing), the providers ``amazon``, ``aws-marketplace``,
``aws-backup-vault`` (no sandbox image is theirs), and declarative policies (``ManagedBy`` is always
``account``).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass, field
from typing import Any

from amishare.policy.evaluate import Caller
from amishare.sandbox.ec2.common import check_dry_run
from amishare.sandbox.state import Image, World, utcnow
from amishare.sandbox.wire.protocol import AwsFault

STATES = ("enabled", "audit-mode")
MAX_CRITERIA = 10
_UNMATCHABLE = ("MarketplaceProductCodes", "ImageWatermarks", "ScanResultCondition")


@dataclass
class AllowedImages:
    """One account's setting in one region."""

    state: str = "disabled"
    criteria: list[dict[str, Any]] = field(default_factory=list)


def setting(world: World, account: str, region: str) -> AllowedImages:
    """The account's setting in ``region`` (the default one when it never set any: reading creates nothing)."""
    found: AllowedImages | None = world.allowed_images.get((account, region))
    return found if found is not None else AllowedImages()


def _set(world: World, account: str, region: str) -> AllowedImages:
    found: AllowedImages = world.allowed_images.setdefault((account, region), AllowedImages())
    return found


def allowed(world: World, image: Image, account: str, region: str) -> bool | None:
    """Whether ``account`` may discover and use ``image`` (None: the setting is off, nothing to say)."""
    current = setting(world, account, region)
    if current.state not in STATES:
        return None
    if image.account == account:
        return True
    return any(_matches(image, criterion) for criterion in current.criteria)


def _matches(image: Image, criterion: dict[str, Any]) -> bool:
    if any(criterion.get(name) for name in _UNMATCHABLE):
        return False
    providers = criterion.get("ImageProviders") or []
    if providers and image.account not in providers:
        return False
    names = criterion.get("ImageNames") or []
    if names and not any(fnmatch.fnmatchcase(image.name, pattern) for pattern in names):
        return False
    return _recent_enough(image, criterion)


def _recent_enough(image: Image, criterion: dict[str, Any]) -> bool:
    """``CreationDateCondition`` and ``DeprecationTimeCondition``: at most so many days since created, since
    deprecated."""
    now = utcnow()
    created = (criterion.get("CreationDateCondition") or {}).get("MaximumDaysSinceCreated")
    if created is not None and now - image.created > dt.timedelta(days=int(created)):
        return False
    deprecated = (criterion.get("DeprecationTimeCondition") or {}).get("MaximumDaysSinceDeprecated")
    return not (
        deprecated is not None
        and image.deprecation_time is not None
        and now - image.deprecation_time > dt.timedelta(days=int(deprecated))
    )


class AllowedImagesHandlers:
    """GetAllowedImagesSettings, EnableAllowedImagesSettings, DisableAllowedImagesSettings and
    ReplaceImageCriteriaInAllowedImagesSettings."""

    def __init__(self, world: World) -> None:
        self.world = world

    def GetAllowedImagesSettings(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        check_dry_run(p)
        with self.world.lock:
            current = setting(self.world, caller.account, region)
            out: dict[str, Any] = {"State": current.state, "ManagedBy": "account"}
            if current.criteria:
                out["ImageCriteria"] = [dict(c) for c in current.criteria]
        return out

    def EnableAllowedImagesSettings(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        state = p.get("AllowedImagesSettingsState")
        if state not in STATES:
            raise AwsFault("InvalidParameterValue", f"AllowedImagesSettingsState must be one of {', '.join(STATES)}")
        check_dry_run(p)
        with self.world.lock:
            _set(self.world, caller.account, region).state = state
        return {"AllowedImagesSettingsState": state}

    def DisableAllowedImagesSettings(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        check_dry_run(p)
        with self.world.lock:
            _set(self.world, caller.account, region).state = "disabled"
        return {"AllowedImagesSettingsState": "disabled"}

    def ReplaceImageCriteriaInAllowedImagesSettings(
        self, caller: Caller, region: str, p: dict[str, Any]
    ) -> dict[str, Any]:
        criteria = list(p.get("ImageCriteria") or [])
        if len(criteria) > MAX_CRITERIA:
            raise AwsFault("InvalidParameterValue", f"At most {MAX_CRITERIA} image criteria are allowed")
        check_dry_run(p)
        with self.world.lock:
            _set(self.world, caller.account, region).criteria = criteria
        return {"ReturnValue": True}
