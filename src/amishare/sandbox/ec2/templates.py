"""Launch templates: versioned launch settings whose image may be an SSM parameter (``resolve:ssm:NAME``).

Rules (EC2 User Guide, "Launch templates", "Use a Systems Manager parameter instead of an AMI ID"; EC2 API
Reference, "CreateLaunchTemplate", "CreateLaunchTemplateVersion", "DescribeLaunchTemplateVersions"):

* a template has numbered versions from 1, a default version (1 until ``ModifyLaunchTemplate`` sets another)
  and a latest; ``$Default`` and ``$Latest`` name them; a new version may start from ``SourceVersion``'s data;
* names are unique per account and region (``InvalidLaunchTemplateName.AlreadyExistsException``); unknown
  ids and names are ``InvalidLaunchTemplateId.NotFound`` / ``InvalidLaunchTemplateName.NotFoundException``;
* ``ImageId`` may be ``resolve:ssm:NAME`` (or ``NAME:VERSION``): it is resolved at launch, and by
  ``DescribeLaunchTemplateVersions`` with ``ResolveAlias``; otherwise the template shows it as written;
* ``RunInstances`` with ``LaunchTemplate`` launches the version's image (its ``ImageId`` parameter wins).

The sandbox keeps the fields ``ImageId``, ``InstanceType``, ``KeyName``, ``UserData``, ``EbsOptimized`` and
``DisableApiTermination``; a template with any other field is refused (``UnsupportedOperation``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from amishare.policy.evaluate import Caller
from amishare.sandbox import ssm
from amishare.sandbox.ec2.common import check_dry_run, tag_list, tags_from_specs
from amishare.sandbox.state import World, new_id, utcnow
from amishare.sandbox.wire.protocol import AwsFault

FIELDS = ("ImageId", "InstanceType", "KeyName", "UserData", "EbsOptimized", "DisableApiTermination")
RESOLVE = "resolve:ssm:"


@dataclass
class TemplateVersion:
    number: int
    data: dict[str, Any]
    description: str = ""
    created: dt.datetime = field(default_factory=utcnow)


@dataclass
class Template:
    template_id: str
    name: str
    account: str
    region: str
    versions: list[TemplateVersion] = field(default_factory=list)
    default: int = 1
    tags: dict[str, str] = field(default_factory=dict)
    created: dt.datetime = field(default_factory=utcnow)

    def version(self, wanted: str | int | None) -> TemplateVersion:
        text = str(wanted or "$Default")
        number = self.default if text == "$Default" else self.versions[-1].number if text == "$Latest" else None
        if number is None:
            if not text.isdigit():
                raise AwsFault("InvalidLaunchTemplateVersion.Malformed", f"The version '{text}' is not valid.")
            number = int(text)
        found = next((v for v in self.versions if v.number == number), None)
        if found is None:
            raise AwsFault(
                "InvalidLaunchTemplateId.VersionNotFound",
                f"Could not find launch template version {text} for template {self.template_id}",
            )
        return found


def image_of(world: World, template: Template, version: TemplateVersion) -> str:
    """The version's image id, an SSM parameter resolved in the template's account and region."""
    image = str(version.data.get("ImageId", ""))
    return resolve_image(world, template.account, template.region, image, f" of launch template {template.template_id}")


def resolve_image(world: World, account: str, region: str, image: str, where: str = "") -> str:
    """``image``, or the value of the parameter ``resolve:ssm:NAME[:VERSION]`` names in ``account`` and ``region``
    (``InvalidParameterValue`` when there is none: the sandbox's choice of code)."""
    if not image.startswith(RESOLVE):
        return image
    resolved = ssm.resolve(world, account, region, image[len(RESOLVE) :])
    if resolved is None:
        raise AwsFault(
            "InvalidParameterValue",
            f"The SSM parameter {image[len(RESOLVE) :]}{where} does not exist or has no value",
        )
    return resolved


def find(world: World, caller: Caller, region: str, p: dict[str, Any]) -> Template:
    """The template ``p`` names by ``LaunchTemplateId`` or ``LaunchTemplateName``, as the caller sees it."""
    templates: list[Template] = [
        t for t in world.launch_templates.values() if t.account == caller.account and t.region == region
    ]
    if p.get("LaunchTemplateId"):
        found = next((t for t in templates if t.template_id == p["LaunchTemplateId"]), None)
        if found is None:
            raise AwsFault(
                "InvalidLaunchTemplateId.NotFound",
                f"The specified launch template, with template ID {p['LaunchTemplateId']}, does not exist.",
            )
        return found
    found = next((t for t in templates if t.name == p.get("LaunchTemplateName")), None)
    if found is None:
        raise AwsFault(
            "InvalidLaunchTemplateName.NotFoundException",
            f"The specified launch template, with template name {p.get('LaunchTemplateName')}, does not exist.",
        )
    return found


class TemplateHandlers:
    def __init__(self, world: World) -> None:
        self.world = world

    @staticmethod
    def _data(raw: dict[str, Any] | None) -> dict[str, Any]:
        data = dict(raw or {})
        unsupported = sorted(set(data) - set(FIELDS))
        if unsupported:
            raise AwsFault(
                "UnsupportedOperation",
                f"The amishare sandbox keeps only {', '.join(FIELDS)} of a launch template, not "
                f"{', '.join(unsupported)}; see docs/sandbox.md.",
            )
        return data

    @staticmethod
    def _summary(template: Template) -> dict[str, Any]:
        out: dict[str, Any] = {
            "LaunchTemplateId": template.template_id,
            "LaunchTemplateName": template.name,
            "CreateTime": template.created,
            "CreatedBy": f"arn:aws:iam::{template.account}:root",
            "DefaultVersionNumber": template.default,
            "LatestVersionNumber": template.versions[-1].number,
        }
        if template.tags:
            out["Tags"] = tag_list(template.tags)
        return out

    def _version_row(self, template: Template, version: TemplateVersion, resolve: bool) -> dict[str, Any]:
        data = dict(version.data)
        if resolve and str(data.get("ImageId", "")).startswith(RESOLVE):
            data["ImageId"] = image_of(self.world, template, version)
        return {
            "LaunchTemplateId": template.template_id,
            "LaunchTemplateName": template.name,
            "VersionNumber": version.number,
            "VersionDescription": version.description,
            "CreateTime": version.created,
            "CreatedBy": f"arn:aws:iam::{template.account}:root",
            "DefaultVersion": version.number == template.default,
            "LaunchTemplateData": data,
        }

    def CreateLaunchTemplate(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        name = str(p.get("LaunchTemplateName", ""))
        data = self._data(p.get("LaunchTemplateData"))
        with self.world.lock:
            if any(
                t.name == name and t.account == caller.account and t.region == region
                for t in self.world.launch_templates.values()
            ):
                raise AwsFault(
                    "InvalidLaunchTemplateName.AlreadyExistsException",
                    f"Launch template name already in use: {name}",
                )
            check_dry_run(p)
            template = Template(new_id("lt"), name, caller.account, region)
            template.tags = tags_from_specs(p.get("TagSpecifications") or [], "launch-template")
            template.versions.append(TemplateVersion(1, data, str(p.get("VersionDescription", ""))))
            self.world.launch_templates[template.template_id] = template
            return {"LaunchTemplate": self._summary(template)}

    def CreateLaunchTemplateVersion(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            template = find(self.world, caller, region, p)
            base = dict(template.version(p["SourceVersion"]).data) if p.get("SourceVersion") else {}
            base.update(self._data(p.get("LaunchTemplateData")))
            check_dry_run(p)
            version = TemplateVersion(template.versions[-1].number + 1, base, str(p.get("VersionDescription", "")))
            template.versions.append(version)
            return {"LaunchTemplateVersion": self._version_row(template, version, bool(p.get("ResolveAlias")))}

    def ModifyLaunchTemplate(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            template = find(self.world, caller, region, p)
            if p.get("DefaultVersion"):
                template.default = template.version(p["DefaultVersion"]).number
            return {"LaunchTemplate": self._summary(template)}

    def DescribeLaunchTemplates(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        ids, names = set(p.get("LaunchTemplateIds") or []), set(p.get("LaunchTemplateNames") or [])
        with self.world.lock:
            templates = [
                t
                for t in self.world.launch_templates.values()
                if t.account == caller.account
                and t.region == region
                and (not ids or t.template_id in ids)
                and (not names or t.name in names)
            ]
            if names - {t.name for t in templates}:
                raise AwsFault(
                    "InvalidLaunchTemplateName.NotFoundException",
                    "At least one of the launch templates specified in the request does not exist.",
                )
            return {"LaunchTemplates": [self._summary(t) for t in templates]}

    def DescribeLaunchTemplateVersions(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            template = find(self.world, caller, region, p)
            wanted = p.get("Versions") or []
            versions = [template.version(v) for v in wanted] if wanted else list(reversed(template.versions))
            resolve = bool(p.get("ResolveAlias"))
            return {"LaunchTemplateVersions": [self._version_row(template, v, resolve) for v in versions]}

    def DeleteLaunchTemplate(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            template = find(self.world, caller, region, p)
            check_dry_run(p)
            del self.world.launch_templates[template.template_id]
            return {"LaunchTemplate": self._summary(template)}
