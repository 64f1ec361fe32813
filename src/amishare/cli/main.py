"""Entry point of the ``amishare`` command: the command group and the error-to-exit-code boundary."""

from __future__ import annotations

import sys

import click

from amishare import __version__
from amishare.cli.demo import demo
from amishare.cli.runs import runs
from amishare.cli.sandbox import sandbox
from amishare.cli.share import revoke, share, show
from amishare.errors import AmiShareError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="amishare")
def cli() -> None:
    """Share Amazon Machine Images across AWS accounts, organizations and regions, securely.

    amishare opens (and closes) the three gates of an AMI share together: launch permission,
    snapshot permission and KMS key access, re-encrypting images on the AWS managed key
    aws/ebs first. Run `amishare demo` to see it on a local AWS.
    """


for command in (share, revoke, show, runs, demo, sandbox):
    cli.add_command(command)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except AmiShareError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
