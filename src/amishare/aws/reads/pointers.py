"""What an account's pointers name now (read-only): the image its SSM parameter holds and the image its launch
template's latest version launches, read through the account's role. A share and a transfer compare them with
the image they distribute, so a pointer already right is not written again."""

from __future__ import annotations

from typing import Any

from amishare.aws.reads.convert import launch_template_ref
from amishare.aws.session import Sessions
from amishare.errors import AwsError
from amishare.model import Distribution
from amishare.planners.distribution import Pointing

__all__ = ["parameter_image", "pointing", "template_image"]


def pointing(sessions: Sessions, account: str, region: str, dist: Distribution) -> Pointing:
    """What ``account``'s parameter and launch template of ``dist`` name in ``region`` (its role assumed before)."""
    parameter = parameter_image(sessions, account, region, dist.ssm_parameter) if dist.ssm_parameter else None
    template = None
    if dist.launch_template:
        template = template_image(sessions.client("ec2", region, account), dist.launch_template, dist.set_default)
    return Pointing(parameter, template)


def parameter_image(sessions: Sessions, account: str, region: str, name: str) -> str | None:
    """The image an SSM parameter names now; None when it does not exist."""
    try:
        return str(sessions.client("ssm", region, account).get_parameter(Name=name)["Parameter"]["Value"])
    except AwsError as exc:
        if exc.code == "ParameterNotFound":
            return None
        raise


def template_image(ec2: Any, template: str, set_default: bool) -> str | None:
    """The image the launch template's latest version names (when it must also be the default and is not: None)."""
    versions = ec2.describe_launch_template_versions(**launch_template_ref(template), Versions=["$Latest"])
    (latest,) = versions["LaunchTemplateVersions"]
    if set_default and not latest.get("DefaultVersion"):
        return None
    image = latest.get("LaunchTemplateData", {}).get("ImageId")
    return str(image) if image else None
