"""``amishare sandbox serve``: run the local AWS for rehearsals with any AWS tool."""

from __future__ import annotations

import threading
from pathlib import Path

import click

from amishare.sandbox import demo_world


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
def serve(
    port: int,
    copy_seconds_per_gib: float,
    latency_ms: float,
    throttle: bool,
    enforce_iam: bool,
    seed: bool,
    seed_ages: tuple[str, ...],
    write_config: str | None,
) -> None:
    """Serve the local AWS until interrupted, printing the endpoint, the credentials to export and an
    amishare.toml for the served accounts."""
    from amishare import inputs
    from amishare.errors import UsageError
    from amishare.sandbox import Sandbox

    ages = [inputs.duration(age) for age in seed_ages]  # checked before the sandbox starts
    if ages and not seed:
        raise UsageError("--seed-age adds older builds to the seeded demo world: drop --empty")

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
        _config(sb.endpoint_url, seed, write_config)
        click.echo("serving; press Ctrl-C to stop", err=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            click.echo("stopped", err=True)


def _config(endpoint_url: str, seeded: bool, path: str | None) -> None:
    """The amishare.toml for the served accounts: written to ``path``, or printed (a TOML comment first, so the
    printed block is itself the file)."""
    journal = "amishare-journal.sqlite3"  # beside the config file
    text = (
        demo_world.config_text(endpoint_url, journal)
        if seeded
        else f'[defaults]\nregion = "{demo_world.REGION}"\nendpoint_url = "{endpoint_url}"\njournal = "{journal}"\n'
    )
    if path is not None:
        Path(path).write_text(text)
        click.echo(f"config written to {path}: amishare --config {path} ... (as account {demo_world.BUILDER})")
        return
    click.echo("# amishare.toml for these accounts (or --write-config FILE writes it):")
    click.echo(text, nl=False)
