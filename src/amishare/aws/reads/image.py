"""The reads of share, revoke, show and verify: an image, its snapshots and its keys as the planners need them.
Read-only."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from amishare.aws.reads.observer import Observer
from amishare.aws.session import Sessions
from amishare.model import ImageInfo, KeyInfo, Observation

__all__ = ["AlsoRead", "observe", "observe_images", "observe_regional"]


@dataclass(frozen=True)
class AlsoRead:
    """What ``observe`` reads besides the image and its keys."""

    share_key: str | None = None  # the key an aws/ebs image is re-encrypted with (and its copy, when one exists)
    public: bool = False  # the account's image block public access (a public share)
    siblings: bool = False  # the caller's other images on the same keys (a revoke)


NOTHING_MORE = AlsoRead()


def observe(sessions: Sessions, image_id: str, region: str, also: AlsoRead = NOTHING_MORE) -> Observation:
    """Everything the planner needs to share or revoke ``image_id`` in ``region``."""
    caller = sessions.caller_account()
    observer = Observer(sessions, region)
    image = observer.image(image_id, caller)
    keys = {arn: observer.key(arn, caller) for arn in image.key_arns}
    share = None
    reencrypted = None
    if any(k.aws_managed for k in keys.values()):
        if also.share_key:
            share = observer.key(also.share_key, caller)
            keys[share.arn] = share
        reencrypted = observer.reencrypted_copy(image_id, share)
        if reencrypted is not None:
            for arn in reencrypted.key_arns:
                keys.setdefault(arn, observer.key(arn, caller))
    subject = reencrypted or image
    related = observer.siblings(subject.image_id, subject.key_arns) if also.siblings else ()
    return Observation(
        caller_account=caller,
        region=region,
        image=image,
        keys=keys,
        share_key=share,
        reencrypted=reencrypted,
        siblings=related,
        block_public_access=observer.block_public_access() if also.public else None,
    )


def observe_regional(sessions: Sessions, image_id: str, home: str, region: str, share_key: str | None) -> Observation:
    """What the share planner needs to share ``image_id`` (an image of ``home``) in another ``region``: the image
    as its home region shows it, the caller's regional copy of it in ``region`` (amishare's lineage tag, under the
    region's share key) and that key."""
    caller = sessions.caller_account()
    image = Observer(sessions, home).image(image_id, caller)
    observer = Observer(sessions, region)
    share = observer.key(share_key, caller) if share_key else None
    copy = observer.reencrypted_copy(image_id, share)
    keys = {share.arn: share} if share else {}
    for arn in copy.key_arns if copy else ():
        keys.setdefault(arn, observer.key(arn, caller))
    return Observation(caller_account=caller, region=region, image=image, keys=keys, share_key=share, reencrypted=copy)


def observe_images(
    sessions: Sessions,
    region: str,
    image_ids: Sequence[str] = (),
    tag: tuple[str, str] | None = None,
    expected_key: str | None = None,
) -> tuple[list[ImageInfo], dict[str, KeyInfo], KeyInfo | None]:
    """Images by id (any the caller can see) or the caller's own images with ``tag``, with their mappings and
    snapshots (no permissions), the keys those snapshots use, and ``expected_key`` (DescribeKey only)."""
    caller = sessions.caller_account()
    observer = Observer(sessions, region)
    if image_ids:
        raw = [observer.image_raw(i, caller) for i in image_ids]
    else:
        assert tag is not None
        raw = observer.ec2.describe_images(Owners=["self"], Filters=[{"Name": f"tag:{tag[0]}", "Values": [tag[1]]}])[
            "Images"
        ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        images = list(pool.map(lambda r: observer.image_of(r, with_permissions=False), raw))
        arns = sorted({s.key_arn for i in images for s in i.snapshots if s.key_arn})
        keys = dict(zip(arns, pool.map(lambda a: observer.described_key(a, caller), arns), strict=True))
    return images, keys, observer.described_key(expected_key, caller) if expected_key else None
