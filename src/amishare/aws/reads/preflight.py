"""The reads of a transfer: the image and its keys as the source sees them, each region's share key, and every
destination's preflight (its role assumed, its key in each region described through that role, its launch
template looked up, the copy of the image it already owns and what its parameter and template name). Read-only;
everything is read concurrently."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from amishare.aws.reads.convert import tags_of
from amishare.aws.reads.observer import Observer, owned_copies
from amishare.aws.reads.pointers import parameter_image, template_image
from amishare.aws.session import Sessions
from amishare.errors import AwsError
from amishare.model import TAG_RUN, Distribution, KeyInfo
from amishare.planners.transfer_spec import (
    Destination,
    DestinationCheck,
    OwnedCopy,
    Party,
    TransferObservation,
    TransferSpec,
)

__all__ = ["observe_transfer", "template_error"]

PREFLIGHT_THREADS = 16  # AssumeRole and DescribeKey wait on the network


def observe_transfer(sessions: Sessions, image_id: str, region: str, spec: TransferSpec) -> TransferObservation:
    """What the transfer planner needs: the image and its keys (as the source), each region's share key, and
    every destination's preflight (its role assumed, its key in each region described through that role, its
    launch template looked up, the copy it already owns).

    Everything is read concurrently; nothing is changed."""
    with ThreadPoolExecutor(max_workers=PREFLIGHT_THREADS, thread_name_prefix="amishare-preflight") as pool:
        roles = {d.account: pool.submit(_assume, sessions, d) for d in spec.destinations}
        source = _observe_source(sessions, image_id, region, spec.source, spec.share_keys)
        role_errors = {account: role.result() for account, role in roles.items()}
        reachable = [d for d in spec.destinations if role_errors[d.account] is None]
        where = [(d, r) for d in reachable for r in spec.regions]
        keys = {
            (d.account, r): pool.submit(_describe_as, sessions, d.account, r, ref)
            for d, r in where
            if (ref := spec.dest_key_for(d, r))
        }
        templates = {
            (d.account, r): pool.submit(template_error, sessions, d.account, r, template)
            for d, r in where
            if (template := spec.distribution.template_for(d))
        }
        owned = {
            (d.account, r): pool.submit(_owned_copy, sessions, d, r, image_id, spec.distribution) for d, r in where
        }
        checks = {d.account: DestinationCheck(d.account, role_errors[d.account]) for d in spec.destinations}
        _record(checks, keys, templates, owned)
    return replace(source, destinations=checks)


Reads = dict[tuple[str, str], "Future[Any]"]


def _record(checks: dict[str, DestinationCheck], keys: Reads, templates: Reads, owned: Reads) -> None:
    """Each destination's check, from what was read in each of its regions."""
    for (account, name), read in keys.items():
        try:
            checks[account].keys[name] = read.result()
        except AwsError as exc:
            checks[account].key_errors[name] = exc.aws_message or str(exc)
    for (account, name), found in templates.items():
        if found.result():
            checks[account].template_errors[name] = str(found.result())
    for (account, name), read in owned.items():
        if (copy := read.result()) is not None:
            checks[account].copies[name] = copy


def _assume(sessions: Sessions, destination: Destination) -> str | None:
    """None once ``destination``'s role is assumed, else why not."""
    assert destination.role is not None  # destinations always act through a role (transfer_request.py)
    try:
        sessions.assume(destination.role)
    except AwsError as exc:
        return exc.aws_message or str(exc)
    return None


def template_error(sessions: Sessions, account: str, region: str, template: str) -> str | None:
    """Why ``account`` has no launch template ``template`` (name or id) in ``region``; None when it has."""
    which = {"LaunchTemplateIds": [template]} if template.startswith("lt-") else {"LaunchTemplateNames": [template]}
    try:
        sessions.client("ec2", region, account).describe_launch_templates(**which)
    except AwsError as exc:
        return exc.aws_message or str(exc)
    return None


def _owned_copy(
    sessions: Sessions, dest: Destination, region: str, image_id: str, dist: Distribution
) -> OwnedCopy | None:
    """The available copy of ``image_id`` that ``dest`` owns in ``region`` (amishare's lineage tag; a staging
    copy is none), and what its SSM parameter and launch template name now; None when it owns none."""
    ec2 = sessions.client("ec2", region, dest.account)
    found = owned_copies(ec2, [image_id])
    if not found:
        return None
    image = max(found, key=lambda i: str(i.get("CreationDate", "")))
    parameter, template = dist.parameter_for(dest), dist.template_for(dest)
    return OwnedCopy(
        image_id=image["ImageId"],
        made_by=tags_of(image).get(TAG_RUN, ""),
        deprecated=bool(image.get("DeprecationTime")),
        protected=str(image.get("DeregistrationProtection", "")).startswith("enabled"),
        parameter_image=parameter_image(sessions, dest.account, region, parameter) if parameter else None,
        template_image=template_image(ec2, template, dist.set_default) if template else None,
    )


def _describe_as(sessions: Sessions, account: str, region: str, ref: str) -> KeyInfo:
    return Observer(sessions, region, account).described_key(ref, account)


def _observe_source(
    sessions: Sessions, image_id: str, region: str, source: Party, share_keys: dict[str, str]
) -> TransferObservation:
    """The image and its keys (as the source), and each region's share key, read concurrently."""
    caller = sessions.caller_account()
    if source.role:
        sessions.assume(source.role)
    who = None if source.role is None else source.account

    def share_key(name: str, ref: str) -> KeyInfo:
        return Observer(sessions, name, who).key(ref, source.account)

    with ThreadPoolExecutor(max_workers=1 + len(share_keys)) as pool:  # clients are built in the threads too
        found = {name: pool.submit(share_key, name, ref) for name, ref in share_keys.items()}
        observer = Observer(sessions, region, who)
        image = observer.image(image_id, source.account)
        keys = {arn: observer.key(arn, source.account) for arn in image.key_arns}
    return TransferObservation(caller, region, image, keys, {name: f.result() for name, f in found.items()})
