"""The AWS Lambda bundle of amishare's serverless runner (``amishare engine package``, issue 18): one zip holding
amishare and what its handler (``amishare.api.runner.lambda_handler``) needs, for Lambda's ``python3.11`` and
``python3.12`` runtimes on either architecture. Nothing is downloaded and pip is not run: the bundle is made of
this Python's installed distributions.

What goes in:

- amishare from its package directory (the one imported, so an editable install packs its sources), without
  ``cli/``, ``sandbox/`` and ``__main__.py`` (the command line and the local AWS: the handler imports neither),
  and a ``amishare-VERSION.dist-info/METADATA`` of three lines (an editable install's dist-info describes this
  machine's checkout).
- The closure of amishare's runtime requirements, from the installed distributions' metadata
  (``importlib.metadata``): boto3, botocore, s3transfer, jmespath, python-dateutil, six and urllib3 today.
  Markers are evaluated for each target (CPython 3.11 and 3.12, Linux, x86_64 and aarch64) and a requirement is
  kept when its marker holds for one of them; extras are never taken; versions are not checked again (pip did).
  Their files are those their RECORD lists, without ``__pycache__``, ``*.pyc``, ``tests`` folders and what was
  installed outside site-packages (scripts). Their dist-info folders stay (METADATA, and the licence texts their
  licences ask to be shipped) without RECORD, INSTALLER, REQUESTED and direct_url.json: RECORD would list files
  left out, with this install's hashes, and the others describe this machine's install, not the bundle.
- Left out: click and rich, and what only they need (markdown-it-py, mdurl, pygments): amishare's command line
  is their only user (no module packed imports them: tests/unit/test_lambda_bundle.py parses every one), and
  they are 6.6 MB of the 31 MB it would be unzipped (pygments alone 4.6 MB).

No bytecode is packed: ``.pyc`` files are specific to one Python minor version and, to be used from Lambda's
read-only /var/task, would have to be compiled hash-based for one runtime. A cold start compiles the modules
the handler imports (docs/engine.md has the measure).

A distribution the bundle cannot hold is refused (PlanRefused, naming it and the fix): missing, installed
editable, not listing its files, or with compiled files (``.so``, ``.pyd``): those are built for this machine,
and the bundle holds pure Python only, so that it runs on Lambda whatever machine built it.

The zip is deterministic: entries sorted, each dated 1980-01-01 00:00 with mode 0644, deflated at level 9 (stored
when compressed already: botocore's ``.json.gz`` models), so two builds from one installation are byte-identical
(with the same zlib). It is checked against Lambda's limits (52,428,800 bytes zipped, 262,144,000 unzipped:
docs/aws-facts.md section 9) before it replaces ``out``: it is written beside it and renamed, so a refused or
interrupted build leaves the previous file as it was.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import amishare
from amishare.errors import PlanRefused, UsageError

HANDLER = "amishare.api.runner.lambda_handler"
RUNTIMES = ("python3.11", "python3.12")
MAX_ZIPPED = 52_428_800  # Lambda's CodeSizeZipped: 50 MB (MiB), a direct upload
MAX_UNZIPPED = 262_144_000  # Lambda's CodeSizeUnzipped: 250 MB (MiB), the function's code and its layers
COMMAND_LINE_ONLY = frozenset({"click", "rich"})  # amishare's requirements that only its cli/ imports
LEFT_OUT_OF_AMISHARE = frozenset({"__main__.py", "cli", "sandbox"})  # top-level names under src/amishare
COMPILED = frozenset({".so", ".pyd", ".dylib", ".dll"})
DROPPED_METADATA = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
STORED = (".gz", ".zip", ".bz2", ".xz")  # compressed already (botocore's models are .json.gz): stored as they are
TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say
MODE = 0o100644  # a regular file, rw-r--r--
TARGETS: tuple[dict[str, str], ...] = tuple(
    {
        "python_version": version,
        "python_full_version": f"{version}.0",
        "implementation_name": "cpython",
        "implementation_version": f"{version}.0",
        "platform_python_implementation": "CPython",
        "os_name": "posix",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": machine,
        "platform_release": "",
        "platform_version": "",
        "extra": "",
    }
    for version in ("3.11", "3.12")
    for machine in ("x86_64", "aarch64")
)


@dataclass(frozen=True)
class Bundle:
    """What ``build`` wrote: the zip, its sizes in bytes, the distributions in it (name, version), the ones left
    out, and what to configure the function with (handler, runtimes). ``sha256`` is the zip's SHA-256 in base64,
    as Lambda reports a function's ``CodeSha256``."""

    path: Path
    zipped: int
    unzipped: int
    files: int
    distributions: tuple[tuple[str, str], ...]
    left_out: tuple[str, ...]
    sha256: str
    handler: str = HANDLER
    runtimes: tuple[str, ...] = RUNTIMES


