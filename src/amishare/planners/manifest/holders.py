"""Who holds access to a shared image that the manifest does not name (pure), and whether amishare made it.

AWS keeps no record of who opened a launch permission. What proves amishare opened access for an account is its
own mark on the image's key: an ``amishare-*`` statement of the key policy naming the account, or a grant named
``amishare-<account>``. Such access for an account the manifest no longer names is ``extra`` (removed only with
``prune`` or ``--allow-destroy``); access without that mark is ``unmanaged``: reported, never removed.
"""

from __future__ import annotations

from dataclasses import dataclass

from amishare.model import ImageInfo, KeyInfo
from amishare.policy.access import grant_name
from amishare.policy.key_policy import granted


@dataclass(frozen=True)
class Holders:
    """The principals of one image that the manifest does not name, split by whether amishare made their access."""

    image_id: str
    region: str
    extra: tuple[str, ...] = ()  # accounts amishare admitted (its key statement or grant names them)
    unmanaged: tuple[str, ...] = ()  # accounts, OUs, organizations or "public" with access amishare did not make


def holders(image: ImageInfo, keys: tuple[KeyInfo, ...], wanted: frozenset[str]) -> Holders:
    """Who can use ``image`` (launch or snapshot permission) beyond ``wanted`` and its owner."""
    launch = image.launch
    accounts = set(launch.accounts) | {a for s in image.snapshots for a in s.shared_with}
    others = sorted(accounts - wanted - {image.owner})
    ours = {a for a in others if any(_admitted_by_amishare(k, a) for k in keys)}
    groups = sorted(launch.organizations | launch.ous) + (["public"] if launch.public else [])
    return Holders(
        image.image_id,
        image.region,
        extra=tuple(a for a in others if a in ours),
        unmanaged=tuple([a for a in others if a not in ours] + [g for g in groups if g not in wanted]),
    )


def _admitted_by_amishare(key: KeyInfo, account: str) -> bool:
    by_policy = key.policy is not None and account in granted(key.policy).accounts
    return by_policy or any(g.name == grant_name(account) for g in key.grants)
