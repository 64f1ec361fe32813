"""What the commands share: the global options, output, confirmation, exit codes."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from amishare import api, render
from amishare.actions import Action, Plan
from amishare.api import Outcome
from amishare.errors import EXIT_PARTIAL, UsageError

F = TypeVar("F", bound=Callable[..., Any])


def connection_options(func: F) -> F:
    """--config, --profile, --region, --endpoint-url, --journal, --output, -v."""
    options = [
        click.option(
            "--config",
            "config_path",
            type=click.Path(dir_okay=False),
            default=None,
            help="Config file [default: ./amishare.toml when present].",
        ),
        click.option("--profile", default=None, help="AWS profile (boto3's credential chain otherwise)."),
        click.option("--region", default=None, help="Region of the image [default: config, then AWS_REGION]."),
        click.option("--endpoint-url", default=None, help="AWS endpoint, e.g. a local AWS (amishare sandbox serve)."),
        click.option(
            "--journal",
            "journal_path",
            type=click.Path(dir_okay=False),
            default=None,
            help="Run journal (SQLite) [default: $AMISHARE_JOURNAL or ~/.local/state/amishare/].",
        ),
        click.option(
            "--output",
            type=click.Choice(["text", "json"]),
            default="text",
            show_default=True,
            help="Output format; json is stable (docs/output.md).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def load_settings(params: dict[str, Any], **extra: Any) -> api.Settings:
    return api.settings(
        params.pop("config_path"),
        profile=params.pop("profile"),
        region=params.pop("region"),
        endpoint_url=params.pop("endpoint_url"),
        journal_path=params.pop("journal_path"),
        **extra,
    )


def emit(output: str, text: str, document: dict[str, Any]) -> None:
    if output == "json":
        click.echo(json.dumps(document, indent=2, default=str))
    else:
        click.echo(text)


def confirmer(yes: bool, output: str) -> Callable[[Plan], bool]:
    def confirm(plan: Plan) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError(
                "not applying without confirmation: add --yes to apply in a non-interactive session, "
                "or --dry-run to only see the plan"
            )
        return click.confirm("Apply these changes?", default=False, err=True)

    return confirm


def progress(output: str) -> Callable[[Action, str, str | None], None]:
    def event(action: Action, state: str, detail: str | None) -> None:
        if state == "running":
            click.echo(f"  ... {action.kind.value}: {action.summary}", err=True)

    return event


def finish(outcome: Outcome, output: str, dry_run: bool) -> None:
    """Print the outcome and exit with its code: 0 done or nothing to do, 1 declined, 4 failed, 7 partial."""
    plan = outcome.plan
    if outcome.result is None:
        if output == "json":
            emit(output, "", render.plan_json(plan))
        elif not dry_run and plan.actions:
            click.echo("Not applied.", err=True)
        if not dry_run and plan.actions:
            sys.exit(1)
        return
    result = outcome.result
    emit(output, render.result_text(result), render.result_json(result))
    if result.status == "partial":
        sys.exit(EXIT_PARTIAL)
    if result.status == "failed":
        sys.exit(4)


def wrap(func: F) -> F:
    """Keep the command's own keyword arguments apart from the shared ones."""

    @functools.wraps(func)
    def inner(**params: Any) -> Any:
        return func(params)

    return inner  # type: ignore[return-value]
