"""``amishare leave-share``: the consumer drops an image shared with its account that it no longer wants."""

from __future__ import annotations

import sys
from typing import Any

import click

from amishare.cli.common import ask, connection_options, emit, image_argument, load_settings, wrap
from amishare.errors import UsageError
from amishare.render.checks import leave_share_text


@click.command("leave-share")
@click.argument("image", callback=image_argument)
@click.option("--dry-run", is_flag=True, help="Say what would be left; change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Leave without asking.")
@connection_options
@wrap
def leave_share(params: dict[str, Any]) -> None:
    """Remove this account from the launch permission of IMAGE, shared with it by another account (it then no
    longer sees it; only a share by account id can be left, and the owner can share again)."""
    from amishare.api.leaving import LeaveShareRequest, LeftShare
    from amishare.api.leaving import leave_share as leave

    output, dry_run, yes = params.pop("output"), params.pop("dry_run"), params.pop("yes")
    settings = load_settings(params)

    def confirm(found: LeftShare) -> bool:
        if output == "text":
            click.echo(leave_share_text(found.to_dict()))
        if yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError("not leaving without confirmation: add --yes in a non-interactive session")
        return ask("Leave this share?")

    left = leave(settings, LeaveShareRequest(params["image"]), dry_run=dry_run, confirm=confirm)
    if not dry_run and not left.dropped:
        click.echo("Not left.", err=True)
        sys.exit(1)
    emit(output, leave_share_text(left.to_dict()), left.to_dict())
