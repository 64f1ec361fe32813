"""Entry point of the ``amishare`` command: the command group and the error-to-exit-code boundary.

Commands load on first use (``COMMANDS``): ``amishare --help`` imports click and this module only, not
boto3 nor the engine; a test keeps the short help shown here equal to each command's own.
"""

from __future__ import annotations

import importlib
import itertools
import json
from typing import Any

import click

from amishare import __version__
from amishare.cli.global_options import move_global_options
from amishare.cli.logs import with_log_flags
from amishare.errors import EXIT_INTERRUPTED, AmiShareError

# name -> (module:attribute, the short help `amishare --help` shows)
COMMANDS: dict[str, tuple[str, str]] = {
    "audit": (
        "amishare.cli.audit:audit",
        "Every image the accounts own, who can use it through each of the three gates,...",
    ),
    "share": (
        "amishare.cli.share:share",
        "Share IMAGE with accounts, organizations or OUs: launch permission, snapshot...",
    ),
    "revoke": (
        "amishare.cli.share:revoke",
        "Close all three gates of IMAGE for the named targets only (key access stays...",
    ),
    "show": (
        "amishare.cli.share:show",
        "For every target, whether each of the three gates of IMAGE is open, and why.",
    ),
    "transfer": (
        "amishare.cli.transfer:transfer",
        "Hand IMAGE over to other accounts: each destination copies it, re-encrypted...",
    ),
    "resume": (
        "amishare.cli.transfer:resume",
        "Finish an interrupted or partly failed run: what succeeded is not redone (AWS...",
    ),
    "runs": ("amishare.cli.runs:runs", "List recorded runs, newest first."),
    "manifest": (
        "amishare.cli.manifest:manifest",
        "The manifest of desired state (docs/manifest.md): validate one, or import one...",
    ),
    "plan": (
        "amishare.cli.converge:plan",
        "What it takes to bring the estate to the manifest: versions resolved, OUs...",
    ),
    "apply": (
        "amishare.cli.converge:apply",
        "Bring the estate to the manifest (-f FILE), or apply a plan saved by `plan...",
    ),
    "drift": (
        "amishare.cli.converge:drift",
        "What differs between the manifest and AWS, each finding with a code, the...",
    ),
    "shared-with-me": (
        "amishare.cli.shared:shared_with_me",
        "Images shared with this account in the region: owner, how shared, and whether...",
    ),
    "verify": (
        "amishare.cli.verify:verify",
        "Check that every volume of IMAGE is EBS-backed and encrypted (with --key when...",
    ),
    "iam": (
        "amishare.cli.iam:iam",
        "The identity policy each role needs for the commands it runs, derived from...",
    ),
    "init": (
        "amishare.cli.init:init",
        "Write a starter amishare.toml from the organization: accounts by name, OUs,...",
    ),
    "leave-share": (
        "amishare.cli.leave_share:leave_share",
        "Remove this account from the launch permission of IMAGE, shared with it by...",
    ),
    "doctor": (
        "amishare.cli.doctor:doctor",
        "Why ACCOUNT can or cannot see, launch, copy or Auto Scaling-launch IMAGE:...",
    ),
    "bootstrap": (
        "amishare.cli.bootstrap:bootstrap",
        "Write the CloudFormation templates (destination role, source role, share key,...",
    ),
    "cleanup": (
        "amishare.cli.cleanup:cleanup",
        "Deprecate, disable or deregister old images: never one in use (here or, with...",
    ),
    "demo": (
        "amishare.cli.demo:demo",
        "Run amishare's story on an embedded sandbox (no AWS account needed): plan,...",
    ),
    "engine": (
        "amishare.cli.engine:engine",
        "The serverless engine in AWS (docs/engine.md): its Lambda bundle and stack.",
    ),
    "sandbox": (
        "amishare.cli.sandbox:sandbox",
        "The local AWS (moto plus the AMI-sharing rules it lacks); see docs/sandbox.md.",
    ),
}


class AmiShareGroup(click.Group):
    """Loads commands on first use, and maps amishare's errors to their exit codes (errors.py), in one place."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, _, attribute = COMMANDS[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return with_log_flags(command)  # -v/--debug on every command, those without connection options too

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in self.list_commands(ctx)])

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["amishare.args"] = list(args)  # the command line, for the error boundary below
        args = move_global_options(args, lambda name: self.get_command(ctx, name))  # amishare --region R show
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        args = list(ctx.meta.get("amishare.args", []))
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # click's own (a missing argument, an unknown option): its text on stderr
            if _wants_json(args):  # and, as for amishare's errors, the JSON error on stdout
                error = {"code": "UsageError", "message": exc.format_message(), "exit": exc.exit_code}
                click.echo(json.dumps({"error": error}, indent=2))
            raise
        except AmiShareError as exc:
            click.echo(f"error: {exc}", err=True)
            if _wants_json(args):  # a machine reading stdout gets the error there too
                from amishare.render.errors import error_json

                click.echo(json.dumps({"error": error_json(exc)}, indent=2))
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt as exc:
            run_id = getattr(exc, "run_id", None)  # errors.RunInterrupted: a run was under way
            if run_id:
                click.echo(f"Interrupted: run {run_id} is resumable: amishare resume {run_id}", err=True)
            else:
                click.echo("Interrupted.", err=True)
            ctx.exit(EXIT_INTERRUPTED)


def _wants_json(args: list[str]) -> bool:
    """Whether the command line asks for ``--output json``."""
    return "--output=json" in args or any(pair == ("--output", "json") for pair in itertools.pairwise(args))


@click.group(cls=AmiShareGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="amishare")
def cli() -> None:
    """Share Amazon Machine Images across AWS accounts, organizations and regions, securely.

    amishare opens (and closes) the three gates of an AMI share together: launch permission,
    snapshot permission and KMS key access, re-encrypting images on the AWS managed key
    aws/ebs first. Run `amishare demo` to see it on a local AWS.

    \b
    Global options (--config, --profile, --region, --endpoint-url, --journal, --output)
    go before or after the command: amishare --region eu-west-1 show IMAGE
    """


def main() -> None:
    cli(prog_name="amishare")
