"""``amishare cleanup``: deprecate, disable or deregister old images, never one still needed."""

from __future__ import annotations

from typing import Any

import click

from amishare.cli.common import comma_list, confirmer, connection_options, finish, load_settings, wrap
from amishare.cli.progress import progress_view
from amishare.errors import UsageError


@click.command()
@click.option("--accounts", multiple=True, callback=comma_list, help="Accounts to clean (ids or config names).")
@click.option("--regions", multiple=True, callback=comma_list, help="Regions to clean [default: --region].")
@click.option("--name", default=None, metavar="GLOB", help="Images whose name matches GLOB (e.g. 'golden-*').")
@click.option("--tag", default=None, metavar="KEY=VALUE", help="Images with this tag.")
@click.option(
    "--older-than", default=None, metavar="DURATION", help="Only images older than this, e.g. 90d (or --keep-last)."
)
@click.option(
    "--keep-last", type=click.IntRange(0), default=None, help="Keep the N newest of each family (or --older-than)."
)
@click.option("--unused-for", default=None, metavar="DURATION", help="Keep images launched within this, e.g. 30d.")
@click.option("--deprecate", "action", flag_value="deprecate", help="Deprecate the images (they still launch).")
@click.option("--disable", "action", flag_value="disable", help="Disable them (removes their launch permissions).")
@click.option("--deregister", "action", flag_value="deregister", help="Deregister them with their snapshots.")
@click.option("--include-shared", is_flag=True, help="Also shared images: their shares are revoked first.")
@click.option("--dry-run", is_flag=True, help="Show what happens to each image; change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Apply without asking.")
@connection_options
@wrap
def cleanup(params: dict[str, Any]) -> None:
    """Deprecate, disable or deregister old images: never one in use (here or, with --include-shared, in the
    accounts it is shared with), protected, managed by AWS Backup, or among the newest of its family."""
    from amishare import api

    output, dry_run = params.pop("output"), params.pop("dry_run")
    if params["action"] is None:
        raise UsageError("choose what cleanup does: --deprecate, --disable or --deregister")
    settings = load_settings(params)
    request = api.CleanupRequest(
        action=params["action"],
        name=params["name"],
        tag=params["tag"],
        older_than=params["older_than"],
        keep_last=params["keep_last"],
        unused_for=params["unused_for"],
        include_shared=params["include_shared"],
        accounts=tuple(params["accounts"]),
        regions=tuple(params["regions"]),
    )
    with progress_view(True, live=False, output=output) as view:
        hooks = api.Hooks(confirm=view.confirm(confirmer(params["yes"], output)), on_event=view.event)
        outcome = api.cleanup(settings, request, dry_run=dry_run, hooks=hooks)
    finish(outcome, output, dry_run, shown=view.lines)
