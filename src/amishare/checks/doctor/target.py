"""What stops a target on its own side (pure): its Allowed AMIs setting, its own key for copies, and a refusal
its dry run met though every gate amishare sees is open (an SCP, a boundary, the role's policy)."""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Mapping
from typing import Any

from amishare.checks.doctor.cause import Cause
from amishare.checks.doctor.facts import DoctorFacts, time_of


def allowed_amis(facts: DoctorFacts, now: dt.datetime) -> list[Cause]:
    """The target's Allowed AMIs setting, when enabled, not allowing the image (its own answer, else its criteria)."""
    view = facts.target
    if view is None or view.allowed_state != "enabled":
        return []
    allowed = view.image_allowed
    if allowed is None:  # hidden from the target (enabled hides what is not allowed): judge its criteria
        allowed = any(_criterion_allows(c, facts, now) for c in view.criteria)
    if allowed:
        return []
    owner = facts.image.owner if facts.image else "OWNER"
    return [
        Cause(
            "ALLOWED_AMIS_BLOCKS",
            f"account {facts.account}'s Allowed AMIs setting is enabled in {facts.region} and its criteria do not "
            f"allow {facts.image_id}: it is hidden and cannot be launched there",
            f"in account {facts.account}: allow the owner {owner} as well, keeping the criteria it has (the call "
            f"replaces them all): read them (`aws ec2 get-allowed-images-settings --region {facts.region}`), then "
            f"`aws ec2 replace-image-criteria-in-allowed-images-settings --region {facts.region} --image-criteria "
            f"ImageProviders={owner}` followed by each criterion it had",
        )
    ]


def _criterion_allows(criterion: Mapping[str, Any], facts: DoctorFacts, now: dt.datetime) -> bool:
    """Whether one Allowed AMIs criterion admits the image (EC2 User Guide, "Allowed AMIs": every parameter of
    a criterion must match; Marketplace codes and the amazon/aws-marketplace providers cannot match it)."""
    assert facts.image is not None
    providers = criterion.get("ImageProviders") or []
    if providers and facts.image.owner not in providers:
        return False
    names = criterion.get("ImageNames") or []
    if names and not any(fnmatch.fnmatchcase(facts.image.name, n) for n in names):
        return False
    if criterion.get("MarketplaceProductCodes"):
        return False
    days = (criterion.get("CreationDateCondition") or {}).get("MaximumDaysSinceCreated")
    if days is not None and facts.created and now - time_of(facts.created) > dt.timedelta(days=int(days)):
        return False
    days = (criterion.get("DeprecationTimeCondition") or {}).get("MaximumDaysSinceDeprecated")
    return not (
        days is not None
        and facts.deprecation_time
        and now - time_of(facts.deprecation_time) > dt.timedelta(days=int(days))
    )


def dest_key_causes(facts: DoctorFacts) -> list[Cause]:
    """The target's own key for its copy, when one is named, being missing, disabled, elsewhere or asymmetric."""
    view = facts.target
    if view is None or not view.dest_key_ref:
        return []
    ref = view.dest_key_ref
    key = view.dest_key
    problem = None
    if key is None:
        problem = f"cannot be used: {view.dest_key_error or 'not found'}"
    elif key.state != "Enabled":
        problem = f"is {key.state}"
    elif key.region != facts.region:
        problem = f"lives in {key.region}, not {facts.region}"
    elif key.spec != "SYMMETRIC_DEFAULT":
        problem = f"is {key.spec}: EBS encrypts with symmetric keys only"
    if problem is None:
        return []
    return [
        Cause(
            "DEST_KEY_UNUSABLE",
            f"account {facts.account}'s own key for its copy, {ref}, {problem}: the copy would fail after it "
            "started (Given key ID is not accessible)",
            f"in account {facts.account}: create or enable a customer managed key in {facts.region} and name it "
            "(the account's keys in amishare.toml, or --dest-key)",
        )
    ]


def unseen(facts: DoctorFacts, capability: str, causes: list[Cause]) -> list[Cause]:
    """NOT_VISIBLE_FROM_HERE: every gate amishare sees is open, yet the target's own dry run was refused."""
    view = facts.target
    refused = view.refused.get(capability) if view is not None else None
    if refused is None or any(not c.warning for c in causes):
        return []
    return [
        Cause(
            "NOT_VISIBLE_FROM_HERE",
            f"every gate amishare can see is open, yet {facts.account}'s dry run of {capability} is refused: "
            f"{refused}. An SCP, a permissions boundary or the role's own policy in {facts.account} blocks it",
            f"in account {facts.account}: check the role's policies, its permissions boundary and the SCPs of its "
            "organization for the EC2 and KMS actions of this capability (`amishare iam --role destination`)",
        )
    ]
