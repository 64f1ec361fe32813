"""Reading a manifest: TOML in, a validated ``Manifest`` out, or a ``ConfigError`` naming every problem.

Every key and value is checked (``spec.py``), every reference resolved against amishare.toml (account names)
and the manifest itself (target groups), then the rules between sections (a family named once, a target
reached one way per region). Each problem names the file, the key path (``[[image]] 2 (al2023-base)
.distribute[1].mode``, lists counted from 1) and the fix. No AWS call: regions are checked against the list
the caller passes (the regions botocore knows), or by their form alone.

YAML is refused on purpose: it reads unquoted account ids as numbers (one with a leading zero as octal).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from amishare.config import Config
from amishare.errors import ConfigError
from amishare.planners.manifest.model import Defaults, DistributionSpec, ImageFamily, Manifest
from amishare.planners.manifest.spec import DOCUMENT
from amishare.planners.manifest.values import NO_VALUE, Context, Invalid, Problem, Segment, key_problems

YAML_SUFFIXES = (".yaml", ".yml")
SECTIONS = ("defaults", "targets", "retention", "safety")  # shown as [name]; [[image]] has its own form
_AT_LINE = re.compile(r"at line (\d+)")
_BARE_ACCOUNT_ID = re.compile(r"(?<![\w\"'.:/-])\d{12}(?![\w\"'])")


def load_manifest(path: str | Path, config: Config, known_regions: Iterable[str] = ()) -> Manifest:
    """Read and validate the manifest at ``path`` against ``config`` (amishare.toml) and ``known_regions`` (empty:
    any region of the right form). Raises ``ConfigError`` (exit 3) naming every problem, its key and its fix."""
    file = Path(path)
    if file.suffix.lower() in YAML_SUFFIXES:
        raise ConfigError(
            f"{file}: a manifest is TOML, not YAML: YAML reads unquoted account ids as numbers (012345670123 "
            "becomes an octal number, and any id loses its leading zeros), so amishare refuses it; write the "
            f"manifest as {file.with_suffix('.toml').name} (docs/manifest.md)"
        )
    if not file.is_file():
        raise ConfigError(f"manifest {file} does not exist: check -f, or write one (docs/manifest.md)")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot be read ({exc})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{file}: not valid TOML ({exc}): fix the syntax at that line{_toml_hint(text, exc)}"
        ) from exc
    return parse_manifest(data, file, config, known_regions)


def _toml_hint(text: str, error: tomllib.TOMLDecodeError) -> str:
    """A hint when the line TOML refused holds a bare 12-digit number (``012345678901`` is no TOML integer)."""
    found = _AT_LINE.search(str(error))
    lines = text.splitlines()
    line = lines[int(found.group(1)) - 1] if found and 0 < int(found.group(1)) <= len(lines) else ""
    if _BARE_ACCOUNT_ID.search(line.split("#", 1)[0]):
        return '; an account id is a quoted string, e.g. "012345678901"'
    return ""


def parse_manifest(data: dict[str, Any], file: Path, config: Config, known_regions: Iterable[str] = ()) -> Manifest:
    """Validate ``data`` (a parsed manifest) and build the ``Manifest``; ``file`` names it in errors."""
    raw_targets = data.get("targets")
    context = Context(
        config,
        frozenset(known_regions),
        groups=frozenset(raw_targets) if isinstance(raw_targets, dict) else frozenset(),
    )
    problems = key_problems(list(data), DOCUMENT, "is not a key of a manifest")
    values: dict[str, Any] = {}
    for key in [k for k in DOCUMENT if k in data]:  # [defaults] and [targets] first: the images use them
        try:
            values[key] = DOCUMENT[key].reader.read(data[key], context)
        except Invalid as exc:
            problems += exc.under(key).problems
        if key == "defaults":
            context = replace(context, default_regions=values["defaults"].regions if "defaults" in values else None)
    problems += _rules(values.get("image", ()))
    if problems:
        raise ConfigError(report(file, data, problems))
    return Manifest(
        path=str(file),
        defaults=values.get("defaults", Defaults()),
        targets=values.get("targets", {}),
        images=values["image"],
        **{k: values[k] for k in ("retention", "safety") if k in values},
    )


def _rules(images: tuple[ImageFamily, ...]) -> list[Problem]:
    """Rules across images: each family named once; within a family, no target named by two distributions in
    a region both reach."""
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for number, image in enumerate(images):
        if image.family in first:
            problems.append(
                Problem(
                    ("image", number, "family"),
                    f"is also the family of [[image]] {first[image.family] + 1}: give each family one [[image]] "
                    "(several [[image.distribute]] in it), or rename one",
                    image.family,
                )
            )
        first.setdefault(image.family, number)
        problems += [replace(p, path=("image", number, *p.path)) for p in _overlaps(image.distribute)]
    return problems


def _overlaps(distributions: tuple[DistributionSpec, ...]) -> list[Problem]:
    problems: list[Problem] = []
    for later, distribution in enumerate(distributions):
        for earlier in range(later):
            common = _named(distribution) & _named(distributions[earlier])
            regions = [r for r in distribution.regions if r in distributions[earlier].regions]
            if common and regions:
                problems.append(
                    Problem(
                        ("distribute", later, "to"),
                        f"names {', '.join(sorted(common))} as distribute[{earlier + 1}] does, both in "
                        f"{', '.join(regions)}: a target gets a family one way per region; remove it from one",
                    )
                )
    return problems


def _named(distribution: DistributionSpec) -> set[str]:
    """What a distribution names, groups by name and every other target by its id or ARN."""
    return {
        ref.group if ref.group is not None else ref.target.value if ref.target else ref.written
        for ref in distribution.to
    }


# Reporting -----------------------------------------------------------------------------------------------------


def report(file: Path, data: dict[str, Any], problems: list[Problem]) -> str:
    """The error message: one line per problem, each naming the file, the key path and the fix."""
    lines = [f"{file}: {where(p.path, data)}{_shown(p.value)}: {p.message}" for p in problems]
    if len(lines) == 1:
        return lines[0]
    return f"{file}: {len(lines)} problems\n" + "\n".join(f"  {line}" for line in lines)


def where(path: tuple[Segment, ...], data: dict[str, Any]) -> str:
    """A key path as a reader finds it in the file: ``[defaults] regions[2]``, ``[targets] prod.ous[1]``,
    ``[[image]] 2 (al2023-base) .distribute[1].mode`` (list items counted from 1)."""
    head, *rest = path or ("",)
    if head == "image" and rest and isinstance(rest[0], int):
        section = f"[[image]] {rest[0] + 1}{_family(data, rest[0])}"
        tail = _keys(rest[1:])
        return f"{section} .{tail}" if tail else section
    if head in SECTIONS:
        tail = _keys(rest)
        return f"[{head}] {tail}" if tail else f"[{head}]"
    return _keys(path)


def _family(data: dict[str, Any], index: int) -> str:
    images = data.get("image")
    image = images[index] if isinstance(images, list) and index < len(images) else None
    family = image.get("family") if isinstance(image, dict) else None
    return f" ({family})" if isinstance(family, str) and family else ""


def _keys(segments: Iterable[Segment]) -> str:
    shown = ""
    for segment in segments:
        shown += f"[{segment + 1}]" if isinstance(segment, int) else f".{segment}" if shown else str(segment)
    return shown


def _shown(value: Any) -> str:
    """`` = VALUE`` as TOML writes it (cut at 80 characters), or nothing for a missing key or a whole table."""
    if value is NO_VALUE or isinstance(value, dict):
        return ""
    text = _toml(value)
    return f" = {text if len(text) <= 80 else text[:77] + '...'}"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return str(value)
