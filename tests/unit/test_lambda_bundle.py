"""The Lambda bundle (generate/lambda_bundle.py): the closure of amishare's runtime requirements read from the
installed distributions (markers for Lambda's runtimes, no extras, the command line's left out), the refusals
(missing, compiled, editable, over Lambda's limits), a deterministic zip, and no module packed that imports what
the bundle does not hold. The handler loading from the extracted bundle is tests/integration/test_lambda_bundle.py."""

from __future__ import annotations

import ast
import base64
import hashlib
import os
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import amishare
from amishare.errors import PlanRefused
from amishare.generate import lambda_bundle
from amishare.generate.lambda_bundle import TARGETS, marker_holds

PY311, PY312 = TARGETS[0], TARGETS[2]
CORE = {"amishare", "boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
COMMAND_LINE = {"click", "rich", "markdown-it-py", "mdurl", "pygments"}


@pytest.mark.parametrize(
    ("marker", "on_311", "on_312"),
    [
        ("extra == 'crt'", False, False),
        ('python_version < "3.14" and extra == "zstd"', False, False),
        ("(platform_python_implementation == 'CPython') and extra == 'brotli'", False, False),
        ('python_version < "3.12"', True, False),
        ('python_version >= "3.12"', False, True),
        ('"3.12" <= python_version', False, True),
        ('python_version == "3.12.*"', False, True),
        ('python_version ~= "3.11"', True, True),
        ('python_version < "3.8" or os_name == "posix"', True, True),
        ('sys_platform == "win32"', False, False),
        ("platform_system != 'Windows'", True, True),
        ("'linux' in sys_platform and platform_machine not in 'arm64 armv7l'", True, True),
        ('implementation_name == "pypy" or (python_version > "3.11" and sys_platform == "linux")', False, True),
    ],
)
def test_markers_are_evaluated_for_lambda_s_runtimes(marker: str, on_311: bool, on_312: bool) -> None:
    assert (marker_holds(marker, PY311), marker_holds(marker, PY312)) == (on_311, on_312)


@pytest.mark.parametrize(
    "marker", ['python_version <', '(python_version < "3.12"', 'weather == "sunny"', "a ? b", 'python_version and "3"']
)
def test_a_marker_that_cannot_be_read_is_refused(marker: str) -> None:
    with pytest.raises(PlanRefused, match="cannot read"):
        marker_holds(marker, PY311)


def test_the_closure_is_amishare_s_runtime_requirements_without_the_command_line_s() -> None:
    found = lambda_bundle.closure()
    names = [lambda_bundle._normalized(str(d.metadata["Name"])) for d in found]
    assert names[0] == "amishare" and names[1:] == sorted(names[1:])
    assert set(names) >= CORE, "boto3 and what it needs"
    assert not COMMAND_LINE & set(names), "the command line's distributions are left out"
    for dist in found:  # closed: every requirement a target needs (no extras) is in it, but the CLI's of amishare
        for requirement in dist.requires or []:
            name, marker = lambda_bundle._requirement(requirement)
            needed = not marker or any(marker_holds(marker, target) for target in TARGETS)
            if needed and not (dist is found[0] and name in lambda_bundle.COMMAND_LINE_ONLY):
                assert name in names, f"{dist.metadata['Name']} needs {name}"


def _distribution(site: Path, name: str, requires: tuple[str, ...] = (), files: dict[str, bytes] | None = None) -> None:
    """A distribution installed in ``site`` as pip leaves one: METADATA, RECORD and the files RECORD lists."""
    stem = name.replace("-", "_")
    info = site / f"{stem}-1.0.dist-info"
    info.mkdir(parents=True)
    info.joinpath("METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)
    )
    files = {f"{stem}/__init__.py": b"", **(files or {})}
    for relative, data in files.items():
        if not relative.startswith(".."):
            (site / relative).parent.mkdir(parents=True, exist_ok=True)
            (site / relative).write_bytes(data)
    listed = [*files, f"{info.name}/METADATA", f"{info.name}/RECORD"]
    info.joinpath("RECORD").write_text("".join(f"{r},,\n" for r in listed))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "site-packages"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    yield folder


def test_markers_and_extras_decide_what_is_followed_and_the_files_are_the_ones_to_run(site: Path) -> None:
    _distribution(
        site,
        "fake-root",
        (
            "fake-leaf>=1",
            'fake-windows; sys_platform == "win32"',  # never on Lambda: not installed, not followed
            'fake-speedups; extra == "fast"',  # an extra: never taken
            "fake-old; python_version < '3.11'",
            "click>=8",  # the command line's: left out of the root's requirements
        ),
    )
    _distribution(
        site,
        "fake-leaf",
        files={
            "fake_leaf/core.py": b"VALUE = 1\n",
            "fake_leaf/__pycache__/core.cpython-311.pyc": b"\0",
            "fake_leaf/tests/test_core.py": b"",
            "../../../bin/fake-leaf": b"",
        },
    )
    found = lambda_bundle.closure("fake-root")
    assert [d.metadata["Name"] for d in found] == ["fake-root", "fake-leaf"]
    packed = {name for name in lambda_bundle.contents(found) if not name.startswith("amishare")}
    assert packed == {"fake_leaf/__init__.py", "fake_leaf/core.py", "fake_leaf-1.0.dist-info/METADATA"}


def test_a_missing_distribution_is_refused_naming_it_and_who_needs_it(site: Path) -> None:
    _distribution(site, "fake-root", ("fake-absent",))
    with pytest.raises(PlanRefused, match=r"fake-absent \(required by fake-root\) is not installed.*pip install"):
        lambda_bundle.closure("fake-root")


def test_a_compiled_distribution_is_refused_naming_its_files(site: Path) -> None:
    _distribution(site, "fake-root", ("fake-fast",))
    _distribution(site, "fake-fast", files={"fake_fast/_speed.cpython-311-x86_64-linux-gnu.so": b"\x7fELF"})
    with pytest.raises(PlanRefused, match=r"fake-fast 1.0 has compiled files \(fake_fast/_speed\.cpython.*pure"):
        lambda_bundle.contents(lambda_bundle.closure("fake-root"))


def test_an_editable_distribution_and_one_missing_its_files_are_refused(site: Path) -> None:
    _distribution(site, "fake-root", ("fake-mine", "fake-broken"))
    _distribution(site, "fake-mine")
    _distribution(site, "fake-broken", files={"fake_broken/gone.py": b""})
    (site / "fake_mine-1.0.dist-info" / "direct_url.json").write_text(
        '{"url": "file:///src/mine", "dir_info": {"editable": true}}'
    )
    found = lambda_bundle.closure("fake-root")
    with pytest.raises(PlanRefused, match=r"fake-mine 1.0 is installed editable.*pip install fake-mine"):
        lambda_bundle.contents([found[0], found[2]])
    (site / "fake_broken" / "gone.py").unlink()
    with pytest.raises(PlanRefused, match=r"fake-broken 1.0 lists files that are not installed \(fake_broken/gone"):
        lambda_bundle.contents([found[0], found[1]])


def test_the_zip_is_the_same_bytes_whatever_the_order_and_the_files_times(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text("X = 1\n")
    entries: dict[str, Path | bytes] = {"pkg/module.py": source, "pkg/data.json.gz": b"\x1f\x8b" + b"z" * 100}
    lambda_bundle.write_zip(entries, tmp_path / "one.zip")
    os.utime(source, (0, 1_000_000_000))
    lambda_bundle.write_zip(dict(reversed(entries.items())), tmp_path / "two.zip")
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "one.zip") as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == ["pkg/data.json.gz", "pkg/module.py"]
    assert {(i.date_time, i.external_attr >> 16, i.create_system) for i in infos} == {
        ((1980, 1, 1, 0, 0, 0), 0o100644, 3)
    }
    assert [i.compress_type for i in infos] == [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]  # .gz: stored


def test_over_lambda_s_limits_is_refused_with_the_numbers_and_the_previous_file_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lambda_bundle, "contents", lambda found: {"a.py": b"A = 1\n" * 100})
    out = tmp_path / "engine.zip"
    out.write_bytes(b"the previous bundle")
    monkeypatch.setattr(lambda_bundle, "MAX_UNZIPPED", 599)
    with pytest.raises(PlanRefused, match=r"bundle is \d+ bytes zipped and 600 unzipped; Lambda takes .* 599 unzipped"):
        lambda_bundle.build(out)
    assert out.read_bytes() == b"the previous bundle" and sorted(tmp_path.iterdir()) == [out]
    monkeypatch.setattr(lambda_bundle, "MAX_UNZIPPED", 600)
    bundle = lambda_bundle.build(out)  # at the limit: written, in place of the previous one
    assert (bundle.zipped, bundle.unzipped, bundle.files) == (out.stat().st_size, 600, 1)
    assert bundle.sha256 == base64.b64encode(hashlib.sha256(out.read_bytes()).digest()).decode()
    assert sorted(tmp_path.iterdir()) == [out]
    with zipfile.ZipFile(out) as archive:
        assert archive.read("a.py") == b"A = 1\n" * 100


