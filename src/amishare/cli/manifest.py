"""``amishare manifest validate -f FILE`` (a manifest of desired state checked, with no AWS call) and ``amishare
manifest import`` (a manifest written from what exists)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from amishare.cli.common import comma_list, emit, load_settings, with_connection, wrap


@click.group()
def manifest() -> None:
    """The manifest of desired state (docs/manifest.md): validate one, or import one from what exists."""


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


@manifest.command("import")
@click.option("--family", required=True, help="The family's name in the manifest written.")
@click.option("--image", default=None, metavar="AMI", help="The family is this image (select = { id = ... }).")
@click.option("--ssm-parameter", default=None, metavar="NAME", help="The family's image is what NAME holds.")
@click.option("--name", default=None, metavar="GLOB", help="The family's image is the newest whose name matches.")
@click.option("--regions", multiple=True, callback=comma_list, help="Regions to look in [default: the region].")
@click.option(
    "--destinations",
    multiple=True,
    callback=comma_list,
    metavar="TARGET",
    help="Accounts or OU ARNs whose own copies to look for [default: amishare.toml's accounts].",
)
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False), default=None, help="Write it here (not stdout).")
@with_connection(("text",))
@wrap
def import_(params: dict[str, Any]) -> None:
    """Write a manifest of what exists today for an image family: who it is shared with in each region, who owns
    copies of it (adoption: start from the real estate, then `amishare plan -f FILE`). Read-only."""
    from amishare.api.adopt import ImportRequest, import_manifest

    params.pop("output")
    out = params.pop("out")
    request = ImportRequest(
        params.pop("family"),
        image=params.pop("image"),
        ssm_parameter=params.pop("ssm_parameter"),
        name=params.pop("name"),
        regions=tuple(params.pop("regions")),
        destinations=tuple(params.pop("destinations")),
    )
    text = import_manifest(load_settings(params), request)
    if out:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"Wrote {out}: review it, then `amishare plan -f {out}`", err=True)
    else:
        click.echo(text, nl=False)
