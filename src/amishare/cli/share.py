"""``amishare share``, ``revoke`` and ``show``."""

from __future__ import annotations

from typing import Any

import click

from amishare.cli.common import (
    comma_list,
    confirmer,
    connection_options,
    emit,
    finish,
    image_argument,
    load_settings,
    wrap,
)
from amishare.cli.progress import progress_view
from amishare.render.checks import gates_json, gates_text

TARGET_HELP = "Account id, account name from the config, organization ARN, OU ARN, or 'public'. Repeatable."


@click.command()
@click.argument("image", callback=image_argument)
@click.option("--to", "targets", multiple=True, required=True, metavar="TARGET", help=TARGET_HELP, callback=comma_list)
@click.option(
    "--key-access",
    type=click.Choice(["policy", "grant"]),
    default=None,
    help="Give targets key access by key policy statements or by KMS grants [default: policy].",
)
@click.option(
    "--reencrypt-key",
    default=None,
    metavar="KEY",
    help="Customer managed key to re-encrypt aws/ebs images with [default: share_key in the config].",
)
@click.option("--allow-public", is_flag=True, help="Allow TARGET 'public' (every AWS account can launch the image).")
@click.option(
    "--ssm-parameter", default=None, metavar="NAME", help="In each target account (its role), set NAME to the image."
)
@click.option(
    "--launch-template", default=None, metavar="NAME|ID", help="In each target account, a template version with it."
)
@click.option("--set-default", is_flag=True, help="Make that version the template's default.")
@click.option("--deprecate-after", default=None, metavar="DURATION", help="Deprecate the re-encrypted copy after.")
@click.option("--deregistration-protection", is_flag=True, help="Protect the re-encrypted copy from deregistration.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Tag the re-encrypted copy.")
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Apply without asking.")
@connection_options
@wrap
def share(params: dict[str, Any]) -> None:
    """Share IMAGE with accounts, organizations or OUs: launch permission, snapshot permission and KMS key
    access together. Images on aws/ebs are first re-encrypted with the share key."""
    from amishare import api
    from amishare.planners.transfer_request import share_distribution

    output, dry_run = params.pop("output"), params.pop("dry_run")
    distribution = share_distribution(
        params["ssm_parameter"],
        params["launch_template"],
        params["set_default"],
        params["deprecate_after"],
        params["deregistration_protection"],
        tuple(params["tags"]),
    )
    settings = load_settings(params)
    with progress_view(True, live=False, output=output) as view:
        outcome = api.share(
            settings,
            api.ShareRequest(
                params["image"],
                tuple(params["targets"]),
                key_access=params["key_access"],
                reencrypt_key=params["reencrypt_key"],
                allow_public=params["allow_public"],
                distribution=distribution,
            ),
            dry_run=dry_run,
            hooks=api.Hooks(
                confirm=view.confirm(confirmer(params["yes"], output)),
                on_event=view.event,
                on_poll=view.poll,
                progress=view.watching,
            ),
        )
    finish(outcome, output, dry_run, shown=view.lines)


@click.command()
@click.argument("image", callback=image_argument)
@click.option(
    "--from", "targets", multiple=True, required=True, metavar="TARGET", help=TARGET_HELP, callback=comma_list
)
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Apply without asking.")
@connection_options
@wrap
def revoke(params: dict[str, Any]) -> None:
    """Close all three gates of IMAGE for the named targets only (key access stays while another image
    encrypted with the same key is still shared with them)."""
    from amishare import api

    output, dry_run = params.pop("output"), params.pop("dry_run")
    settings = load_settings(params)
    with progress_view(True, live=False, output=output) as view:
        outcome = api.revoke(
            settings,
            api.RevokeRequest(params["image"], tuple(params["targets"])),
            dry_run=dry_run,
            hooks=api.Hooks(
                confirm=view.confirm(confirmer(params["yes"], output)),
                on_event=view.event,
                on_poll=view.poll,
                progress=view.watching,
            ),
        )
    finish(outcome, output, dry_run, shown=view.lines)


@click.command()
@click.argument("image", callback=image_argument)
@click.option(
    "--to",
    "targets",
    multiple=True,
    metavar="TARGET",
    help=TARGET_HELP + " [default: everyone the image is shared with].",
    callback=comma_list,
)
@connection_options
@wrap
def show(params: dict[str, Any]) -> None:
    """For every target, whether each of the three gates of IMAGE is open, and why."""
    from amishare import api

    output = params.pop("output")
    settings = load_settings(params)
    reports = api.show(settings, api.ShowRequest(params["image"], tuple(params["targets"])))
    emit(output, gates_text(reports), gates_json(reports))
