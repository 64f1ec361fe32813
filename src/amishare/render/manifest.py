"""A validated manifest as a summary (pure): text, and the JSON document ``amishare.manifest-summary/1``."""

from __future__ import annotations

from collections import Counter
from typing import Any

from amishare.model import Target, TargetKind
from amishare.planners.manifest.model import (
    MANIFEST_SCHEMA,
    ById,
    ByName,
    BySsmParameter,
    ByTags,
    DistributionSpec,
    ImageFamily,
    Manifest,
    Select,
    TargetGroup,
)

SUMMARY_SCHEMA = "amishare.manifest-summary/1"


def _plural(count: int, word: str, words: str = "") -> str:
    return f"{count} {word}" if count == 1 else f"{count} {words or word + 's'}"


def counts(manifest: Manifest) -> dict[str, int]:
    """How many families, distributions, target groups, targets named (groups opened) and regions."""
    return {
        "families": len(manifest.images),
        "distributions": len(manifest.distributions),
        "target_groups": len(manifest.targets),
        "targets": len(manifest.named_targets()),
        "regions": len(manifest.regions),
    }


def _kinds(targets: tuple[Target, ...]) -> str:
    """``3 accounts, 1 OU``."""
    words = {TargetKind.ACCOUNT: "account", TargetKind.OU: "OU", TargetKind.ORGANIZATION: "organization"}
    found = Counter(t.kind for t in targets)
    return ", ".join(_plural(found[k], w) for k, w in words.items() if found[k])


def manifest_text(manifest: Manifest) -> str:
    """What ``amishare manifest validate`` prints: the counts, each family and its distributions, the groups."""
    number = counts(manifest)
    source = manifest.defaults.source
    lines = [
        f"{manifest.path}: valid ({MANIFEST_SCHEMA}); no AWS call was made",
        f"source: {source if source else 'the account of amishare credentials'}",
        f"{_plural(number['families'], 'family', 'families')}, "
        f"{_plural(number['distributions'], 'distribution')}, {_plural(number['target_groups'], 'target group')} "
        f"({_plural(number['targets'], 'target')} named: {_kinds(manifest.named_targets()) or 'none'}), "
        f"{_plural(number['regions'], 'region')} ({', '.join(manifest.regions)})",
    ]
    for image in manifest.images:
        lines += ["", *_family_lines(image)]
    if manifest.targets:
        width = max(len(name) for name in manifest.targets)
        lines += ["", "targets:"] + [f"  {g.name:<{width}}  {_group_text(g)}" for g in manifest.targets.values()]
    lines += ["", *_policy_lines(manifest)]
    return "\n".join(lines)


def _family_lines(image: ImageFamily) -> list[str]:
    kept = "the newest version" if image.versions == 1 else f"the newest {image.versions} versions"
    lines = [f"{image.family}: {image.select.describe()}, {kept}"]
    to = [", ".join(str(ref) for ref in distribution.to) for distribution in image.distribute]
    width = max(len(t) for t in to)
    for distribution, named in zip(image.distribute, to, strict=True):
        lines.append(f"  {distribution.mode.value:<8}  to {named:<{width}}  in {', '.join(distribution.regions)}")
        settings = _settings(distribution)
        if settings:
            lines.append(f"            {settings}")
    return lines


def _settings(distribution: DistributionSpec) -> str:
    """What a distribution leaves in each account, in words."""
    parts: list[str] = []
    if distribution.ssm_parameter:
        parts.append(f"SSM parameter {distribution.ssm_parameter}")
    template = distribution.launch_template
    if template:
        parts.append(f"launch template {template.name}" + (" (new version as default)" if template.set_default else ""))
    if distribution.deprecate_after:
        parts.append(f"deprecated after {distribution.deprecate_after}")
    if distribution.tags:
        parts.append("tags " + ", ".join(f"{k}={v}" for k, v in distribution.tags.items()))
    return "; ".join(parts)


KIND_WORDS = {TargetKind.ACCOUNT: "", TargetKind.OU: "OU ", TargetKind.ORGANIZATION: "organization "}


def _group_text(group: TargetGroup) -> str:
    named = ", ".join(f"{KIND_WORDS.get(t.kind, '')}{t}" for t in group.members)
    excluded = f"; excluding {', '.join(str(t) for t in group.exclude)}" if group.exclude else ""
    return named + excluded


def _policy_lines(manifest: Manifest) -> list[str]:
    retention, safety = manifest.retention, manifest.safety
    kept = [
        f"deprecated after {retention.deprecate_after}" if retention.deprecate_after else "",
        f"deregistered after {retention.deregister_after}" if retention.deregister_after else "",
    ]
    prune = "applied (prune = true)" if safety.prune else "shown, applied only with --allow-destroy (prune = false)"
    return [
        f"retention: what is no longer needed is {' and '.join(k for k in kept if k) or 'kept'}",
        f"safety: removals are {prune}; a plan removing more than {safety.max_removals} is refused",
    ]


# JSON --------------------------------------------------------------------------------------------------------


def manifest_json(manifest: Manifest) -> dict[str, Any]:
    """``amishare.manifest-summary/1``: the counts and the whole manifest with its references resolved."""
    source = manifest.defaults.source
    return {
        "schema": SUMMARY_SCHEMA,
        "file": manifest.path,
        "manifest_schema": MANIFEST_SCHEMA,
        "valid": True,
        "counts": counts(manifest),
        "source": _target(source) if source else None,
        "regions": list(manifest.regions),
        "targets": {name: _group_json(group) for name, group in manifest.targets.items()},
        "families": [_family_json(image) for image in manifest.images],
        "retention": {
            "deprecate_after": manifest.retention.deprecate_after,
            "deregister_after": manifest.retention.deregister_after,
        },
        "safety": {"prune": manifest.safety.prune, "max_removals": manifest.safety.max_removals},
    }


def _target(target: Target) -> dict[str, str]:
    return {"kind": target.kind.value, "value": target.value, "label": target.label}


def _group_json(group: TargetGroup) -> dict[str, Any]:
    return {
        "accounts": [_target(t) for t in group.accounts],
        "ous": [t.value for t in group.ous],
        "organizations": [t.value for t in group.organizations],
        "exclude": [_target(t) for t in group.exclude],
    }


def _select_json(select: Select) -> dict[str, Any]:
    if isinstance(select, BySsmParameter):
        return {"ssm_parameter": select.name}
    if isinstance(select, ByName):
        return {"name": select.pattern}
    if isinstance(select, ByTags):
        return {"tags": dict(select.tags)}
    assert isinstance(select, ById)
    return {"id": select.image_id}


def _family_json(image: ImageFamily) -> dict[str, Any]:
    return {
        "family": image.family,
        "select": _select_json(image.select),
        "versions": image.versions,
        "distribute": [_distribution_json(d) for d in image.distribute],
    }


def _distribution_json(distribution: DistributionSpec) -> dict[str, Any]:
    template = distribution.launch_template
    return {
        "to": [
            {"written": ref.written, "group": ref.group, "target": _target(ref.target) if ref.target else None}
            for ref in distribution.to
        ],
        "mode": distribution.mode.value,
        "regions": list(distribution.regions),
        "ssm_parameter": distribution.ssm_parameter,
        "launch_template": {"name": template.name, "set_default": template.set_default} if template else None,
        "deprecate_after": distribution.deprecate_after,
        "tags": dict(distribution.tags),
    }
