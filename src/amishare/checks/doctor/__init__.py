"""Why can't this account see, launch or copy this image? (pure; ``amishare doctor``)

From the owner's view (the image, its launch and snapshot permissions, its keys' policies and grants)
and, when the target has a configured role, the target's view (what it sees of the image and its
snapshots, its Allowed AMIs setting, its own key for copies, a dry run of the launch and the copy), each
capability gets a verdict and, when it does not work, every cause with a stable code and the fix.
docs/aws-facts.md sections 1, 2, 5 and 7 are the rules. This module gives the verdicts; the causes come
from ``owner`` (the image and its permissions), ``keys`` (its keys) and ``target`` (the target's own side),
judged on the ``facts``; ``cause`` lists the codes (docs/doctor.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from amishare.checks.doctor.cause import Cause
from amishare.checks.doctor.facts import DoctorFacts
from amishare.checks.doctor.keys import autoscaling_causes, key_causes
from amishare.checks.doctor.owner import aws_managed, deprecation, image_causes, launch_permission, snapshot_causes
from amishare.checks.doctor.target import allowed_amis, dest_key_causes, unseen
from amishare.policy.access import LAUNCH_KEY_OPERATIONS, SOURCE_KEY_USED_OPERATIONS

CAPABILITIES = ("see", "launch", "copy", "autoscaling-launch")
DEFAULT_NEEDS = ("see", "launch", "copy")


@dataclass(frozen=True)
class Capability:
    """One capability (see, launch, copy, autoscaling-launch) and what stops it; warnings do not."""

    name: str
    causes: tuple[Cause, ...]

    @property
    def ok(self) -> bool:
        return all(c.warning for c in self.causes)


@dataclass(frozen=True)
class Diagnosis:
    """Every capability's verdict for one image, account and region (``amishare doctor``)."""

    image_id: str
    account: str
    region: str
    capabilities: dict[str, Capability]
    target_view: bool  # whether the target's own view was read
    target_note: str = ""  # why it was not
    source_image: str = ""  # the aws/ebs image asked about, when this is the diagnosis of its re-encrypted copy

    def works(self, needs: Iterable[str]) -> bool:
        return all(self.capabilities[n].ok for n in needs)

    @property
    def codes(self) -> list[str]:
        return sorted({c.code for cap in self.capabilities.values() for c in cap.causes})

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.image_id,
            "account": self.account,
            "region": self.region,
            "target_view": self.target_view,
            **({"target_note": self.target_note} if self.target_note else {}),
            **({"source_image": self.source_image} if self.source_image else {}),
            "capabilities": {
                name: {"ok": cap.ok, "causes": [c.to_dict() for c in cap.causes]}
                for name, cap in self.capabilities.items()
            },
        }


def diagnose(facts: DoctorFacts, now: dt.datetime) -> Diagnosis:
    """Each capability's verdict and causes for ``facts`` at ``now`` (of the re-encrypted copy when ``facts``
    followed an aws/ebs image to it, as share, revoke and show do)."""
    return replace(_diagnose(facts, now), source_image=facts.source_image)


def _diagnose(facts: DoctorFacts, now: dt.datetime) -> Diagnosis:
    blocking = image_causes(facts)
    if blocking:
        stopped = {name: Capability(name, tuple(blocking)) for name in CAPABILITIES}
        return Diagnosis(facts.image_id, facts.account, facts.region, stopped, *_view(facts))
    assert facts.image is not None
    image = facts.image
    managed = aws_managed(facts, image)
    if managed:  # no other account can ever use it: the other gates cannot even be opened
        stopped = {name: Capability(name, (managed,)) for name in CAPABILITIES}
        return Diagnosis(facts.image_id, facts.account, facts.region, stopped, *_view(facts))
    see = deprecation(facts, now) + launch_permission(facts, image) + allowed_amis(facts, now)
    launch_keys = key_causes(facts, image, LAUNCH_KEY_OPERATIONS, "launch")
    copy_keys = key_causes(facts, image, SOURCE_KEY_USED_OPERATIONS, "copy")
    blocked_see = [c for c in see if not c.warning]
    launch = blocked_see + launch_keys
    copy = blocked_see + snapshot_causes(facts, image) + copy_keys + dest_key_causes(facts)
    autoscaling = launch + autoscaling_causes(facts, image)
    found = {"see": see, "launch": launch, "copy": copy, "autoscaling-launch": autoscaling}
    caps = {name: _dedupe(causes) + unseen(facts, name, causes) for name, causes in found.items()}
    return Diagnosis(
        facts.image_id,
        facts.account,
        facts.region,
        {name: Capability(name, tuple(causes)) for name, causes in caps.items()},
        *_view(facts),
    )


def _view(facts: DoctorFacts) -> tuple[bool, str]:
    return (True, "") if facts.target is not None else (False, facts.target_note)


def _dedupe(causes: list[Cause]) -> list[Cause]:
    seen: set[tuple[str, str]] = set()
    out = []
    for cause in causes:
        if (cause.code, cause.detail) not in seen:
            seen.add((cause.code, cause.detail))
            out.append(cause)
    return out
