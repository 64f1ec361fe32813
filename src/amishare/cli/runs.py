"""``amishare runs`` and ``amishare runs show RUN_ID``: the journal."""

from __future__ import annotations

from typing import Any

import click

from amishare.cli.common import connection_options, emit, load_settings, wrap
from amishare.render.runs import run_json, run_text, runs_json, runs_text


@click.group(invoke_without_command=True)
@connection_options
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.pass_context
def runs(ctx: click.Context, /, **params: Any) -> None:
    """List recorded runs, newest first."""
    from amishare import api

    if ctx.invoked_subcommand is not None:
        return
    output, limit = params.pop("output"), params.pop("limit")
    records = api.runs(load_settings(params), limit)
    emit(output, runs_text(records), runs_json(records))


@runs.command("show")
@click.argument("run_id")
@connection_options
@wrap
def show_run(params: dict[str, Any]) -> None:
    """Show one run: every action, its state, error and output."""
    from amishare import api

    output = params.pop("output")
    record = api.run(load_settings(params), params["run_id"])
    emit(output, run_text(record), run_json(record))
