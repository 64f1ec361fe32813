"""What ``amishare doctor`` judges (pure data): the owner's view of the image and its keys, and the target's own
view when its role could be assumed; both observed by ``aws.reads.observe``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from amishare.model import ImageInfo, KeyInfo


@dataclass(frozen=True)
class TargetView:
    """What the target account itself observed, through its configured role."""

    sees_image: bool
    allowed_state: str = "disabled"  # its Allowed AMIs setting: disabled | audit-mode | enabled
    image_allowed: bool | None = None  # ImageAllowed, as the target's DescribeImages reports it
    visible_snapshots: frozenset[str] = frozenset()
    dest_key_ref: str | None = None  # the target's own key for its copy, when one is configured or given
    dest_key: KeyInfo | None = None
    dest_key_error: str | None = None
    refused: Mapping[str, str] = field(default_factory=dict)  # capability -> why its dry run was refused
    criteria: tuple[Mapping[str, Any], ...] = ()  # its Allowed AMIs image criteria


@dataclass(frozen=True)
class DoctorFacts:
    """What amishare observed, from the owner's side and (when it could) the target's."""

    image_id: str
    account: str  # the target
    region: str
    state: str  # available | pending | failed | disabled | deregistered | missing (not in the region)
    image: ImageInfo | None  # the owner's view, None when not in the region
    keys: Mapping[str, KeyInfo]
    elsewhere: tuple[str, ...] = ()  # regions where an image with this id exists, when not in ``region``
    deprecation_time: str | None = None
    created: str | None = None  # the image's CreationDate
    org_id: str | None = None  # the target's organization and OU path (o-x/r-x/ou-a/), when known
    org_paths: tuple[str, ...] = ()
    target: TargetView | None = None
    target_note: str = "no role is configured for the account"  # why there is no target view, when none
    # the aws/ebs image asked about, when ``image_id`` is its re-encrypted copy (what share, revoke and show act on)
    source_image: str = ""
    share_key: str | None = None  # amishare.toml's share key of the region: what `amishare share` re-encrypts with


def time_of(value: str) -> dt.datetime:
    """An AWS timestamp (ISO 8601, ``Z`` for UTC) as an aware datetime."""
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