def build(out: Path, extra: Mapping[str, bytes] | None = None) -> Bundle:
    """Write the bundle to ``out`` (replaced when it exists; its folder must exist) and say what is in it.
    ``extra``: files added at the bundle's root, by name (the manifest and config ``engine package --manifest``
    packs); one that would replace a file of the bundle is refused."""
    found = closure()
    entries = contents(found)
    clash = sorted(set(extra or {}) & set(entries))
    if clash:
        raise UsageError(f"cannot add {', '.join(clash)} to the bundle: the bundle has files of that name")
    entries = {**entries, **(extra or {})}
    unzipped = sum(len(data) if isinstance(data, bytes) else data.stat().st_size for data in entries.values())
    temporary = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
    try:
        write_zip(entries, temporary)
        zipped = temporary.stat().st_size
        check_limits(zipped, unzipped)
        digest = base64.b64encode(hashlib.sha256(temporary.read_bytes()).digest()).decode()
        os.replace(temporary, out)
    except OSError as exc:
        raise UsageError(f"cannot build the bundle at {out}: {exc}") from None
    finally:
        temporary.unlink(missing_ok=True)
    return Bundle(
        path=out,
        zipped=zipped,
        unzipped=unzipped,
        files=len(entries),
        distributions=tuple((_name(d), d.version) for d in found),
        left_out=tuple(sorted(_left_out(found), key=str.lower)),
        sha256=digest,
    )


def check_limits(zipped: int, unzipped: int) -> None:
    """Refuse a bundle Lambda would refuse, with the numbers."""
    if zipped > MAX_ZIPPED or unzipped > MAX_UNZIPPED:
        raise PlanRefused(
            f"the bundle is {zipped:,} bytes zipped and {unzipped:,} unzipped; Lambda takes at most "
            f"{MAX_ZIPPED:,} zipped (a direct upload) and {MAX_UNZIPPED:,} unzipped: nothing was written. Build it "
            "in an environment with only amishare installed (python -m venv; pip install amishare)"
        )


def closure(root: str = "amishare") -> list[metadata.Distribution]:
    """``root``'s distribution and those its runtime requirements need, transitively (markers for the targets,
    no extras, ``COMMAND_LINE_ONLY`` left out of amishare's own): ``root`` first, the others by name."""
    first = _installed(root, "")
    found: dict[str, metadata.Distribution] = {}
    queue: list[tuple[metadata.Distribution, str]] = [(first, r) for r in first.requires or []]
    while queue:
        parent, requirement = queue.pop()
        name, marker = _requirement(requirement)
        if name in found or (parent is first and name in COMMAND_LINE_ONLY):
            continue
        if marker and not any(marker_holds(marker, target) for target in TARGETS):
            continue
        dist = found[name] = _installed(name, _name(parent))
        queue += [(dist, r) for r in dist.requires or []]
    found.pop(_normalized(root), None)
    return [first, *(found[name] for name in sorted(found))]


def contents(found: list[metadata.Distribution]) -> dict[str, Path | bytes]:
    """The bundle's files: archive name -> the file to read, or the bytes to write (amishare's METADATA).
    ``found`` is ``closure()``'s: its first, amishare's distribution, is packed from the package directory instead
    of its RECORD; the others from theirs."""
    entries: dict[str, Path | bytes] = dict(_amishare_files())
    entries[f"amishare-{amishare.__version__}.dist-info/METADATA"] = (
        f"Metadata-Version: 2.1\nName: amishare\nVersion: {amishare.__version__}\n".encode()
    )
    for dist in found[1:]:
        for name, path in _distribution_files(dist).items():
            if name in entries:
                raise PlanRefused(f"{_name(dist)} installs {name}, which another distribution of the bundle has too")
            entries[name] = path
    return entries


