"""The reads of shared-with-me: the images shared with the caller's account, what it sees of their snapshots,
and its Allowed AMIs setting. Read-only."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from amishare.aws.reads.convert import mapping_info
from amishare.aws.reads.observer import Observer
from amishare.aws.session import Sessions
from amishare.checks.shared_with_me import SharedImageFacts

__all__ = ["observe_shared_with_me"]


def observe_shared_with_me(sessions: Sessions, region: str) -> tuple[str, list[SharedImageFacts]]:
    """The images shared explicitly with the caller's account in ``region`` (by account, organization or OU),
    what it sees of their snapshots, and its Allowed AMIs setting (state). Read-only."""
    caller = sessions.caller_account()
    observer = Observer(sessions, region)
    setting = observer.ec2.get_allowed_images_settings()
    raw = observer.ec2.describe_images(ExecutableUsers=["self"], IncludeDeprecated=True)["Images"]
    shared = [r for r in raw if r["OwnerId"] != caller]
    with ThreadPoolExecutor(max_workers=8) as pool:
        facts = list(pool.map(lambda r: _shared_facts(observer, r), shared))
    return str(setting.get("State", "disabled")), facts


def _shared_facts(observer: Observer, raw: dict[str, Any]) -> SharedImageFacts:
    volumes = [m for m in map(mapping_info, raw.get("BlockDeviceMappings", [])) if m.snapshot_id]
    snapshots = tuple(str(m.snapshot_id) for m in volumes)
    return SharedImageFacts(
        image_id=raw["ImageId"],
        name=raw.get("Name", ""),
        owner=raw["OwnerId"],
        region=observer.region,
        state=raw.get("State", ""),
        public=bool(raw.get("Public")),
        deprecation_time=raw.get("DeprecationTime"),
        allowed=raw.get("ImageAllowed"),
        snapshots=snapshots,
        visible_snapshots=observer.visible_snapshots(snapshots),
        keys=tuple(sorted({m.key_arn for m in volumes if m.encrypted and m.key_arn})),
    )
