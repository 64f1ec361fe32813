"""What a transfer is (pure data): who hands the image over, to whom, in which regions, with which keys and options
(``TransferSpec``, resolved from a request by ``planners.transfer_request``), and what the preflight observed
of the image and the destinations (``TransferObservation``), the two inputs of ``planners.transfer``."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from amishare.model import Distribution, ImageInfo, KeyInfo, RoleRef


@dataclass(frozen=True)
class Party:
    """An account amishare acts in, and how to get there."""

    account: str
    role: RoleRef | None = None  # None: the caller's own credentials
    label: str = ""

    @staticmethod
    def fields_from(data: dict[str, Any]) -> dict[str, Any]:
        """The constructor's fields from a party of ``TransferSpec.to_dict``'s JSON, where the role is flat
        (``role_arn``, ``external_id``)."""
        fields = {k: v for k, v in data.items() if k not in ("role_arn", "external_id")}
        role_arn = data.get("role_arn")
        fields["role"] = RoleRef(data["account"], role_arn, data.get("external_id")) if role_arn else None
        return fields


@dataclass(frozen=True)
class Destination(Party):
    """An account the image is handed to: its keys per region and its own distribution names."""

    keys: dict[str, str] = field(default_factory=dict)  # region -> key reference for its copies
    ssm_parameter: str | None = None  # its own parameter name (overrides the transfer's)
    launch_template: str | None = None  # its own launch template (overrides the transfer's)


@dataclass(frozen=True)
class TransferSpec:
    """A transfer, validated and resolved: who, where, with which keys and options."""

    source: Party
    destinations: tuple[Destination, ...]
    regions: tuple[str, ...]
    share_keys: dict[str, str] = field(default_factory=dict)  # region -> the source's share key reference
    dest_key: str | None = None  # one key reference for every destination (overrides their config)
    allow_default_key: bool = False
    keep_share: bool = False
    keep_staging: bool = False
    grant_autoscaling: bool = False
    timeout: float = 24 * 3600
    notify_email: str | None = None
    ses_sender: str | None = None
    notify_sns: str | None = None
    key_access: str = "auto"  # "policy", "grant", or "auto": the key policy while the destinations fit in it
    distribution: Distribution = field(default_factory=Distribution)
    expansions: tuple[str, ...] = ()  # what each organization or OU of --to expanded to, for the plan's notes

    def dest_key_for(self, destination: Destination, region: str) -> str | None:
        return self.dest_key or destination.keys.get(region)

    def to_dict(self) -> dict[str, Any]:
        """JSON data (kept in the plan, so that a resume can plan a destination's part again)."""
        data: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(self)))  # tuples as lists, as stored
        for party in (data["source"], *data["destinations"]):  # a party's role stays flat, as it always was
            role = party.pop("role")
            if role:
                party["role_arn"] = role["role_arn"]
                if role["external_id"]:
                    party["external_id"] = role["external_id"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TransferSpec:
        fields = dict(data)
        fields["source"] = Party(**Party.fields_from(data["source"]))
        fields["destinations"] = tuple(Destination(**Party.fields_from(d)) for d in data["destinations"])
        fields["regions"] = tuple(data["regions"])
        fields["distribution"] = Distribution(**data.get("distribution", {}))
        fields["expansions"] = tuple(data.get("expansions", ()))
        return cls(**fields)


@dataclass(frozen=True)
class OwnedCopy:
    """A copy of the source image that a destination already owns in a region (amishare's lineage tag says so),
    and what its distribution settings point at now: what a transfer run again must not redo."""

    image_id: str
    made_by: str = ""  # the run that made it
    deprecated: bool = False  # it has a deprecation time
    protected: bool = False  # deregistration protection is on
    parameter_image: str | None = None  # the image its SSM parameter names (None: no parameter, or not read)
    template_image: str | None = None  # the image its launch template's version names (None: not read)


@dataclass(frozen=True)
class DestinationCheck:
    """What the preflight found in one destination: can its role be assumed, its key and the copy it already
    owns in each region."""

    account: str
    role_error: str | None = None
    copies: dict[str, OwnedCopy] = field(default_factory=dict)  # region -> its available copy of the image
    keys: dict[str, KeyInfo] = field(default_factory=dict)  # region -> the key its copies will use
    key_errors: dict[str, str] = field(default_factory=dict)  # region -> why that key could not be read
    template_errors: dict[str, str] = field(default_factory=dict)  # region -> why its launch template is unusable


@dataclass(frozen=True)
class TransferObservation:
    """What the preflight read: the image and its keys, the share keys per region, each destination's check."""

    caller_account: str
    source_region: str
    image: ImageInfo
    keys: dict[str, KeyInfo]  # the image's keys
    share_keys: dict[str, KeyInfo]  # region -> the source account's share key there
    destinations: dict[str, DestinationCheck] = field(default_factory=dict)  # account -> its preflight