def write_zip(entries: Mapping[str, Path | bytes], target: Path) -> None:
    """The deterministic zip of ``entries`` (module docstring)."""
    with zipfile.ZipFile(target, "w") as archive:
        for name in sorted(entries):
            data = entries[name]
            info = zipfile.ZipInfo(name, date_time=TIMESTAMP)
            info.compress_type = zipfile.ZIP_STORED if name.endswith(STORED) else zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix: the mode below is read
            info.external_attr = MODE << 16
            archive.writestr(info, data if isinstance(data, bytes) else data.read_bytes(), compresslevel=9)


def _amishare_files() -> Iterator[tuple[str, Path]]:
    package = Path(amishare.__file__).parent
    for path in sorted(package.rglob("*")):
        relative = path.relative_to(package)
        if relative.parts[0] in LEFT_OUT_OF_AMISHARE or not path.is_file() or _skipped(relative.parts):
            continue
        yield f"amishare/{relative.as_posix()}", path


def _distribution_files(dist: metadata.Distribution) -> dict[str, Path]:
    name = f"{_name(dist)} {dist.version}"
    if json.loads(dist.read_text("direct_url.json") or "{}").get("dir_info", {}).get("editable"):
        raise PlanRefused(
            f"{name} is installed editable (pip install -e): its files are not in site-packages. "
            f"Install it normally (pip install {_name(dist)}), then package again"
        )
    if dist.files is None:
        raise PlanRefused(f"{name} does not list its files (no RECORD): reinstall it (pip install --force-reinstall)")
    files: dict[str, Path] = {}
    for listed in dist.files:
        parts = listed.parts
        if parts[0] == ".." or _skipped(parts) or (parts[0].endswith(".dist-info") and listed.name in DROPPED_METADATA):
            continue
        files[listed.as_posix()] = Path(str(dist.locate_file(listed)))
    compiled = sorted(n for n in files if Path(n).suffix in COMPILED)
    if compiled:
        raise PlanRefused(
            f"{name} has compiled files ({', '.join(compiled[:3])}{' ...' if len(compiled) > 3 else ''}): the "
            "bundle holds pure Python only, which runs on Lambda whatever machine built it. Install the pure-Python "
            f"wheel of {_name(dist)} (py3-none-any) in this environment, or package from one that has it"
        )
    missing = sorted(n for n, path in files.items() if not path.is_file())
    if missing:
        raise PlanRefused(
            f"{name} lists files that are not installed ({', '.join(missing[:3])}): reinstall it "
            f"(pip install --force-reinstall {_name(dist)})"
        )
    return files


def _skipped(parts: tuple[str, ...]) -> bool:
    """``__pycache__``, compiled bytecode and test folders: never needed to run."""
    return "__pycache__" in parts or "tests" in parts[:-1] or parts[-1].endswith((".pyc", ".pyo"))


def _installed(name: str, needed_by: str) -> metadata.Distribution:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        by = f" (required by {needed_by})" if needed_by else ""
        raise PlanRefused(
            f"{name}{by} is not installed in this Python: the bundle is made of the installed distributions. "
            f"Install it (pip install {name}), then package again"
        ) from None


def _left_out(found: list[metadata.Distribution]) -> set[str]:
    """The command line's distributions (COMMAND_LINE_ONLY and what only they need) that are not in the bundle."""
    kept = {_normalized(_name(d)) for d in found}
    left: set[str] = set()
    queue = sorted(COMMAND_LINE_ONLY)
    while queue:
        name = queue.pop()
        if name in kept or name in left:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        left.add(_name(dist))
        for requirement in dist.requires or []:
            child, marker = _requirement(requirement)
            if not marker or any(marker_holds(marker, target) for target in TARGETS):
                queue.append(child)
    return left


def _name(dist: metadata.Distribution) -> str:
    return str(dist.metadata["Name"])


