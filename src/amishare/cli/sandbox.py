"""``amishare sandbox serve``: run the local AWS for rehearsals with any AWS tool."""

from __future__ import annotations

import threading

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
def serve(
    port: int, copy_seconds_per_gib: float, latency_ms: float, throttle: bool, enforce_iam: bool, seed: bool
) -> None:
    """Serve the local AWS until interrupted, printing the endpoint and credentials to export."""
    from amishare.sandbox import Sandbox

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
        for account in accounts:
            exports = " ".join(f"{k}={v}" for k, v in sb.credentials(account).items())
            click.echo(f"account {account}: export {exports}")
        if seed:
            click.echo(
                f"golden image {world.golden_image} ({world.region}, owner {world.builder}, aws/ebs); "
                f"share key {world.share_key_arn}; organization {world.organization_arn}"
            )
        click.echo("serving; press Ctrl-C to stop", err=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            click.echo("stopped", err=True)
