"""A manifest written from what exists today for one image family (pure): ``amishare manifest import``.

What was found (who can launch the family's image or its regional copy in each region; which accounts own a
copy of it, and where) becomes distributions: accounts shared with in the same regions form one share
distribution, accounts owning copies in the same regions one transfer distribution. Accounts are written by
their amishare.toml name when they have one. What a manifest cannot say (a public image) is written as a
comment. The text is TOML that ``manifest validate`` accepts; the caller checks it by reading it back.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from amishare.planners.manifest.model import ById, ByName, BySsmParameter, Select


@dataclass(frozen=True)
class Found:
    """What exists today for a family: its image, where it is shared, who owns copies of it."""

    family: str
    select: Select
    source: str
    home_region: str
    regions: tuple[str, ...]
    image_id: str
    shared: dict[str, tuple[str, ...]] = field(default_factory=dict)  # region -> accounts, OUs, orgs with launch
    owned: dict[str, tuple[str, ...]] = field(default_factory=dict)  # region -> accounts owning a copy
    public: tuple[str, ...] = ()  # regions where the image (or its copy) is public


def _groups(by_region: dict[str, tuple[str, ...]]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(regions, principals): principals reached in exactly the same regions together, in first-seen order."""
    regions_of: dict[str, list[str]] = {}
    for region, principals in by_region.items():
        for principal in principals:
            regions_of.setdefault(principal, []).append(region)
    grouped: dict[tuple[str, ...], list[str]] = {}
    for principal, regions in regions_of.items():
        grouped.setdefault(tuple(regions), []).append(principal)
    return [(regions, tuple(principals)) for regions, principals in grouped.items()]


def _quoted(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def _select(select: Select) -> str:
    if isinstance(select, BySsmParameter):
        return f"{{ ssm_parameter = {json.dumps(select.name)} }}"
    if isinstance(select, ByName):
        return f"{{ name = {json.dumps(select.pattern)} }}"
    if isinstance(select, ById):
        return f"{{ id = {json.dumps(select.image_id)} }}"
    return "{ tags = { " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in select.tags.items()) + " } }"


def manifest_toml(found: Found, name_of: Callable[[str], str], now: dt.datetime) -> str:
    """The manifest of ``found``; ``name_of`` gives an account's amishare.toml name (or its id back)."""
    lines = [
        f"# Written by `amishare manifest import` on {now.strftime('%Y-%m-%d %H:%M')} UTC from what exists for",
        f"# {found.image_id} ({found.family}). Review it, then: amishare plan -f THIS_FILE",
        "version = 1",
        "[defaults]",
        f"source = {json.dumps(name_of(found.source))}",
        f"regions = {_quoted(list(found.regions))}",
        "[[image]]",
        f"family = {json.dumps(found.family)}",
        f"select = {_select(found.select)}",
        "versions = 1",
    ]
    for mode, by_region in (("share", found.shared), ("transfer", found.owned)):
        for regions, principals in _groups(by_region):
            lines += [
                "  [[image.distribute]]",
                f"  to = {_quoted([name_of(p) for p in principals])}",
                f'  mode = "{mode}"',
            ]
            if tuple(regions) != found.regions:
                lines.append(f"  regions = {_quoted(list(regions))}")
    if found.public:
        lines.append(
            f"# public in {', '.join(found.public)}: a manifest never makes an image public; left out on purpose"
        )
    if not found.shared and not found.owned:
        lines.append("# nothing shared or copied was found: add [[image.distribute]] tables to say where it goes")
    return "\n".join(lines) + "\n"
