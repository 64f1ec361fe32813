"""Auto Scaling: groups that launch instances through the account's service-linked role.

Rules (docs/aws-facts.md section 2; Amazon EC2 Auto Scaling User Guide, "Required AWS KMS key policy for use with
encrypted volumes"; AWS Knowledge Center, "Why does my Auto Scaling group fail to launch instances with
encrypted volumes"):

* a group launches as ``AWSServiceRoleForAutoScaling`` of its account, not as the caller: a key policy
  statement naming the account (its root) does not cover that role (its identity policy, written by AWS,
  grants no KMS permission); a statement naming the role's ARN, or a grant to it, does. For another
  account's key, the account creates that grant itself (the key policy must let it ``kms:CreateGrant``);
* an instance whose key the role cannot use is launched and terminated: the scaling activity fails with
  ``Instance became unhealthy while waiting for instance to be in InService state. Termination Reason:
  Client.InternalError: Client error on launch``; a healthy one is ``InService``;
* the image must be launchable by the account (launch permission, available, Allowed AMIs), checked at
  ``CreateLaunchConfiguration`` (``ValidationError``), or, for a group made with a launch template, at
  ``CreateAutoScalingGroup`` (``ValidationError``, "You must use a valid fully-formed launch template");
* a group is made with a launch configuration or a launch template (``LaunchTemplate``: ``LaunchTemplateId`` or
  ``LaunchTemplateName``, and ``Version``: a number, ``$Default`` (when none is given) or ``$Latest``), never both
  (EC2 Auto Scaling API Reference, CreateAutoScalingGroup, LaunchTemplateSpecification; accounts created since
  2024-10-01 cannot create launch configurations: EC2 Auto Scaling User Guide, "Launch configurations"); the
  version's image (an SSM parameter resolved) is the one launched.

Emulated: launch configurations, launch templates and groups (``CreateLaunchConfiguration``,
``CreateAutoScalingGroup`` with ``DesiredCapacity`` launched at once, ``DescribeAutoScalingGroups``,
``DescribeScalingActivities``, ``DeleteAutoScalingGroup``, ``DescribeLaunchConfigurations``,
``DeleteLaunchConfiguration``). Mixed instances policies and scaling are not.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from amishare.policy.evaluate import Caller
from amishare.sandbox.ec2 import templates
from amishare.sandbox.ec2.instances import launch_failure, launchable, start_instance
from amishare.sandbox.state import World, new_id, utcnow
from amishare.sandbox.wire.protocol import AwsFault

SERVICE_ROLE = "arn:aws:iam::{account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
UNHEALTHY = (
    "Instance became unhealthy while waiting for instance to be in InService state. Termination Reason: "
    "Client.InternalError: Client error on launch"
)


def service_role(account: str) -> Caller:
    """The principal Auto Scaling launches as in ``account``."""
    role = SERVICE_ROLE.format(account=account)
    return Caller(
        account=account,
        arn=f"arn:aws:sts::{account}:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling",
        role_arn=role,
        delegated=False,
    )


@dataclass
class Group:
    name: str
    account: str
    region: str
    configuration: str | None  # the launch configuration's name, or None: made with ``template``
    desired: int
    template: dict[str, str] | None = None  # LaunchTemplateId, LaunchTemplateName, Version (as asked)
    instances: list[str] = field(default_factory=list)  # InService instance ids
    activities: list[dict[str, Any]] = field(default_factory=list)
    created: dt.datetime = field(default_factory=utcnow)


def _template_spec(raw: dict[str, Any]) -> dict[str, str]:
    """A ``LaunchTemplateSpecification``: an id or a name (not both), and a version (``$Default`` when none)."""
    if bool(raw.get("LaunchTemplateId")) == bool(raw.get("LaunchTemplateName")):
        raise AwsFault(
            "ValidationError", "Valid requests must contain either launchTemplateId or LaunchTemplateName, not both."
        )
    which = {k: str(raw[k]) for k in ("LaunchTemplateId", "LaunchTemplateName") if raw.get(k)}
    return {**which, "Version": str(raw.get("Version") or "$Default")}


class AutoScalingHandlers:
    def __init__(self, world: World) -> None:
        self.world = world

    @property
    def configurations(self) -> dict[tuple[str, str, str], dict[str, str]]:
        return self.world.launch_configurations

    @property
    def groups(self) -> dict[tuple[str, str, str], Group]:
        return self.world.autoscaling_groups

    def CreateLaunchConfiguration(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        name = str(p.get("LaunchConfigurationName", ""))
        key = (caller.account, region, name)
        with self.world.lock:
            if key in self.configurations:
                raise AwsFault("AlreadyExists", f"Launch Configuration by this name ({name}) already exists")
            try:
                launchable(self.world, service_role(caller.account), region, str(p.get("ImageId", "")))
            except AwsFault as fault:
                raise AwsFault("ValidationError", f"Invalid image: {fault.message}") from fault
            self.configurations[key] = {"ImageId": str(p["ImageId"]), "InstanceType": str(p.get("InstanceType", ""))}
        return {}

    def DescribeLaunchConfigurations(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        wanted = set(p.get("LaunchConfigurationNames") or [])
        with self.world.lock:
            rows = [
                {
                    "LaunchConfigurationName": name,
                    "LaunchConfigurationARN": f"arn:aws:autoscaling:{region}:{account}:launchConfiguration:"
                    f"{name}:launchConfigurationName/{name}",
                    "ImageId": config["ImageId"],
                    "InstanceType": config["InstanceType"] or "m1.small",
                    "CreatedTime": utcnow(),
                }
                for (account, where, name), config in sorted(self.configurations.items())
                if account == caller.account and where == region and (not wanted or name in wanted)
            ]
        return {"LaunchConfigurations": rows}

    def DeleteLaunchConfiguration(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            self.configurations.pop((caller.account, region, str(p.get("LaunchConfigurationName", ""))), None)
        return {}

    def CreateAutoScalingGroup(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("MixedInstancesPolicy"):
            raise AwsFault(
                "UnsupportedOperation",
                "The amishare sandbox does not emulate mixed instances policies; see docs/sandbox.md.",
            )
        name = str(p.get("AutoScalingGroupName", ""))
        if bool(p.get("LaunchTemplate")) == bool(p.get("LaunchConfigurationName")):
            raise AwsFault(
                "ValidationError",
                "Valid requests must contain either LaunchTemplate, LaunchConfigurationName, InstanceId or "
                "MixedInstancesPolicy parameter.",
            )
        with self.world.lock:
            if (caller.account, region, name) in self.groups:
                raise AwsFault("AlreadyExists", f"AutoScalingGroup by this name ({name}) already exists")
            desired = int(p.get("DesiredCapacity", p.get("MinSize", 0)))
            if p.get("LaunchTemplate"):
                spec = _template_spec(p["LaunchTemplate"])
                group = Group(name, caller.account, region, None, desired, template=spec)
                launch = self._from_template(caller, region, spec)
            else:
                configuration = self.configurations.get((caller.account, region, str(p["LaunchConfigurationName"])))
                if configuration is None:
                    raise AwsFault("ValidationError", "Launch configuration name not found")
                group = Group(name, caller.account, region, str(p["LaunchConfigurationName"]), desired)
                launch = (configuration["ImageId"], configuration["InstanceType"] or "m1.small")
            self.groups[(caller.account, region, name)] = group
            for _ in range(desired):
                self._launch(group, *launch)
        return {}

    def _from_template(self, caller: Caller, region: str, spec: dict[str, str]) -> tuple[str, str]:
        """(image, instance type) of the template version ``spec`` names, the image launchable by the account's
        service-linked role; else ``ValidationError``, as AWS answers a template it cannot launch from."""
        try:
            template = templates.find(self.world, caller, region, spec)
            version = template.version(spec["Version"])
            image = templates.image_of(self.world, template, version)
            launchable(self.world, service_role(caller.account), region, image)
        except AwsFault as fault:
            raise AwsFault(
                "ValidationError", f"You must use a valid fully-formed launch template. {fault.message}"
            ) from fault
        spec.update(LaunchTemplateId=template.template_id, LaunchTemplateName=template.name)
        return image, str(version.data.get("InstanceType") or "m1.small")

    def _launch(self, group: Group, image_id: str, instance_type: str) -> None:
        role = service_role(group.account)
        image = launchable(self.world, role, group.region, image_id)
        failure = launch_failure(self.world, image, role, group.region)
        instance = start_instance(self.world, role, group.region, image, instance_type, new_id("r"), failure, {})
        activity = {
            "ActivityId": new_id("act", 16),
            "AutoScalingGroupName": group.name,
            "Description": f"Launching a new EC2 instance: {instance.instance_id}",
            "Cause": "An instance was started in response to a difference between desired and actual capacity",
            "StartTime": utcnow(),
            "EndTime": utcnow(),
            "StatusCode": "Failed" if failure else "Successful",
            "Progress": 100,
        }
        if failure:
            activity["StatusMessage"] = UNHEALTHY
        else:
            group.instances.append(instance.instance_id)
        group.activities.insert(0, activity)

    def DescribeAutoScalingGroups(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        wanted = set(p.get("AutoScalingGroupNames") or [])
        with self.world.lock:
            groups = [
                g
                for (account, where, name), g in sorted(self.groups.items())
                if account == caller.account and where == region and (not wanted or name in wanted)
            ]
            rows = [self._describe(g) for g in groups]
        return {"AutoScalingGroups": rows}

    def _describe(self, group: Group) -> dict[str, Any]:
        launch: dict[str, Any] = {"LaunchTemplate": dict(group.template or {})}
        if group.configuration:
            launch = {"LaunchConfigurationName": group.configuration}
        return {
            "AutoScalingGroupName": group.name,
            "AutoScalingGroupARN": f"arn:aws:autoscaling:{group.region}:{group.account}:autoScalingGroup:"
            f"{new_id('g', 8)[2:]}:autoScalingGroupName/{group.name}",
            **launch,
            "MinSize": 0,
            "MaxSize": max(group.desired, 1),
            "DesiredCapacity": group.desired,
            "DefaultCooldown": 300,
            "AvailabilityZones": [f"{group.region}a"],
            "HealthCheckType": "EC2",
            "CreatedTime": group.created,
            "ServiceLinkedRoleARN": SERVICE_ROLE.format(account=group.account),
            "Instances": [
                {
                    "InstanceId": i,
                    "AvailabilityZone": f"{group.region}a",
                    "LifecycleState": "InService",
                    "HealthStatus": "Healthy",
                    **launch,
                    "ProtectedFromScaleIn": False,
                }
                for i in group.instances
            ],
        }

    def DescribeScalingActivities(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            group = self.groups.get((caller.account, region, str(p.get("AutoScalingGroupName", ""))))
            activities = [dict(a) for a in group.activities] if group else []
        return {"Activities": activities}

    def DeleteAutoScalingGroup(self, caller: Caller, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.world.lock:
            group = self.groups.pop((caller.account, region, str(p.get("AutoScalingGroupName", ""))), None)
            if group is None:
                raise AwsFault("ValidationError", "AutoScalingGroup name not found")
            for instance_id in group.instances:
                self.world.instances[instance_id].terminated = True
        return {}
