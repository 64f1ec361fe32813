"""The package's layout keeps its promises: the pure packages load no AWS, CLI or sandbox library, modules stay
small, the top level stays thin, public functions take few parameters, and the repository refers to nothing
outside itself."""

from __future__ import annotations

import ast
import importlib
import json
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import amishare

PACKAGE = Path(amishare.__file__).parent  # src/amishare
REPOSITORY = PACKAGE.parent.parent
PURE_PACKAGES = (
    "amishare.planners",
    "amishare.checks",
    "amishare.policy",
    "amishare.render",
    "amishare.generate",
    "amishare.engine",
)
PURE_MODULES = ("amishare.model", "amishare.errors", "amishare.inputs", "amishare.config")
IMPURE = ("boto3", "botocore", "click", "rich", "moto")
EXEMPT = ("sandbox", "cli")  # the local AWS and the command line may take many parameters (click, boto3's names)
MAX_LINES = 600
MAX_TOP_LEVEL_MODULES = 12
MIN_SUBPACKAGES = 6
MAX_PARAMETERS = 6


def _pure_modules() -> list[str]:
    """Every module of the pure packages (found by walking them: a new module is covered at once), and the
    pure modules of the top level."""
    found: list[str] = []
    for name in PURE_PACKAGES:
        package = importlib.import_module(name)
        found.append(name)
        found += [m.name for m in pkgutil.walk_packages(package.__path__, f"{name}.")]
    return [*found, *PURE_MODULES]


# Imports each module named on its command line in a process of its own, forked from an interpreter that has
# loaded nothing but the standard library: each import starts from nothing, without an interpreter start each.
_IMPORT_EACH_ALONE = """
import importlib, json, os, sys
impure = json.loads(sys.argv[1])
loaded = {}
for name in sys.argv[2:]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            importlib.import_module(name)
            found = sorted(n for n in impure if n in sys.modules)
        except BaseException as error:
            found = ["import failed: " + repr(error)]
        os.write(write, json.dumps(found).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        loaded[name] = json.loads(pipe.read())
    os.waitpid(pid, 0)
print(json.dumps(loaded))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="imports each module in a forked process")
def test_the_pure_modules_load_no_aws_cli_or_sandbox_library() -> None:
    modules = _pure_modules()
    assert len(modules) > len(PURE_MODULES) + len(PURE_PACKAGES)  # the walk found the packages' modules
    path = os.pathsep.join(filter(None, [str(PACKAGE.parent), os.environ.get("PYTHONPATH")]))  # this amishare
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH_ALONE, json.dumps(IMPURE), *modules],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert set(loaded) == set(modules)
    impure = [f"{name}: {', '.join(found)}" for name, found in loaded.items() if found]
    assert not impure, "pure modules that load an AWS, CLI or sandbox library:\n" + "\n".join(impure)


def _source_files(*, exempt: tuple[str, ...] = ()) -> list[Path]:
    """The package's Python files, outside the ``exempt`` subpackages."""
    return [path for path in sorted(PACKAGE.rglob("*.py")) if path.relative_to(PACKAGE).parts[0] not in exempt]


def test_no_source_file_exceeds_600_lines() -> None:
    lengths = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in _source_files()}
    too_long = [f"{name}: {n} lines" for name, n in lengths.items() if n > MAX_LINES]
    assert not too_long, "over 600 lines:\n" + "\n".join(too_long)


def test_the_top_level_is_thin_and_the_code_lives_in_subpackages() -> None:
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    subpackages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, modules
    assert len(subpackages) >= MIN_SUBPACKAGES, subpackages


def _parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Positional and keyword parameters (``*args`` and ``**kwargs`` aside), as ruff's PLR0913 counts them."""
    arguments = function.args
    return len(arguments.posonlyargs) + len(arguments.args) + len(arguments.kwonlyargs)


def test_no_public_function_takes_more_than_6_parameters() -> None:
    too_many = []
    for path in _source_files(exempt=EXEMPT):
        for node in ast.parse(path.read_text()).body:
            is_function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            if is_function and not node.name.startswith("_") and _parameters(node) > MAX_PARAMETERS:
                too_many.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}: {_parameters(node)}")
    assert not too_many, "public functions of more than 6 parameters:\n" + "\n".join(too_many)


OUTSIDE = "../" + "shared"  # spelled in two so that this file does not refer to it either


@pytest.mark.skipif(shutil.which("git") is None or not (REPOSITORY / ".git").exists(), reason="needs the git checkout")
def test_no_file_of_the_repository_refers_to_anything_outside_it() -> None:
    listed = (
        subprocess.run(["git", "ls-files", "-z"], cwd=REPOSITORY, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    referring = []
    for name in filter(None, listed):
        path = REPOSITORY / name
        if not path.is_file():  # deleted in the work tree, not yet in the index
            continue
        content = path.read_bytes()
        if b"\0" not in content and OUTSIDE.encode() in content:  # text files only
            referring.append(name)
    assert not referring, f"files that refer to {OUTSIDE}: {referring}"
