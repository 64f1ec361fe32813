"""What a Describe call keeps: EC2 ``Filters``, and the selection parameters of DescribeImages and DescribeSnapshots.

``Filters`` (every Describe call): filter names are ANDed, the values of one filter ORed, with ``*``/``?``
wildcards; ``tag:<key>`` and ``tag-key`` look at the tags the caller may see. Each filter name of images and
snapshots is a small named function giving the values its patterns are matched against (``IMAGE_FILTERS``,
``SNAPSHOT_FILTERS``; ``owner-id`` and ``description`` are shared).

Selection parameters (``Owners``, ``ExecutableUsers``; ``OwnerIds``, ``RestorableByUserIds``): each is a
named predicate over the resource, built from the parameter's values (``IMAGE_PARAMETERS``,
``SNAPSHOT_PARAMETERS``; ``Owners`` and ``OwnerIds`` share one). A parameter left out or empty keeps all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any, Protocol, TypeVar

from amishare.policy.evaluate import Caller, like
from amishare.sandbox.ec2.common import image_state, shared_explicitly, snapshot_state, timestamp
from amishare.sandbox.state import Image, Snapshot, World
from amishare.sandbox.wire.protocol import AwsFault

T = TypeVar("T")
R = TypeVar("R", bound="Owned")


class Owned(Protocol):
    """What images and snapshots have in common for filtering: an owner, a description, the owner's tags."""

    account: str
    description: str
    tags: dict[str, str]


# ------------------------------------------------------------------------- Filters, generic
def apply_filters(
    items: list[T],
    filters: list[dict[str, Any]],
    fields: Mapping[str, Callable[[T], Iterable[str]]],
    tags: Callable[[T], Mapping[str, str]],
) -> list[T]:
    """EC2 ``Filters``: names ANDed, values ORed, ``*``/``?`` wildcards; an unknown name is refused."""
    for flt in filters:
        name, values = flt.get("Name", ""), [str(v) for v in flt.get("Values", [])]
        getter = _filter_field(name, fields, tags)
        items = [i for i in items if any(like(v, got) for v in values for got in getter(i))]
    return items


def _filter_field(
    name: str, fields: Mapping[str, Callable[[T], Iterable[str]]], tags: Callable[[T], Mapping[str, str]]
) -> Callable[[T], Iterable[str]]:
    if name.startswith("tag:"):
        tag_key = name[4:]
        return lambda item: [tags(item)[tag_key]] if tag_key in tags(item) else []
    if name == "tag-key":
        return lambda item: list(tags(item))
    if name in fields:
        return fields[name]
    raise AwsFault("InvalidParameterValue", f"The filter '{name}' is invalid")


# ------------------------------------------------------------- Filters on images and snapshots
FilterValues = Callable[[World, R], list[str]]


def filter_resources(
    world: World, caller: Caller, items: list[R], filters: list[dict[str, Any]], table: Mapping[str, FilterValues[R]]
) -> list[R]:
    """``Filters`` on images or snapshots: ``table`` names the filters; tags are the owner's alone."""
    fields = {name: partial(values, world) for name, values in table.items()}
    return apply_filters(items, filters, fields, partial(owner_tags, caller))


def owner_tags(caller: Caller, resource: Owned) -> dict[str, str]:
    """The resource's tags as ``caller`` sees them: the owner's, or none (docs/aws-facts.md section 3)."""
    return resource.tags if resource.account == caller.account else {}


def _true_false(value: bool) -> str:
    return "true" if value else "false"


def _owner_id(world: World, resource: Owned) -> list[str]:
    return [resource.account]


def _description(world: World, resource: Owned) -> list[str]:
    return [resource.description]


def _image_id(world: World, image: Image) -> list[str]:
    return [image.image_id]


def _image_name(world: World, image: Image) -> list[str]:
    return [image.name]


def _image_state(world: World, image: Image) -> list[str]:
    return [image_state(world, image)[0]]


def _is_public(world: World, image: Image) -> list[str]:
    return [_true_false(image.public)]


def _creation_date(world: World, image: Image) -> list[str]:
    return [timestamp(image.created)]


def _architecture(world: World, image: Image) -> list[str]:
    return [image.architecture]


def _source_image_id(world: World, image: Image) -> list[str]:
    return [image.source_image_id or ""]


def _mapped_snapshot_ids(world: World, image: Image) -> list[str]:
    return image.snapshot_ids()