def _normalized(name: str) -> str:
    """A project name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


_REQUIREMENT = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _requirement(text: str) -> tuple[str, str]:
    """A requirement (PEP 508) -> (its normalized name, its marker or ""); extras and versions are not read."""
    spec, _, marker = text.partition(";")
    matched = _REQUIREMENT.match(spec)
    if not matched:
        raise PlanRefused(f"cannot read the requirement {text!r}")
    return _normalized(matched.group(1)), marker.strip()


# PEP 508 markers: enough of the grammar for what distributions write (and/or, parentheses, comparisons)
_TOKEN = re.compile(
    r"\s*(\(|\)|===|==|!=|<=|>=|~=|<|>|not\s+in\b|in\b|and\b|or\b|\"[^\"]*\"|'[^']*'|[A-Za-z_][A-Za-z0-9_.]*)"
)


_OPERATORS = frozenset({"===", "==", "!=", "<=", ">=", "~=", "<", ">", "in", "not in"})


def marker_holds(marker: str, environment: Mapping[str, str]) -> bool:
    """Whether a PEP 508 ``marker`` holds in ``environment`` (its variables: python_version, extra, ...)."""
    tokens: list[str] = []
    position = 0
    while position < len(marker.rstrip()):
        matched = _TOKEN.match(marker, position)
        if not matched:
            raise PlanRefused(f"cannot read the marker {marker!r} at {marker[position:]!r}")
        tokens.append(re.sub(r"\s+", " ", matched.group(1)))
        position = matched.end()
    holds, rest = _or(tokens, environment)
    if rest:
        raise PlanRefused(f"cannot read the marker {marker!r}: {' '.join(rest)!r} left over")
    return holds


def _or(tokens: list[str], environment: Mapping[str, str]) -> tuple[bool, list[str]]:
    holds, tokens = _and(tokens, environment)
    while tokens[:1] == ["or"]:
        right, tokens = _and(tokens[1:], environment)
        holds = holds or right
    return holds, tokens


def _and(tokens: list[str], environment: Mapping[str, str]) -> tuple[bool, list[str]]:
    holds, tokens = _comparison(tokens, environment)
    while tokens[:1] == ["and"]:
        right, tokens = _comparison(tokens[1:], environment)
        holds = holds and right
    return holds, tokens


def _comparison(tokens: list[str], environment: Mapping[str, str]) -> tuple[bool, list[str]]:
    if tokens[:1] == ["("]:
        holds, rest = _or(tokens[1:], environment)
        if rest[:1] != [")"]:
            raise PlanRefused(f"cannot read a marker: a parenthesis is not closed in {' '.join(tokens)!r}")
        return holds, rest[1:]
    if len(tokens) < 3:
        raise PlanRefused(f"cannot read a marker: {' '.join(tokens)!r} is not a comparison")
    left, operator, right = (_value(tokens[0], environment), tokens[1], _value(tokens[2], environment))
    if operator not in _OPERATORS:
        raise PlanRefused(f"cannot read a marker: {operator!r} is not a comparison in {' '.join(tokens)!r}")
    return _compare(left, operator, right), tokens[3:]


def _value(token: str, environment: Mapping[str, str]) -> str:
    if token[:1] in "\"'":
        return token[1:-1]
    if token not in environment:
        raise PlanRefused(f"cannot read a marker: unknown variable {token!r}")
    return environment[token]


def _compare(left: str, operator: str, right: str) -> bool:
    if operator in ("in", "not in"):
        return (left in right) == (operator == "in")
    if right.endswith(".*") and operator in ("==", "!="):  # a prefix: python_version == "3.12.*"
        return f"{left}.".startswith(right[:-1]) == (operator == "==")
    mine, theirs = _release(left), _release(right)
    if operator == "===" or mine is None or theirs is None:  # not versions: strings, for (in)equality only
        return {"==": left == right, "===": left == right, "!=": left != right}.get(operator, False)
    if operator == "~=":  # compatible release: at least ``right``, and the same numbers but its last
        return _padded(mine, theirs) >= _padded(theirs, mine) and mine[: len(theirs) - 1] == theirs[:-1]
    a, b = _padded(mine, theirs), _padded(theirs, mine)
    return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}.get(operator, False)


def _padded(version: tuple[int, ...], other: tuple[int, ...]) -> tuple[int, ...]:
    """``version`` with zeros to the length of ``other``: 3.12 == 3.12.0."""
    return version + (0,) * (len(other) - len(version))


def _release(text: str) -> tuple[int, ...] | None:
    """A version's release numbers (``3.12`` -> (3, 12)); None when ``text`` is not a plain version."""
    if not re.fullmatch(r"\d+(\.\d+)*(\.\*)?", text):
        return None
    return tuple(int(part) for part in text.removesuffix(".*").split("."))
