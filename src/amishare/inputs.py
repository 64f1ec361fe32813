"""Validation of what users type: image ids, regions, targets, keys (pure, before any AWS call).

Every error names the value and the fix, and is a ``UsageError`` (exit code 2).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from amishare.config import Config
from amishare.errors import UsageError
from amishare.model import (
    ACCOUNT_ID,
    IMAGE_ID,
    KEY_REF,
    ORG_ARN,
    OU_ARN,
    PUBLIC,
    REGION,
    Target,
    TargetKind,
    duration_seconds,
)

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SNS_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")


def image_id(value: str) -> str:
    if not IMAGE_ID.match(value):
        raise UsageError(
            f"{value!r} is not an AMI id: write it as ami- followed by 8 or 17 hex digits, e.g. ami-0123456789abcdef0"
        )
    return value


def region(value: str, known: Iterable[str] | None = None) -> str:
    if not REGION.match(value):
        raise UsageError(f"{value!r} is not an AWS region: write it like us-east-1 (--region)")
    known_set = set(known or ())
    if known_set and value not in known_set:
        raise UsageError(f"unknown region {value!r}: known regions include {', '.join(sorted(known_set)[:8])} ...")
    return value


def key_ref(value: str, what: str = "key") -> str:
    if not KEY_REF.match(value):
        raise UsageError(
            f"{value!r} is not a KMS {what} reference: give a key id, key ARN, alias (alias/name) or alias ARN"
        )
    return value


def target(value: str, config: Config) -> Target:
    """An account id, a config account name, an organization ARN, an OU ARN, or ``public``."""
    text = value.strip()
    if text == "public":
        return PUBLIC
    if ACCOUNT_ID.match(text):
        named = config.account_by_id(text)
        return Target(TargetKind.ACCOUNT, text, named.name if named else "")
    if ORG_ARN.match(text):
        return Target(TargetKind.ORGANIZATION, text)
    if OU_ARN.match(text):
        return Target(TargetKind.OU, text)
    named = config.account_named(text)
    if named is not None:
        return Target(TargetKind.ACCOUNT, named.id, named.name)
    if text.isdigit():
        raise UsageError(
            f"target {value!r} is not an account id: account ids have exactly 12 digits (this has {len(text)})"
        )
    if text.startswith("arn:"):
        raise UsageError(
            f"target {value!r} is not an organization ARN (arn:aws:organizations::<management "
            "account>:organization/o-...) nor an OU ARN (arn:aws:organizations::<management account>"
            ":ou/o-.../ou-...-...)"
        )
    names = ", ".join(sorted(config.accounts)) or "none: add [accounts.NAME] sections to amishare.toml"
    raise UsageError(
        f"target {value!r} is not an account id (12 digits), an account name from the config "
        f"(known: {names}), an organization or OU ARN, or 'public'"
    )


def targets(values: Iterable[str], config: Config) -> tuple[Target, ...]:
    found = [target(v, config) for v in values]
    if not found:
        raise UsageError(
            "no target given: name at least one with --to (an account id or name, an organization or OU ARN, or public)"
        )
    unique: list[Target] = []
    for item in found:
        if item not in unique:
            unique.append(item)
    return tuple(unique)


def duration(value: str) -> float:
    """``90``, ``45s``, ``30m``, ``24h``, ``1d12h`` -> seconds."""
    seconds = duration_seconds(value)
    if seconds is None:
        raise UsageError(f"{value!r} is not a duration: write it like 90s, 30m, 24h or 1d12h")
    if seconds <= 0:
        raise UsageError(f"duration {value!r} must be longer than zero")
    return seconds


# SSM API Reference, "PutParameter": names of letters, digits and . - _ /, at most 2,048 characters, not
# beginning with aws or ssm (reserved); a path has at most 15 levels.
SSM_NAME = re.compile(r"^/?[a-zA-Z0-9_.\-]+(/[a-zA-Z0-9_.\-]+)*$")
# EC2 API Reference, "CreateLaunchTemplate": a name of 3 to 128 of [a-zA-Z0-9().-/_]; an id lt- and 17 hex.
LAUNCH_TEMPLATE_NAME = re.compile(r"^[a-zA-Z0-9().\-/_]{3,128}$")
LAUNCH_TEMPLATE_ID = re.compile(r"^lt-[0-9a-f]{17}$")
COPY_MINUTES = (15, 2880)  # docs/aws-facts.md section 3: time-based copies, 15 minutes to 48 hours, 15-minute steps


def ssm_parameter(value: str) -> str:
    bare = value.lstrip("/")
    if (
        not SSM_NAME.match(value)
        or len(value) > 2048
        or bare.lower().startswith(("aws", "ssm"))
        or value.count("/") > 15
    ):
        raise UsageError(
            f"--ssm-parameter {value!r} is not an SSM parameter name: letters, digits, . - _ and / for a path "
            "(e.g. /golden/al2023), not beginning with aws or ssm"
        )
    return value


def launch_template(value: str) -> str:
    if not (LAUNCH_TEMPLATE_ID.match(value) or LAUNCH_TEMPLATE_NAME.match(value)) or (
        value.startswith("lt-") and (not LAUNCH_TEMPLATE_ID.match(value))
    ):
        raise UsageError(
            f"--launch-template {value!r} is neither a launch template name (3 to 128 of letters, digits and "
            "( ) . - / _) nor an id (lt- and 17 hex digits)"
        )
    return value


def tag(value: str) -> tuple[str, str]:
    """``KEY=VALUE`` (AWS: a key of 1 to 128 characters not beginning with aws:, a value of at most 256)."""
    key, sep, text = value.partition("=")
    if not sep or not key or len(key) > 128 or len(text) > 256 or key.lower().startswith("aws:"):
        raise UsageError(
            f"--tag {value!r}: write it as KEY=VALUE (a key of 1 to 128 characters, not beginning with aws:; a "
            "value of at most 256)"
        )
    return key, text


def copy_minutes(value: str) -> int:
    """``--copy-duration``: a duration in 15-minute steps between 15 minutes and 48 hours, as minutes."""
    minutes = duration(value) / 60
    low, high = COPY_MINUTES
    if minutes != int(minutes) or int(minutes) % 15 or not low <= minutes <= high:
        raise UsageError(
            f"--copy-duration {value!r}: a time-based copy takes 15 minutes to 48 hours in 15-minute steps "
            "(e.g. 45m, 2h, 1d)"
        )
    return int(minutes)
