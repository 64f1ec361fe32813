"""Read an estate for the audit: every image each account owns in each region, with its launch permission,
every snapshot with its createVolumePermission, the keys with their policies and grants, and the account's
image block public access. Read-only; EC2 reads are paced to the documented token bucket (``pacer``), and
accounts and regions are read concurrently (each has its own buckets).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from amishare.aws.pacer import Pacer, Pacers
from amishare.aws.reads.convert import image_info, launch_permissions, snapshot_info
from amishare.aws.reads.observer import Observer
from amishare.aws.session import Sessions
from amishare.checks.audit import AccountRegion
from amishare.errors import AwsError
from amishare.model import KeyInfo, RoleRef, SnapshotInfo

ACCOUNT_REGIONS_AT_ONCE = 8  # account-regions read at once
READS_AT_ONCE = 24  # attribute reads at once in one account-region (the pacer decides the rate)
PAGE = 1000  # DescribeImages and DescribeSnapshots MaxResults (their maximum)

Progress = Callable[[int, int, int], None]  # (account-regions done, of, images read so far)


@dataclass(frozen=True)
class Party:
    """An account to audit, and the role to read it through (None: the caller's own credentials)."""

    account: str
    role: RoleRef | None


def observe_estate(
    sessions: Sessions,
    parties: Sequence[Party],
    regions: Sequence[str],
    on_progress: Progress | None = None,
    pacers: Pacers | None = None,
) -> list[AccountRegion]:
    """Everything the audit needs, per account and region (an account whose role cannot be assumed is an
    ``AccountRegion`` with its ``error``: the rest of the estate is still read)."""
    pacers = pacers or Pacers()
    total = len(parties) * len(regions)
    done = [0, 0]
    counting = threading.Lock()  # account-regions finish on several threads at once

    def one(party: Party, region: str) -> AccountRegion:
        read = _account_region(sessions, party, region, pacers(party.account, region))
        with counting:
            done[0] += 1
            done[1] += len(read.images)
            counted = (done[0], total, done[1])
        if on_progress is not None:
            on_progress(*counted)
        return read

    pairs = [(p, r) for p in parties for r in regions]
    with ThreadPoolExecutor(max_workers=ACCOUNT_REGIONS_AT_ONCE, thread_name_prefix="amishare-audit") as pool:
        return list(pool.map(lambda pair: one(*pair), pairs))


def _account_region(sessions: Sessions, party: Party, region: str, pacer: Pacer) -> AccountRegion:
    try:
        if party.role is not None:
            sessions.assume(party.role)
        return _read(sessions, party, region, pacer)
    except AwsError as exc:
        return AccountRegion(party.account, region, (), (), {}, None, error=str(exc))


def _read(sessions: Sessions, party: Party, region: str, pacer: Pacer) -> AccountRegion:
    who = None if party.role is None else party.account
    ec2 = sessions.client("ec2", region, who)

    def call(operation: str, **params: Any) -> Any:
        pacer.take()
        return getattr(ec2, operation)(**params)

    with ThreadPoolExecutor(max_workers=READS_AT_ONCE, thread_name_prefix="amishare-reads") as pool:
        raw_images = pool.submit(
            lambda: list(_pages(call, "describe_images", "Images", Owners=["self"], IncludeDisabled=True))
        )
        raw_snapshots = pool.submit(lambda: list(_pages(call, "describe_snapshots", "Snapshots", OwnerIds=["self"])))
        bpa = pool.submit(call, "get_image_block_public_access_state")
        images, snapshots = raw_images.result(), raw_snapshots.result()
        launch = pool.map(
            lambda i: call("describe_image_attribute", ImageId=i["ImageId"], Attribute="launchPermission"), images
        )
        shares = pool.map(
            lambda s: call(
                "describe_snapshot_attribute", SnapshotId=s["SnapshotId"], Attribute="createVolumePermission"
            ),
            snapshots,
        )
        launch_of = {
            i["ImageId"]: launch_permissions(r["LaunchPermissions"]) for i, r in zip(images, launch, strict=True)
        }
        owned = {
            s["SnapshotId"]: snapshot_info(s, r["CreateVolumePermissions"])
            for s, r in zip(snapshots, shares, strict=True)
        }
        keys = _keys(sessions, who, party.account, region, owned.values(), pool)
    infos = tuple(image_info(raw, region, launch_of[raw["ImageId"]], owned) for raw in images)
    return AccountRegion(
        party.account,
        region,
        infos,
        tuple(owned.values()),
        keys,
        str(bpa.result().get("ImageBlockPublicAccessState", "")) or None,
    )


def _pages(call: Callable[..., Any], operation: str, field: str, **params: Any) -> Iterator[dict[str, Any]]:
    token = None
    while True:
        page = call(operation, MaxResults=PAGE, **params, **({"NextToken": token} if token else {}))
        yield from page[field]
        token = page.get("NextToken")
        if not token:
            return


def _keys(
    sessions: Sessions, who: str | None, account: str, region: str, snapshots: Any, pool: ThreadPoolExecutor
) -> dict[str, KeyInfo]:
    arns = sorted({s.key_arn for s in snapshots if isinstance(s, SnapshotInfo) and s.key_arn})
    observer = Observer(sessions, region, who)
    return dict(zip(arns, pool.map(lambda a: observer.key(a, account), arns), strict=True))