def _imports(source: str) -> Iterator[str]:
    """The modules ``source`` imports (``from a.b import c``: ``a.b``), outside ``if TYPE_CHECKING:`` blocks."""

    def walk(nodes: list[ast.stmt]) -> Iterator[str]:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                yield from walk(node.orelse)
                continue
            for child in ast.walk(node):
                if isinstance(child, ast.Import):
                    yield from (alias.name for alias in child.names)
                elif isinstance(child, ast.ImportFrom):
                    assert child.level == 0 and child.module, "amishare imports absolutely"
                    yield child.module

    yield from walk(ast.parse(source).body)


def _unresolved(sources: dict[str, str], names: set[str]) -> list[str]:
    """``module: import`` for every import of ``sources`` that neither the standard library nor ``names`` (the
    bundle's files) holds."""
    modules = {n.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for n in names if n.endswith(".py")}
    return [
        f"{module}: {imported}"
        for module, source in sources.items()
        for imported in _imports(source)
        if imported.split(".")[0] not in sys.stdlib_module_names and imported not in modules
    ]


@pytest.mark.slow
def test_no_module_packed_imports_what_the_bundle_does_not_hold() -> None:
    entries = lambda_bundle.contents(lambda_bundle.closure())
    names = set(entries)
    assert "amishare/api/runner.py" in names and "botocore/client.py" in names
    assert not any(n.startswith(("amishare/cli/", "amishare/sandbox/", "click/", "rich/")) for n in names)
    ours = {n: p.read_text() for n, p in entries.items() if n.startswith("amishare/") and isinstance(p, Path)}
    assert len(ours) > 100 and all(n.endswith((".py", "py.typed")) for n in ours)
    assert _unresolved({n: s for n, s in ours.items() if n.endswith(".py")}, names) == []
    # and the check can fail: what the command line's modules import is not in the bundle
    leaking = {"x.py": "import rich\nfrom amishare.cli.common import say\nfrom amishare.errors import UsageError\n"}
    assert _unresolved(leaking, names) == ["x.py: rich", "x.py: amishare.cli.common"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> lambda_bundle.Bundle:
    return lambda_bundle.build(tmp_path_factory.mktemp("bundle") / "amishare-engine.zip")


@pytest.mark.slow
def test_the_bundle_holds_what_the_handler_runs_within_lambda_s_limits_and_builds_the_same_twice(
    built: lambda_bundle.Bundle, tmp_path: Path
) -> None:
    with zipfile.ZipFile(built.path) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names) and len(names) == built.files
    assert built.zipped == built.path.stat().st_size < lambda_bundle.MAX_ZIPPED
    assert built.unzipped == sum(i.file_size for i in infos) < lambda_bundle.MAX_UNZIPPED
    assert built.handler == "amishare.api.runner.lambda_handler" and "amishare/api/runner.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", "/RECORD", "/direct_url.json"))]
    assert not [n for n in names if n.startswith(("amishare/cli/", "amishare/sandbox/", "amishare/__main__"))]
    distributions = {lambda_bundle._normalized(name) for name, _ in built.distributions}
    assert distributions >= CORE and not COMMAND_LINE & distributions
    assert {lambda_bundle._normalized(n) for n in built.left_out} == COMMAND_LINE
    for name, version in built.distributions:  # each says what it is (importlib.metadata works in the bundle)
        assert any(n.endswith(f"-{version}.dist-info/METADATA") for n in names), name
    assert dict(built.distributions)["amishare"] == amishare.__version__  # the package imported, editable or not
    again = lambda_bundle.build(tmp_path / "again.zip")
    assert again.path.read_bytes() == built.path.read_bytes() and again.sha256 == built.sha256
