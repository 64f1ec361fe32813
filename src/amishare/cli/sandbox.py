"""``amishare sandbox serve``: run the local AWS for rehearsals with any AWS tool."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

import click

from amishare.sandbox import demo_world

ENGINE_TABLE = "amishare-engine"  # the engine's journal (Sandbox.deploy_engine's default table)


@click.group()
def sandbox() -> None:
    """The local AWS (moto plus the AMI-sharing rules it lacks); see docs/sandbox.md."""


@sandbox.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port on 127.0.0.1 (0 picks a free one).",
)
@click.option(
    "--copy-seconds-per-gib",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="How long copies stay pending, per GiB of snapshot.",
)
@click.option(
    "--latency-ms", type=click.FloatRange(min=0), default=0.0, show_default=True, help="Delay added to every request."
)
@click.option(
    "--throttle/--no-throttle",
    default=False,
    show_default=True,
    help="EC2 token-bucket throttling (RequestLimitExceeded) with AWS's bucket sizes.",
)
@click.option(
    "--enforce-iam/--no-enforce-iam",
    default=False,
    show_default=True,
    help="Enforce the identity policies of assumed roles (AccessDenied / UnauthorizedOperation as AWS words them).",
)
@click.option(
    "--seed/--empty",
    default=True,
    show_default=True,
    help="Seed the demo accounts, key, organization and golden image.",
)
@click.option(
    "--seed-age",
    "seed_ages",
    multiple=True,
    metavar="DURATION",
    help="Also seed an older build of the golden image, created this long ago (e.g. 90d); repeat for more.",
)
@click.option(
    "--write-config",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    metavar="FILE",
    help="Write the amishare.toml for the served accounts to FILE (else it is printed).",
)
@click.option(
    "--engine",
    is_flag=True,
    default=False,
    help="Also deploy amishare's serverless engine for --manifest (docs/engine.md, \"Local rehearsal\").",
)
@click.option(
    "--manifest",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    metavar="FILE",
    help="The manifest the engine converges (with --engine).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    metavar="FILE",
    help="The amishare.toml the engine's runner reads (default: the one printed for the served accounts).",
)
def serve(
    port: int,
    copy_seconds_per_gib: float,
    latency_ms: float,
    throttle: bool,
    enforce_iam: bool,
    seed: bool,
    seed_ages: tuple[str, ...],
    write_config: str | None,
    engine: bool,
    manifest: str | None,
    config_path: str | None,
) -> None:
    """Serve the local AWS until interrupted, printing the endpoint, the credentials to export and an
    amishare.toml for the served accounts; with --engine, the engine deployed for a manifest, started by its
    triggers, and how to publish an image to it."""
    from amishare import inputs
    from amishare.errors import UsageError
    from amishare.sandbox import Sandbox

    ages = [inputs.duration(age) for age in seed_ages]  # checked before the sandbox starts
    if ages and not seed:
        raise UsageError("--seed-age adds older builds to the seeded demo world: drop --empty")
    if engine != (manifest is not None):
        raise UsageError("--engine deploys the engine for a manifest: pass both --engine and --manifest FILE")
    if config_path is not None and not engine:
        raise UsageError("--config is the engine's runner's amishare.toml: pass it with --engine")

    with Sandbox(
        copy_seconds_per_gib=copy_seconds_per_gib,
        latency_ms=latency_ms,
        throttle=throttle,
        port=port,
        enforce_iam=enforce_iam,
    ) as sb:
        click.echo(f"endpoint: {sb.endpoint_url}")
        accounts: tuple[str, ...] = (demo_world.BUILDER, *demo_world.CONSUMERS, demo_world.OUTSIDER)
        if seed:
            world = demo_world.seed(sb)
            accounts = world.accounts
        region = demo_world.REGION
        for account in accounts:
            exports = " ".join(f"{k}={v}" for k, v in {**sb.credentials(account), "AWS_DEFAULT_REGION": region}.items())
            click.echo(f"account {account}: export {exports}")
        if seed:
            click.echo(
                f"golden image {world.golden_image} ({world.region}, owner {world.builder}, aws/ebs); "
                f"share key {world.share_key_arn}; organization {world.organization_arn}"
            )
            for build in demo_world.seed_builds(sb, ages):
                click.echo(
                    f"older build {build.image_id} {build.name} ({world.region}, owner {world.builder}, aws/ebs), "
                    f"created {build.created:%Y-%m-%dT%H:%M:%SZ}"
                )
            click.echo(
                f"role {demo_world.ROLE_NAME} in each consumer ({', '.join(world.consumers)}), trusting "
                f"{world.builder}, external id {demo_world.EXTERNAL_ID}"
            )
        _config_and_engine(sb, seed, write_config, manifest, config_path)
        click.echo("serving; press Ctrl-C to stop", err=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            click.echo("stopped", err=True)


def _config_and_engine(
    sb: Any, seeded: bool, write_config: str | None, manifest: str | None, config_path: str | None
) -> None:
    """Print (or write) the amishare.toml for the served accounts, its journal the engine's table when an engine is
    deployed for ``manifest`` (its runner reading ``config_path``, else that amishare.toml); print the engine's
    lines."""
    journal = f"dynamodb://{ENGINE_TABLE}" if manifest else "amishare-journal.sqlite3"  # beside the config file
    text = _config_text(sb.endpoint_url, seeded, journal)
    if write_config is not None:
        Path(write_config).write_text(text)
    if manifest is not None:
        from amishare.cli import sandbox_engine

        runner_config = Path(config_path or write_config or _kept(text))
        for line in sandbox_engine.deploy(sb, manifest, runner_config):
            click.echo(line)
    if write_config is not None:
        click.echo(
            f"config written to {write_config} (as account {demo_world.BUILDER}): give it to amishare's commands with "
            f"--config {write_config}"
        )
    else:
        click.echo("# amishare.toml for these accounts (or --write-config FILE writes it):")
        click.echo(text, nl=False)


def _config_text(endpoint_url: str, seeded: bool, journal: str) -> str:
    """The amishare.toml for the served accounts (printed, a TOML comment first, the printed block is itself the
    file; or written to ``--write-config``)."""
    if seeded:
        return demo_world.config_text(endpoint_url, journal)
    return f'[defaults]\nregion = "{demo_world.REGION}"\nendpoint_url = "{endpoint_url}"\njournal = "{journal}"\n'


def _kept(text: str) -> Path:
    """``text`` written to an amishare.toml of its own (the engine's runner reads it)."""
    kept = Path(tempfile.mkdtemp(prefix="amishare-sandbox-")) / "amishare.toml"
    kept.write_text(text)
    return kept
