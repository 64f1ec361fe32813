"""``amishare manifest validate -f FILE``: a manifest of desired state checked, with no AWS call."""

from __future__ import annotations

import click

from amishare.cli.common import emit


@click.group()
def manifest() -> None:
    """The manifest of desired state (docs/manifest.md): validate one; plan, apply and drift act on it."""


@manifest.command("validate")
@click.option("-f", "--file", "path", required=True, type=click.Path(dir_okay=False), help="The manifest (TOML).")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file whose [accounts.NAME] the manifest names [default: ./amishare.toml when present].",
)
@click.option(
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format; json is stable (docs/output.md), and errors are JSON on stdout too.",
)
def validate(path: str, config_path: str | None, output: str) -> None:
    """Check every key, value and reference of a manifest (target groups, amishare.toml's accounts, regions)
    with no AWS call; exit 3 naming each problem, its key and the fix."""
    from amishare import config
    from amishare.aws.regions import known_regions  # botocore's data, read without boto3: no session, no call
    from amishare.planners.manifest import load_manifest
    from amishare.render.manifest import manifest_json, manifest_text

    loaded = load_manifest(path, config.load(config_path), known_regions())
    emit(output, manifest_text(loaded), manifest_json(loaded))
