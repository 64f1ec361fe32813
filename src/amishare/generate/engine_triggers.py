"""The engine's triggers (pure; ``amishare engine template``): the EventBridge rules that start a run, and the
execution input each sends (``INPUT_CONTRACT``; docs/engine.md, "Deployment").

* ``Parameter Store Change`` of an SSM parameter a family selects by (one rule per parameter: the family is known);
* ``EC2 AMI State Change`` to ``available`` in the source account, when a family selects by name, tags or id (the
  event names the image only: which family it concerns is the runner's to decide, unless one family can be meant);
* a schedule reconciling every family.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from amishare.planners.manifest.model import ById, BySsmParameter, Manifest

DEFAULT_SCHEDULE = "rate(1 day)"

INPUT_CONTRACT = {
    "trigger": "the event's id (EventBridge's $.id): one run per event, however often it is delivered",
    "family": "the family the event concerns, when the rule can know it (one family selects by that parameter, "
    "or only one family is started by images); absent: the runner decides (today: every family)",
    "parameter": "Parameter Store Change: the parameter's name ($.detail.name)",
    "image": "EC2 AMI State Change: the image that became available ($.detail.ImageId)",
    "region": "EC2 AMI State Change: the image's region ($.region)",
    "schedule": "the schedule: the time it fired ($.time); no family: every family is reconciled",
    "drift_topic": "the schedule, when --drift-topic was given: where drift is to be published",
}


@dataclass(frozen=True)
class Trigger:
    """One EventBridge rule: what it matches (an event pattern, or a schedule) and the execution input it sends
    (``fields``, its ``<name>`` placeholders filled from the event at ``paths``)."""

    description: str
    paths: dict[str, str]
    fields: dict[str, str]
    pattern: dict[str, Any] | None = None
    schedule: str | None = None

    @property
    def input_template(self) -> str:
        """EventBridge's InputTemplate: the fields as JSON, each placeholder inside a string (the value inserted as
        it is: event ids, parameter names, image ids and times hold no quote)."""
        return json.dumps(self.fields)

    def resource(self) -> dict[str, Any]:
        """The ``AWS::Events::Rule``, targeting the engine's state machine through the triggers' role."""
        properties: dict[str, Any] = {"Description": self.description[:512], "State": "ENABLED"}
        if self.pattern is not None:
            properties["EventPattern"] = self.pattern
        if self.schedule is not None:
            properties["ScheduleExpression"] = self.schedule
        properties["Targets"] = [
            {
                "Id": "engine",
                "Arn": {"Ref": "Engine"},
                "RoleArn": {"Fn::GetAtt": ["TriggerRole", "Arn"]},
                "InputTransformer": {"InputPathsMap": self.paths, "InputTemplate": self.input_template},
            }
        ]
        return {"Type": "AWS::Events::Rule", "Properties": properties}


def source_account(manifest: Manifest) -> Any:
    """The manifest's source account, or the stack's own account (the runner runs as the source)."""
    source = manifest.defaults.source
    return source.value if source is not None else {"Ref": "AWS::AccountId"}


def triggers(
    manifest: Manifest, schedule: str = DEFAULT_SCHEDULE, drift_topic: str | None = None
) -> dict[str, Trigger]:
    """The rules starting runs, by logical id: one per SSM parameter the families select by, one for images
    becoming available (when a family selects by name, tags or id), and the schedule (``drift_topic``: where the
    scheduled reconcile is to publish drift, in its input)."""
    account = source_account(manifest)
    found: dict[str, Trigger] = {}
    by_parameter: dict[str, list[str]] = {}
    for image in manifest.images:
        if isinstance(image.select, BySsmParameter):
            by_parameter.setdefault(image.select.name, []).append(image.family)
    for parameter, families in by_parameter.items():
        found[_logical_id("Parameter", families, found)] = Trigger(
            description=f"amishare: {parameter} created or updated, a run of {', '.join(families)}",
            pattern={
                "source": ["aws.ssm"],
                "detail-type": ["Parameter Store Change"],
                "account": [account],
                "detail": {"name": [parameter], "operation": ["Create", "Update"]},
            },
            paths={"id": "$.id", "name": "$.detail.name"},
            fields={"trigger": "<id>", **_one_family(families), "parameter": "<name>"},
        )
    by_image = [i for i in manifest.images if not isinstance(i.select, BySsmParameter)]
    if by_image:
        detail: dict[str, Any] = {"State": ["available"]}
        ids = [i.select.image_id for i in by_image if isinstance(i.select, ById)]
        if len(ids) == len(by_image):  # every one by id: only those images
            detail["ImageId"] = sorted(set(ids))
        families = [i.family for i in by_image]
        found["ImageAvailable"] = Trigger(
            description=f"amishare: an image of the source became available, a run of {', '.join(families)}",
            pattern={
                "source": ["aws.ec2"],
                "detail-type": ["EC2 AMI State Change"],
                "account": [account],
                "detail": detail,
            },
            paths={"id": "$.id", "image": "$.detail.ImageId", "region": "$.region"},
            fields={"trigger": "<id>", **_one_family(families), "image": "<image>", "region": "<region>"},
        )
    reconcile = {"trigger": "<id>", "schedule": "<time>"}
    if drift_topic:
        reconcile["drift_topic"] = drift_topic
    found["Reconcile"] = Trigger(
        description=f"amishare: every family reconciled, {schedule}",
        paths={"id": "$.id", "time": "$.time"},
        fields=reconcile,
        schedule=schedule,
    )
    return found


def _one_family(families: list[str]) -> dict[str, str]:
    return {"family": families[0]} if len(families) == 1 else {}


def _logical_id(prefix: str, families: list[str], taken: Iterable[str]) -> str:
    """``ParameterAl2023Base``: the family's name in CamelCase (letters and digits only), numbered when taken."""
    words = re.split(r"[^A-Za-z0-9]+", families[0]) if len(families) == 1 else ["Shared"]
    base = prefix + "".join(w[:1].upper() + w[1:] for w in words if w)
    name, number, used = base, 1, set(taken)
    while name in used:
        number += 1
        name = f"{base}{number}"
    return name
