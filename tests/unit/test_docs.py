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


SRC = Path(__file__).resolve().parents[2] / "src" / "amishare"


def _emitted(pattern: str) -> set[str]:
    """What ``pattern`` (one group) finds in amishare's source; the sandbox's aside (AWS's documents, not ours)."""
    import re

    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        if "sandbox" not in path.relative_to(SRC).parts:
            found |= set(re.findall(pattern, path.read_text(encoding="utf-8")))
    return found


def test_output_page_documents_every_json_schema_amishare_emits() -> None:
    """Issue 19: docs/output.md documents every JSON schema amishare emits, each under a heading of its own (the
    manifest's, an input, in docs/manifest.md); and it names every command that offers ``--output json``."""
    import click

    from amishare.cli.main import COMMANDS, cli

    text = (DOCS / "output.md").read_text()
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    schemas = _emitted(r"[\"'](amishare\.[a-z-]+/\d+)[\"']")
    assert {"amishare.iam/1", "amishare.verify/1", "amishare.progress/1", "amishare.leave-share/1"} <= schemas
    for schema in schemas - {"amishare.manifest/1"}:
        assert any(f"## `{schema}`" in h for h in headings), f"docs/output.md has no heading for {schema}"
    assert "amishare.manifest/1" in (DOCS / "manifest.md").read_text()
    context = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(context, name)
        commands = dict(command.commands) if isinstance(command, click.Group) else {}
        for full, each in [(name, command), *((f"{name} {s}", c) for s, c in commands.items())]:
            output = next((p for p in each.params if p.name == "output"), None)
            if output is not None and isinstance(output.type, click.Choice) and "json" in output.type.choices:
                assert any(f"`{full}" in h for h in headings), f"docs/output.md names no document of {full}"


def test_output_page_documents_every_progress_event_and_the_logging() -> None:
    text = (DOCS / "output.md").read_text()
    progress = text.split("## `amishare.progress/1`", 1)[1]
    events = _emitted(r"json_line\(\s*\"([a-z-]+)\"")
    assert events == {"run", "action", "poll", "heartbeat", "aws-call", "log"}
    for event in events:
        assert f'"event": "{event}"' in progress, event
    assert "### Logging: `-v/--verbose` and `--debug`" in progress