def _mapped_encrypted(world: World, image: Image) -> list[str]:
    return [_true_false(world.snapshots[s].encrypted) for s in image.snapshot_ids() if s in world.snapshots]


IMAGE_FILTERS: Mapping[str, FilterValues[Image]] = {
    "image-id": _image_id,
    "name": _image_name,
    "description": _description,
    "state": _image_state,
    "owner-id": _owner_id,
    "is-public": _is_public,
    "creation-date": _creation_date,
    "architecture": _architecture,
    "source-image-id": _source_image_id,
    "block-device-mapping.snapshot-id": _mapped_snapshot_ids,
    "block-device-mapping.encrypted": _mapped_encrypted,
}


def _snapshot_id(world: World, snapshot: Snapshot) -> list[str]:
    return [snapshot.snapshot_id]


def _status(world: World, snapshot: Snapshot) -> list[str]:
    return [snapshot_state(world, snapshot)[0]]


def _encrypted(world: World, snapshot: Snapshot) -> list[str]:
    return [_true_false(snapshot.encrypted)]


def _kms_key_id(world: World, snapshot: Snapshot) -> list[str]:
    return [snapshot.kms_key_arn or ""]


def _volume_size(world: World, snapshot: Snapshot) -> list[str]:
    return [str(snapshot.size_gib)]


def _volume_id(world: World, snapshot: Snapshot) -> list[str]:
    return [snapshot.volume_id]


def _start_time(world: World, snapshot: Snapshot) -> list[str]:
    return [timestamp(snapshot.start_time)]


SNAPSHOT_FILTERS: Mapping[str, FilterValues[Snapshot]] = {
    "snapshot-id": _snapshot_id,
    "owner-id": _owner_id,
    "status": _status,
    "encrypted": _encrypted,
    "kms-key-id": _kms_key_id,
    "volume-size": _volume_size,
    "description": _description,
    "volume-id": _volume_id,
    "start-time": _start_time,
}


# ------------------------------------------------------------------ selection parameters
Predicate = Callable[[R], bool]
ParameterPredicate = Callable[[World, Caller, list[str]], Predicate[R]]


def select(
    world: World, caller: Caller, items: list[R], params: Mapping[str, Any], table: Mapping[str, ParameterPredicate[R]]
) -> list[R]:
    """Keep the items every selection parameter given in ``params`` keeps (``table``: parameter -> predicate)."""
    for parameter, predicate in table.items():
        values = params.get(parameter) or []
        if values:
            keep = predicate(world, caller, values)
            items = [i for i in items if keep(i)]
    return items


def _accounts(caller: Caller, values: list[str]) -> set[str]:
    """Account ids, ``self`` standing for the caller's."""
    return {caller.account if v == "self" else v for v in values}


def _owned_by(world: World, caller: Caller, owners: list[str]) -> Predicate[Owned]:
    """``Owners`` / ``OwnerIds`` (docs/aws-facts.md section 8: honoured)."""
    wanted = _accounts(caller, owners)
    return lambda resource: resource.account in wanted


def _executable_by(world: World, caller: Caller, users: list[str]) -> Predicate[Image]:
    """``ExecutableUsers``: ``all`` = public, ``self`` (or the caller's id) = shared with the caller by its launch
    permission (account, organization or OU), another id = named in the launch permission."""

    def executable_by(image: Image, user: str) -> bool:
        if user == "all":
            return image.public
        if user in ("self", caller.account):
            return shared_explicitly(world, image, caller.account)
        return user in image.launch_users

    return lambda image: any(executable_by(image, u) for u in users)


def _restorable_by(world: World, caller: Caller, users: list[str]) -> Predicate[Snapshot]:
    """``RestorableByUserIds``: who can create volumes from it, the owner always, then createVolumePermission."""
    wanted = _accounts(caller, users)
    return lambda s: s.account in wanted or bool(s.shared_with & wanted) or (s.public and "all" in wanted)


IMAGE_PARAMETERS: Mapping[str, ParameterPredicate[Image]] = {
    "Owners": _owned_by,
    "ExecutableUsers": _executable_by,
}
SNAPSHOT_PARAMETERS: Mapping[str, ParameterPredicate[Snapshot]] = {
    "OwnerIds": _owned_by,
    "RestorableByUserIds": _restorable_by,
}
