"""Entry point of the ``amishare`` command: the command group and the error-to-exit-code boundary."""

from __future__ import annotations

from typing import Any

import click

from amishare import __version__
from amishare.cli.demo import demo
from amishare.cli.runs import runs
from amishare.cli.sandbox import sandbox
from amishare.cli.share import revoke, share, show
from amishare.cli.transfer import resume, transfer
from amishare.errors import EXIT_INTERRUPTED, AmiShareError


class AmiShareGroup(click.Group):
    """Maps amishare's errors to their exit codes (errors.py), in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AmiShareError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(EXIT_INTERRUPTED)


@click.group(cls=AmiShareGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="amishare")
def cli() -> None:
    """Share Amazon Machine Images across AWS accounts, organizations and regions, securely.

    amishare opens (and closes) the three gates of an AMI share together: launch permission,
    snapshot permission and KMS key access, re-encrypting images on the AWS managed key
    aws/ebs first. Run `amishare demo` to see it on a local AWS.
    """


for command in (share, revoke, show, transfer, resume, runs, demo, sandbox):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="amishare")
