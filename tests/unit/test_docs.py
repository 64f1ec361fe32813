"""The docs that restate code stay in step with it."""

from __future__ import annotations

from pathlib import Path

from amishare.engine.kinds import KINDS
from amishare.engine.permissions import READ_PERMISSIONS
from amishare.generate import iam_doc

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_iam_page_lists_the_permissions_the_code_declares() -> None:
    text = (DOCS / "iam.md").read_text()
    assert text == iam_doc.render(), "docs/iam.md is stale: python -m amishare.generate.iam_doc > docs/iam.md"
    read = text.split("<!-- permissions:read -->", 1)[1].split("##", 1)[0]
    for permission in READ_PERMISSIONS:
        assert f"`{permission}`" in read
    for kind, cls in KINDS.items():
        section = text.split(f"### {kind.value}\n", 1)[1].split("###", 1)[0]
        for needed in cls.needs:
            assert f"`{needed.action}`" in section


def _layout_tree() -> set[str]:
    """The paths the Layout tree of docs/architecture.md lists under ``src/amishare/``."""
    text = (DOCS / "architecture.md").read_text()
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    paths: set[str] = set()
    stack: list[str] = []
    for line in block.splitlines():
        if not line.strip() or line.startswith("src/amishare/"):
            continue
        if not line.startswith("  "):
            break  # tests/, benchmarks/ ...: past the package
        depth = (len(line) - len(line.lstrip(" "))) // 2 - 1
        name = line.split()[0]
        stack[depth:] = [name]
        if name.endswith(".py"):
            paths.add("".join(stack))
    return paths


def test_the_architecture_page_lists_every_module_of_the_package() -> None:
    package = Path(__file__).resolve().parents[2] / "src" / "amishare"
    modules = {
        str(p.relative_to(package)) for p in package.rglob("*.py") if p.name != "__init__.py" or p.parent == package
    }
    listed = _layout_tree()
    assert modules - listed == set(), "modules missing from docs/architecture.md's Layout"
    assert listed - modules == set(), "docs/architecture.md's Layout names modules that do not exist"
