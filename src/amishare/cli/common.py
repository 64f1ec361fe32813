"""What the commands share: the global options, output, confirmation, exit codes."""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from amishare import inputs
from amishare.cli.logs import logging_to_stderr
from amishare.engine.plan import Plan
from amishare.errors import EXIT_PARTIAL, UsageError
from amishare.render.plan import confirm_question, plan_json, plan_text, result_json, result_text
from amishare.render.table import table_text
from amishare.render.transfer import transfer_json, transfer_text
from amishare.render.wrap import fit

if TYPE_CHECKING:
    from amishare.api import Outcome, Settings

F = TypeVar("F", bound=Callable[..., Any])


def connection_options(func: F) -> F:
    """--config, --profile, --region, --endpoint-url, --journal, --output (text, table, json), -v/--verbose and
    --debug."""
    return with_connection(("text", "table", "json"))(func)


def with_connection(outputs: tuple[str, ...]) -> Callable[[F], F]:
    """``connection_options`` with the ``--output`` formats a command offers."""
    return lambda func: _connection(func, outputs)


def _connection(func: F, outputs: tuple[str, ...]) -> F:
    @functools.wraps(func)
    def logged(**params: Any) -> Any:
        verbose, debug = params.pop("verbose"), params.pop("debug")
        with logging_to_stderr(verbose, debug, as_json=params.get("output") == "json"):
            return func(**params)

    options = [
        click.option(
            "--config",
            "config_path",
            type=click.Path(dir_okay=False),
            default=None,
            help="Config file [default: ./amishare.toml when present].",
        ),
        click.option("--profile", default=None, help="AWS profile (boto3's credential chain otherwise)."),
        click.option(
            "--region",
            default=None,
            help="Region of the image [default: $AWS_REGION, $AWS_DEFAULT_REGION, amishare.toml, the profile's].",
        ),
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
            type=click.Choice(list(outputs)),
            default="text",
            show_default=True,
            help="Output format; json is stable (docs/output.md), and errors are JSON on stdout too.",
        ),
        click.option("--verbose", "-v", is_flag=True, help="Show each AWS call on stderr (docs/output.md)."),
        click.option("--debug", is_flag=True, help="Show each AWS call with its parameters, and every log record."),
    ]
    for option in reversed(options):
        logged = option(logged)
    return logged  # type: ignore[return-value]


def load_settings(params: dict[str, Any], **extra: Any) -> Settings:
    from amishare import api  # loads boto3: only when a command runs, never for --help

    flags = api.Flags(
        config_path=params.pop("config_path"),
        profile=params.pop("profile"),
        region=params.pop("region"),
        endpoint_url=params.pop("endpoint_url"),
        journal_path=params.pop("journal_path"),
        **extra,
    )
    return api.settings(flags)


def text_width(err: bool = False) -> int | None:
    """The width text is fitted to (render/wrap.py) when standard output (``err``: error) is a terminal: ``$COLUMNS``
    when set, else the terminal's; None when it is not a terminal (a pipe or a file gets lines as they are)."""
    stream = sys.stderr if err else sys.stdout
    if not stream.isatty():
        return None
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() else shutil.get_terminal_size().columns


def say(text: str, err: bool = False) -> None:
    """``text`` for people, fitted to the terminal: wrapped at words with a hanging indent, ids and commands whole."""
    click.echo(fit(text, text_width(err)), err=err)


def emit(output: str, text: str, document: dict[str, Any]) -> None:
    if output == "json":
        click.echo(json.dumps(document, indent=2, default=str))
    elif output == "table":
        click.echo(table_text(document))
    else:
        say(text)


def comma_list(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    """``--to a,b --to c`` -> ``(a, b, c)``: repeats and comma lists alike."""
    return tuple(item.strip() for value in values for item in value.split(",") if item.strip())


def image_argument(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Validate an IMAGE argument before anything else."""
    return inputs.image_id(value)


def confirmer(yes: bool, output: str) -> Callable[[Plan], bool]:
    """Show the plan (text output), then ask; ``--yes`` skips the question, a non-interactive session
    without it is refused."""

    def confirm(plan: Plan) -> bool:
        if output == "text":
            say(plan_text(plan))
        if yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError(
                "not applying without confirmation: add --yes to apply in a non-interactive session, "
                "or --dry-run to only see the plan"
            )
        if output != "text":  # stdout is for the document: the plan asked about is shown on the terminal first
            say(plan_text(plan), err=True)
        return ask(confirm_question(plan))

    return confirm


def ask(question: str) -> bool:
    """Ask ``question`` (no by default). Ctrl-C is an interruption (exit 130 at the boundary, nothing applied),
    not a no; end of input (Ctrl-D) is a no."""
    try:
        return click.confirm(question, default=False, err=True)
    except click.Abort as exc:  # click turns both Ctrl-C and end of input into Abort
        if isinstance(exc.__context__, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        click.echo("", err=True)
        return False


def finish(outcome: Outcome, output: str, dry_run: bool, *, shown: bool = False) -> None:
    """Print the outcome and exit with its code: 0 done, nothing to do or dry run; 1 declined; 4 every action
    failed; 7 partial (or a transfer whose notification failed). ``shown``: the progress lines already said each
    action, so the result lists only those that did not succeed (one line per action)."""
    plan, result = outcome.plan, outcome.result
    if result is None:
        if output in ("json", "table"):
            emit(output, "", plan_json(plan))
        elif dry_run or not plan.actions:
            say(plan_text(plan))
        if dry_run and plan.actions and output == "text":
            say("Dry run: nothing was changed. To apply this plan, run the command again without --dry-run.", err=True)
        if not dry_run and plan.actions:
            click.echo("Not applied.", err=True)
            sys.exit(1)
        return
    if plan.command == "transfer":
        text = transfer_text(result)
        document = {
            **transfer_json(result),
            "notified": list(outcome.notified),
            "notify_error": outcome.notify_error,
        }
    else:
        text, document = result_text(result, each=not shown), result_json(result)
    if outcome.notified:
        text += "\nNotified: " + ", ".join(outcome.notified)
    if outcome.notify_error:
        text += f"\nNotification FAILED: {outcome.notify_error}"
    emit(output, text, document)
    if result.status == "partial" or (result.status == "succeeded" and outcome.notify_error):
        sys.exit(EXIT_PARTIAL)
    if result.status == "failed":
        sys.exit(4)


def wrap(func: F) -> F:
    """Keep the command's own keyword arguments apart from the shared ones."""

    @functools.wraps(func)
    def inner(**params: Any) -> Any:
        return func(params)

    return inner  # type: ignore[return-value]
