"""``amishare plan``, ``apply`` and ``drift``: a manifest of desired state planned, applied and checked."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from amishare.cli.common import confirmer, connection_options, emit, finish, load_settings, with_connection, wrap
from amishare.cli.progress import progress_view
from amishare.errors import EXIT_DRIFT, EXIT_PLAN_CHANGES, UsageError

if TYPE_CHECKING:
    from amishare.api.converge import ConvergeRequest

FILE_HELP = "The manifest (TOML, docs/manifest.md)."
FAMILY_HELP = "Only this image family of the manifest."
DESTROY_HELP = "Apply removals of access amishare made for accounts the manifest no longer names ([safety] prune)."


@click.command()
@click.option("-f", "--file", "path", required=True, type=click.Path(dir_okay=False), help=FILE_HELP)
@click.option("--family", default=None, help=FAMILY_HELP)
@click.option("--allow-destroy", is_flag=True, help=DESTROY_HELP)
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None, help="Save the plan for `apply PLAN`.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 16 when changes are pending, 0 when none.")
@connection_options
@wrap
def plan(params: dict[str, Any]) -> None:
    """What it takes to bring the estate to the manifest: versions resolved, OUs expanded, every target and
    region observed, the difference as one plan. No change is made."""
    from amishare.api.converge import ConvergeRequest, plan_manifest
    from amishare.render.plan import plan_json, plan_text

    output, out, detailed = params.pop("output"), params.pop("out"), params.pop("detailed_exitcode")
    request = ConvergeRequest(params.pop("path"), params.pop("family"), params.pop("allow_destroy"))
    made = plan_manifest(load_settings(params), request)
    if out:
        import json

        Path(out).write_text(json.dumps(plan_json(made.plan), indent=2, default=str) + "\n", encoding="utf-8")
    emit(output, plan_text(made.plan) + _how_to_apply(request, out, bool(made.plan.actions)), plan_json(made.plan))
    if detailed and made.plan.actions:
        sys.exit(EXIT_PLAN_CHANGES)


def _how_to_apply(request: ConvergeRequest, out: str | None, pending: bool) -> str:
    """The command that applies a plan: the saved one exactly, or the manifest's again."""
    import shlex

    if out:
        return f"\nSaved to {out}: amishare apply {shlex.quote(out)}"
    if not pending:
        return ""
    family = f" --family {shlex.quote(request.family)}" if request.family else ""
    destroy = " --allow-destroy" if request.allow_destroy else ""
    return (
        f"\nTo apply it: `amishare apply -f {shlex.quote(request.path)}{family}{destroy}` (or save it with --out "
        "PLAN.json and apply exactly that plan: `amishare apply PLAN.json`)"
    )


@click.command()
@click.argument("saved", required=False, type=click.Path(dir_okay=False))
@click.option("-f", "--file", "path", type=click.Path(dir_okay=False), default=None, help=FILE_HELP)
@click.option("--family", default=None, help=FAMILY_HELP)
@click.option("--allow-destroy", is_flag=True, help=DESTROY_HELP)
@click.option("--yes", "-y", is_flag=True, help="Apply without asking.")
@connection_options
@wrap
def apply(params: dict[str, Any]) -> None:
    """Bring the estate to the manifest (-f FILE), or apply a plan saved by `plan --out` exactly (SAVED),
    refused when the facts it was made from changed. Journaled and resumable; a second run changes nothing."""
    from amishare import api
    from amishare.api.converge import ConvergeRequest, apply_manifest, apply_saved

    output, saved, path = params.pop("output"), params.pop("saved"), params.pop("path")
    if bool(saved) == bool(path):
        raise UsageError("apply takes a manifest (-f FILE) or a saved plan (PLAN.json), one of the two")
    if saved and (params["family"] or params["allow_destroy"]):
        raise UsageError("--family and --allow-destroy shape a new plan: a saved plan is applied as it was made")
    request = ConvergeRequest(path or "", params.pop("family"), params.pop("allow_destroy"))
    settings = load_settings(params)
    with progress_view(output == "text", live=False) as view:
        hooks = api.Hooks(
            confirm=confirmer(params["yes"], output), on_event=view.event, on_poll=view.poll, progress=view.watching
        )
        outcome = (
            apply_saved(settings, saved, hooks=hooks) if saved else apply_manifest(settings, request, hooks=hooks)[1]
        )
    finish(outcome, output, dry_run=False)


@click.command()
@click.option("-f", "--file", "path", required=True, type=click.Path(dir_okay=False), help=FILE_HELP)
@click.option("--family", default=None, help=FAMILY_HELP)
@with_connection(("text", "table", "json"))
@wrap
def drift(params: dict[str, Any]) -> None:
    """What differs between the manifest and AWS, each finding with a code, the image, account, region and
    the fix; exit 15 when anything drifted, 0 when nothing did."""
    from amishare.api.converge import ConvergeRequest, plan_manifest
    from amishare.render.drift import drift_json, drift_text

    output, path = params.pop("output"), params.pop("path")
    made = plan_manifest(load_settings(params), ConvergeRequest(path, params["family"]))
    resolved = [made.facts.resolutions[f].describe() for f in sorted(made.facts.resolutions)]
    emit(output, drift_text(path, resolved, made.drift), drift_json(path, resolved, made.drift))
    if made.drift:
        sys.exit(EXIT_DRIFT)
