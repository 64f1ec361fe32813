"""Images shared with the caller's account, and whether it can really launch and copy them (pure).

From the consumer's side three things are visible: the image (its launch permission lets this account
see it), its snapshots (createVolumePermission lets this account see them: without it, a copy fails),
and the account's own Allowed AMIs setting (``ImageAllowed``). The owner's key policy is not readable
from here: an encrypted image's verdict says so, and ``amishare show`` (or ``doctor``, from the owner's
side) tells the rest.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class SharedImageFacts:
    """What the consumer account observed of one image shared with it."""

    image_id: str
    name: str
    owner: str
    region: str
    state: str
    public: bool
    deprecation_time: str | None  # ISO 8601, as DescribeImages gives it
    allowed: bool | None  # ImageAllowed: None when the account's Allowed AMIs setting is off
    snapshots: tuple[str, ...]
    visible_snapshots: frozenset[str]
    keys: tuple[str, ...]  # the KMS keys of its encrypted volumes


@dataclass(frozen=True)
class SharedImage:
    """One image shared with this account, and what this account can do with it."""

    facts: SharedImageFacts
    deprecated: bool
    launch: str  # "yes", "yes, if the owner's key allows it", or "no: <why>"
    copy: str

    @property
    def can_launch(self) -> bool:
        return self.launch.startswith("yes")

    @property
    def can_copy(self) -> bool:
        return self.copy.startswith("yes")


def judge(facts: SharedImageFacts, now: dt.datetime, allowed_amis: str = "disabled") -> SharedImage:
    """The verdicts for ``facts`` at ``now``, under the account's Allowed AMIs state (``audit-mode`` restricts
    nothing: an image its criteria do not allow still launches, with a note)."""
    deprecated = bool(facts.deprecation_time) and _parse(facts.deprecation_time) <= now
    blocked = _blocked(facts, allowed_amis)
    hidden = [s for s in facts.snapshots if s not in facts.visible_snapshots]
    key_note = ", if the owner's key allows it (its policy is the owner's to read)" if facts.keys else ""
    audit_note = (
        " (its Allowed AMIs criteria do not allow it: hidden and refused once the setting is enabled)"
        if facts.allowed is False and allowed_amis != "enabled"
        else ""
    )
    launch = f"no: {blocked}" if blocked else f"yes{key_note}{audit_note}"
    if blocked:
        copy = f"no: {blocked}"
    elif hidden:
        copy = (
            f"no: snapshot(s) {', '.join(hidden)} not shared with this account: the owner must add "
            "createVolumePermission (amishare share does)"
        )
    else:
        copy = f"yes{key_note}{audit_note}"
    return SharedImage(facts, deprecated, launch, copy)


def _blocked(facts: SharedImageFacts, allowed_amis: str) -> str | None:
    if facts.state != "available":
        return f"the image is {facts.state}"
    if facts.allowed is False and allowed_amis == "enabled":
        return "this account's Allowed AMIs criteria do not allow it (add its owner or name to them)"
    return None


def _parse(value: str | None) -> dt.datetime:
    assert value is not None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
