"""The manifest of desired state (``amishare.manifest/1``): its model, and its loading and validation.

``load_manifest(path, config)`` reads a TOML manifest, checks every key and reference (no AWS call) and
returns a ``Manifest``; every problem is a ``ConfigError`` naming the file, the key and the fix.
"""

from __future__ import annotations

from amishare.planners.manifest.load import load_manifest, parse_manifest
from amishare.planners.manifest.model import (
    MANIFEST_SCHEMA,
    ById,
    ByName,
    BySsmParameter,
    ByTags,
    Defaults,
    DistributionSpec,
    ImageFamily,
    LaunchTemplate,
    Manifest,
    Mode,
    Retention,
    Safety,
    Select,
    TargetGroup,
    TargetRef,
)

__all__ = [
    "MANIFEST_SCHEMA",
    "ById",
    "ByName",
    "BySsmParameter",
    "ByTags",
    "Defaults",
    "DistributionSpec",
    "ImageFamily",
    "LaunchTemplate",
    "Manifest",
    "Mode",
    "Retention",
    "Safety",
    "Select",
    "TargetGroup",
    "TargetRef",
    "load_manifest",
    "parse_manifest",
]
