"""SSM Parameter Store: parameters, versions, and the ``aws:ec2:image`` data type.

Rules (AWS Systems Manager User Guide, "Native parameter support for Amazon Machine Image IDs"; SSM API
Reference, "PutParameter", "GetParameter"):

* a parameter has a type (``String``, ``StringList``, ``SecureString``), a data type (``text`` by default, or
  ``aws:ec2:image``) and numbered versions; ``PutParameter`` of an existing name needs ``Overwrite``
  (``ParameterAlreadyExists``); ``GetParameter`` takes ``name`` or ``name:version`` (``ParameterNotFound``,
  ``ParameterVersionNotFound``);
* with ``aws:ec2:image`` the type must be ``String`` and the value an AMI id in form, checked at once
  (``ValidationException``); that the account can use the image (it exists in the region, is available and
  visible to the account) is checked after the call returns: when it cannot, the call still answered with a
  version but the parameter (or that version) is never created. The sandbox decides at once; what a reader
  sees afterwards is what AWS shows once its check is done.

Everything else in SSM is refused (``UnsupportedOperation``), never passed to moto.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from amishare.policy.evaluate import Caller
from amishare.sandbox import authz, events
from amishare.sandbox.ec2.common import can_launch, image_state
from amishare.sandbox.state import World, utcnow
from amishare.sandbox.wire.protocol import AwsFault

IMAGE_DATA_TYPE = "aws:ec2:image"
_AMI = re.compile(r"^ami-[0-9a-f]{8}([0-9a-f]{9})?$")
_TYPES = ("String", "StringList", "SecureString")


@dataclass
class Version:
    value: str
    number: int
    modified: Any = field(default_factory=utcnow)


@dataclass
class Parameter:
    name: str
    account: str
    region: str
    type: str
    data_type: str
    versions: list[Version] = field(default_factory=list)
    description: str = ""

    @property
    def arn(self) -> str:
        return f"arn:aws:ssm:{self.region}:{self.account}:parameter/{self.name.lstrip('/')}"

    def row(self, version: Version) -> dict[str, Any]:
        return {
            "Name": self.name,
            "Type": self.type,
            "Value": version.value,
            "Version": version.number,
            "LastModifiedDate": version.modified,
            "ARN": self.arn,
            "DataType": self.data_type,
        }


def resolve(world: World, account: str, region: str, reference: str) -> str | None:
    """The current value of parameter ``reference`` (``name`` or ``name:version``), None when there is none."""
    name, _, version = reference.partition(":")
    parameter: Parameter | None = world.parameters.get((account, region, name))
    if parameter is None or not parameter.versions:
        return None
    if version:
        found = next((v for v in parameter.versions if str(v.number) == version), None)
        return found.value if found else None
    return parameter.versions[-1].value


def _next_version(parameter: Parameter | None) -> int:
    """The number a new version of ``parameter`` gets: 1 for a new parameter."""
    return (parameter.versions[-1].number if parameter and parameter.versions else 0) + 1


class SsmHandlers:
    def __init__(self, world: World) -> None:
        self.world = world

    def PutParameter(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        name, value = str(p.get("Name", "")), str(p.get("Value", ""))
        data_type = str(p.get("DataType") or "text")
        if not name or len(name) > 2048:
            raise AwsFault("ValidationException", "Parameter name must be 1 to 2048 characters")
        if data_type not in ("text", IMAGE_DATA_TYPE):
            raise AwsFault("ValidationException", f"The data type {data_type} is not supported by the sandbox")
        with self.world.lock:
            key = (caller.account, region, name)
            parameter = self.world.parameters.get(key)
            if parameter is not None and not p.get("Overwrite"):
                raise AwsFault(
                    "ParameterAlreadyExists",
                    "The parameter already exists. To overwrite this value, set "
                    "the overwrite option in the request to true.",
                )
            kind = str(p.get("Type") or (parameter.type if parameter else ""))
            if kind not in _TYPES:
                raise AwsFault("ValidationException", "A parameter type is required when you create a parameter.")
            if data_type == IMAGE_DATA_TYPE:
                self._check_image_form(kind, value)
            number = _next_version(parameter)
            operation = "Create" if parameter is None else "Update"
            description = str(p.get("Description") or (parameter.description if parameter else ""))
            if data_type == IMAGE_DATA_TYPE and not self._usable(caller, region, value):
                # AWS's asynchronous check refuses it afterwards, and says so in the event
                refused = Parameter(name, caller.account, region, kind, data_type, description=description)
                events.parameter_changed(self.world, refused, operation, exception="Unable to Describe Resource")
                return {"Version": number, "Tier": "Standard"}
            if parameter is None:
                parameter = Parameter(name, caller.account, region, kind, data_type, description=description)
                self.world.parameters[key] = parameter
            parameter.type, parameter.data_type, parameter.description = kind, data_type, description
            parameter.versions.append(Version(value, number))
            events.parameter_changed(self.world, parameter, operation)
        return {"Version": number, "Tier": "Standard"}

    @staticmethod
    def _check_image_form(kind: str, value: str) -> None:
        if kind != "String":
            raise AwsFault("ValidationException", f"The data type {IMAGE_DATA_TYPE} needs the parameter type String.")
        if not _AMI.match(value):
            raise AwsFault(
                "ValidationException",
                f"Parameter value, {value}, is not in a valid format for the data type {IMAGE_DATA_TYPE}: give an "
                "AMI id (ami-...).",
            )

    def _usable(self, caller: Caller, region: str, image_id: str) -> bool:
        """Whether SSM's check of an ``aws:ec2:image`` value passes: the image exists in the region, is available and
        launchable by the account, and the caller may describe it (SSM checks with the caller's permissions: a role
        without ``ec2:DescribeImages`` gets a version and no parameter, when the sandbox enforces IAM)."""
        image = self.world.images.get(image_id)
        describe = authz.Check("ec2:DescribeImages", (f"arn:aws:ec2:{region}::image/{image_id}",))
        return (
            authz.allows(self.world, caller, describe)
            and image is not None
            and image.region == region
            and can_launch(self.world, image, caller.account)
            and image_state(self.world, image)[0] == "available"
        )

    def GetParameter(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        reference = str(p.get("Name", ""))
        name, _, version = reference.partition(":")
        with self.world.lock:
            parameter = self.world.parameters.get((caller.account, region, name))
            if parameter is None or not parameter.versions:
                raise AwsFault("ParameterNotFound", f"Parameter {name} not found.")
            found = parameter.versions[-1]
            if version:
                match = next((v for v in parameter.versions if str(v.number) == version), None)
                if match is None:
                    raise AwsFault("ParameterVersionNotFound", f"Version {version} of parameter {name} not found.")
                found = match
            return {"Parameter": parameter.row(found)}

    def GetParameters(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        rows, invalid = [], []
        for reference in p.get("Names") or []:
            try:
                rows.append(self.GetParameter(caller, region, {"Name": reference})["Parameter"])
            except AwsFault:
                invalid.append(reference)
        return {"Parameters": rows, "InvalidParameters": invalid}

    def DeleteParameter(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            deleted = self.world.parameters.pop((caller.account, region, str(p.get("Name", ""))), None)
            if deleted is None:
                raise AwsFault("ParameterNotFound", f"Parameter {p.get('Name')} not found.")
            events.parameter_changed(self.world, deleted, "Delete")
        return {}

    def GetParameterHistory(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            parameter = self.world.parameters.get((caller.account, region, str(p.get("Name", ""))))
            if parameter is None:
                raise AwsFault("ParameterNotFound", f"Parameter {p.get('Name')} not found.")
            return {"Parameters": [parameter.row(v) for v in parameter.versions]}
