"""``amishare transfer`` and ``amishare resume``."""

from __future__ import annotations

from typing import Any

import click

from amishare import inputs
from amishare.cli.common import (
    comma_list,
    confirmer,
    connection_options,
    finish,
    image_argument,
    load_settings,
    wrap,
)
from amishare.cli.progress import progress_view
from amishare.config import MAX_PARALLEL


@click.command()
@click.argument("image", callback=image_argument)
@click.option(
    "--from",
    "source",
    default=None,
    metavar="SOURCE",
    help="The account that owns IMAGE (id or name from the config) [default: source under [transfer]].",
)
@click.option(
    "--to",
    "destinations",
    multiple=True,
    required=True,
    metavar="DEST",
    help="Destination: an account (id or name from the config), or an organization or OU ARN, expanded into its "
    "active accounts when the plan is made. Repeatable, or a comma list.",
    callback=comma_list,
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="ACCOUNT",
    callback=comma_list,
    help="An account to leave out of the organizations and OUs of --to. Repeatable, or a comma list.",
)
@click.option("--regions", default=None, metavar="R1,R2", help="Regions to copy into [default: the image's region].")
@click.option("--dest-key", default=None, metavar="KEY", help="Key for every destination copy (overrides the config).")
@click.option(
    "--allow-default-key/--no-allow-default-key",
    default=None,
    help="Accept copies encrypted with a destination's default key.",
)
@click.option("--keep-share/--no-keep-share", default=None, help="Leave the destinations' access to the source.")
@click.option("--keep-staging/--no-keep-staging", default=None, help="Keep the staging copies after the transfer.")
@click.option(
    "--key-access",
    type=click.Choice(["auto", "policy", "grant"]),
    default=None,
    help="How destinations reach the source key: amishare's key policy statement while they fit (auto), "
    "always the policy, or a grant per destination and run (concurrent runs never share it) [default: auto].",
)
@click.option(
    "--grant-autoscaling/--no-grant-autoscaling",
    default=None,
    help="With --keep-share: each destination grants the source key to its AWSServiceRoleForAutoScaling.",
)
@click.option(
    "--ssm-parameter",
    default=None,
    metavar="NAME",
    help="In each destination and region, set this SSM parameter (data type aws:ec2:image) to the new copy.",
)
@click.option(
    "--launch-template",
    default=None,
    metavar="NAME|ID",
    help="In each destination and region, give this launch template a new version with the new copy.",
)
@click.option("--set-default/--no-set-default", default=None, help="Make that version the template's default.")
@click.option("--deprecate-after", default=None, metavar="DURATION", help="Deprecate each copy after, e.g. 90d.")
@click.option(
    "--deregistration-protection/--no-deregistration-protection",
    default=None,
    help="Protect each copy from deregistration.",
)
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Tag the copies and their snapshots.")
@click.option(
    "--copy-duration",
    default=None,
    metavar="DURATION",
    help="Time-based copies: done within DURATION (15m steps, 15m to 48h).",
)
@click.option("--notify-email", default=None, metavar="ADDR", help="Email the result (SES) to ADDR.")
@click.option("--ses-sender", default=None, metavar="ADDR", help="Verified SES identity to send from.")
@click.option("--notify-sns", default=None, metavar="ARN", help="Publish the result to an SNS topic.")
@click.option("--max-parallel", type=click.IntRange(*MAX_PARALLEL), default=None, help="API calls in flight at most.")
@click.option("--timeout", default=None, help="Overall limit for the copies, e.g. 90m or 24h [default: 24h].")
@click.option("--no-progress", is_flag=True, help="No progress view.")
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Apply without asking.")
@connection_options
@wrap
def transfer(params: dict[str, Any]) -> None:
    """Hand IMAGE over to other accounts: each destination copies it, re-encrypted with its own key, into each
    region; then the source's share is revoked and the staging copies deleted. Settings not given as flags
    come from [transfer] in the config."""
    from amishare import api

    output, dry_run = params.pop("output"), params.pop("dry_run")
    settings = load_settings(params)
    regions = [r.strip() for r in (params["regions"] or "").split(",") if r.strip()]
    timeout = inputs.duration(params["timeout"]) if params["timeout"] else None

    request = api.TransferRequest(
        image=params["image"],
        destinations=tuple(params["destinations"]),
        source=params["source"],
        regions=tuple(regions),
        dest_key=params["dest_key"],
        allow_default_key=params["allow_default_key"],
        keep_share=params["keep_share"],
        keep_staging=params["keep_staging"],
        grant_autoscaling=params["grant_autoscaling"],
        key_access=params["key_access"],
        notify_email=params["notify_email"],
        ses_sender=params["ses_sender"],
        notify_sns=params["notify_sns"],
        timeout=timeout,
        max_parallel=params["max_parallel"],
        ssm_parameter=params["ssm_parameter"],
        launch_template=params["launch_template"],
        set_default=params["set_default"],
        deprecate_after=params["deprecate_after"],
        deregistration_protection=params["deregistration_protection"],
        tags=tuple(params["tags"]),
        copy_duration=params["copy_duration"],
        exclude=tuple(params["exclude"]),
    )
    with progress_view(not params["no_progress"], output=output) as view:
        outcome = api.transfer(
            settings,
            request,
            dry_run=dry_run,
            hooks=api.Hooks(
                confirm=view.confirm(confirmer(params["yes"], output)),
                on_event=view.event,
                on_poll=view.poll,
                progress=view.watching,
            ),
        )
    finish(outcome, output, dry_run)


@click.command()
@click.argument("run_id")
@click.option("--no-progress", is_flag=True, help="No progress view.")
@click.option(
    "--for",
    "budget",
    default=None,
    metavar="DURATION",
    help="Run one slice: at most this long (e.g. 10m), then pause; resume again to go on (docs/engine.md).",
)
@connection_options
@wrap
def resume(params: dict[str, Any]) -> None:
    """Finish an interrupted or partly failed run: what succeeded is not redone (AWS is re-read)."""
    from amishare import api, inputs
    from amishare.engine.plan import Plan

    output = params.pop("output")
    raw_budget = params.pop("budget")
    budget = inputs.duration(raw_budget) if raw_budget else None
    settings = load_settings(params)
    record = api.run(settings, params["run_id"])  # the run as recorded: its destinations, what is already done
    with progress_view(not params["no_progress"], output=output) as view:
        view.start(Plan.from_dict(record.plan), {action.key: action.state for action in record.actions})
        outcome = api.resume(
            settings,
            params["run_id"],
            hooks=api.Hooks(on_event=view.event, on_poll=view.poll, progress=view.watching),
            budget=budget,
        )
    finish(outcome, output, False)
