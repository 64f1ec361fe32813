"""A manifest's drift as text or as the JSON document ``amishare.drift/1`` (pure)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from amishare.planners.manifest.drift import DRIFT_SCHEMA, Finding


def drift_json(manifest: str, resolutions: list[str], found: tuple[Finding, ...]) -> dict[str, Any]:
    """``amishare.drift/1``: every finding with its code, family, image, account, region and fix."""
    return {
        "schema": DRIFT_SCHEMA,
        "manifest": manifest,
        "resolved": resolutions,
        "drifted": bool(found),
        "summary": dict(sorted(Counter(f.code for f in found).items())),
        "findings": [f.to_dict() for f in found],
    }


def drift_text(manifest: str, resolutions: list[str], found: tuple[Finding, ...]) -> str:
    """The findings grouped by family, one line each, and the fix on the next; or that nothing drifted."""
    lines = [f"Drift of {manifest} from AWS:", *(f"  resolved {r}" for r in resolutions), ""]
    if not found:
        lines.append("No drift: the estate is as the manifest declares.")
        return "\n".join(lines)
    family = None
    for finding in found:
        if finding.family != family:
            family = finding.family
            lines.append(f"{family}:")
        lines.append(f"  {finding.code:<22} {finding.image}  {finding.account}  {finding.region}")
        lines.append(f"  {'':<22} fix: {finding.fix}")
    summary = ", ".join(f"{count} {code}" for code, count in sorted(Counter(f.code for f in found).items()))
    lines += [
        "",
        f"Drift: {len(found)} finding(s) ({summary}). `amishare apply -f {manifest}` fixes all but "
        "unmanaged-share (and extra-share without prune).",
    ]
    return "\n".join(lines)
