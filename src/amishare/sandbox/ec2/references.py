"""What in an account refers to an image: ``DescribeImageReferences`` (EC2 User Guide, "Identify your resources
referencing specified AMIs"; EC2 API Reference, "DescribeImageReferences").

* at most 10 image ids per call; the caller's own resources in the region only;
* ``ec2:Instance``: instances launched from the image, in any state unless the ``state-name`` option names
  some; ``ec2:LaunchTemplate``: templates whose ``ImageId`` is the image in one of their ``version-depth``
  most recent versions (default 10); ``ssm:Parameter``: parameters whose current value is the image;
* ``IncludeAllResourceTypes`` checks every type with the defaults; one of it or ``ResourceTypes`` is needed.
  Image Builder recipes are not emulated (never referenced here).
"""

from __future__ import annotations

from typing import Any

from amishare.policy.evaluate import Caller
from amishare.sandbox.ec2.common import check_dry_run, check_image_id
from amishare.sandbox.state import World
from amishare.sandbox.wire.protocol import AwsFault

TYPES = (
    "ec2:Instance",
    "ec2:LaunchTemplate",
    "ssm:Parameter",
    "imagebuilder:ImageRecipe",
    "imagebuilder:ContainerRecipe",
)
DEFAULT_DEPTH = 10


def _options(request: dict[str, Any]) -> dict[str, list[str]]:
    return {
        str(o.get("OptionName")): [str(v) for v in o.get("OptionValues") or []]
        for o in request.get("ResourceTypeOptions") or []
    }


class ReferenceHandlers:
    def __init__(self, world: World) -> None:
        self.world = world

    def DescribeImageReferences(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        ids = list(p.get("ImageIds") or [])
        if not 1 <= len(ids) <= 10:
            raise AwsFault("InvalidParameterValue", "ImageIds must name 1 to 10 images")
        for image_id in ids:
            check_image_id(image_id)
        requested = {str(r.get("ResourceType")): _options(r) for r in p.get("ResourceTypes") or []}
        if not requested and not p.get("IncludeAllResourceTypes"):
            raise AwsFault("MissingParameter", "Either IncludeAllResourceTypes or ResourceTypes must be specified.")
        unknown = [t for t in requested if t not in TYPES]
        if unknown:
            raise AwsFault("InvalidParameterValue", f"Unsupported resource type: {unknown[0]}")
        if p.get("IncludeAllResourceTypes"):
            requested = {t: requested.get(t, {}) for t in TYPES}
        check_dry_run(p)
        with self.world.lock:
            rows = []
            for image_id in ids:
                rows += self._instances(caller, region, image_id, requested)
                rows += self._templates(caller, region, image_id, requested)
                rows += self._parameters(caller, region, image_id, requested)
        return {"ImageReferences": rows}

    def _instances(
        self, caller: Caller, region: str, image_id: str, requested: dict[str, dict[str, list[str]]]
    ) -> list[dict[str, str]]:
        if "ec2:Instance" not in requested:
            return []
        states = set(requested["ec2:Instance"].get("state-name") or [])
        return [
            {
                "ImageId": image_id,
                "ResourceType": "ec2:Instance",
                "Arn": f"arn:aws:ec2:{region}:{caller.account}:instance/{i.instance_id}",
            }
            for i in self.world.instances.values()
            if i.account == caller.account
            and i.region == region
            and i.image_id == image_id
            and (not states or i.state in states)
        ]

    def _templates(
        self, caller: Caller, region: str, image_id: str, requested: dict[str, dict[str, list[str]]]
    ) -> list[dict[str, str]]:
        if "ec2:LaunchTemplate" not in requested:
            return []
        depth = int((requested["ec2:LaunchTemplate"].get("version-depth") or [str(DEFAULT_DEPTH)])[0])
        return [
            {
                "ImageId": image_id,
                "ResourceType": "ec2:LaunchTemplate",
                "Arn": f"arn:aws:ec2:{region}:{caller.account}:launch-template/{t.template_id}",
            }
            for t in self.world.launch_templates.values()
            if t.account == caller.account
            and t.region == region
            and any(v.data.get("ImageId") == image_id for v in t.versions[-depth:])
        ]

    def _parameters(
        self, caller: Caller, region: str, image_id: str, requested: dict[str, dict[str, list[str]]]
    ) -> list[dict[str, str]]:
        if "ssm:Parameter" not in requested:
            return []
        return [
            {"ImageId": image_id, "ResourceType": "ssm:Parameter", "Arn": parameter.arn}
            for (account, where, _), parameter in self.world.parameters.items()
            if account == caller.account
            and where == region
            and parameter.versions
            and parameter.versions[-1].value == image_id
        ]
