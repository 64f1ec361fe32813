"""``-v/--verbose`` and ``--debug``: amishare's log on standard error while a command runs.

The library logs through ``logging`` under ``amishare`` and never prints; the command line shows that log only
when asked: ``-v`` shows each AWS call (the INFO records of ``amishare.aws``: service, operation, account,
region, status, request id, retries, duration), ``--debug`` each call's parameters as well and every DEBUG
record. Lines carry their UTC time; with ``--output json`` each record is one JSON line
(``amishare.progress/1``, docs/output.md), beside the progress events.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

PROGRESS_SCHEMA = "amishare.progress/1"
LOGGER = "amishare"


def utc_stamp(when: float | None = None) -> str:
    """``when`` (epoch seconds; now when None) as ISO 8601 in UTC to the second: ``2026-11-22T11:42:29Z``."""
    moment = dt.datetime.now(dt.UTC) if when is None else dt.datetime.fromtimestamp(when, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def json_line(event: str, fields: dict[str, Any], when: float | None = None) -> str:
    """One progress event as a JSON line: schema, time, event, then ``fields``."""
    return json.dumps({"schema": PROGRESS_SCHEMA, "time": utc_stamp(when), "event": event, **fields}, default=str)


class _StderrHandler(logging.Handler):
    """Writes each record to the standard error of the moment (click's, so a test runner's capture sees it)."""

    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        call = getattr(record, "aws_call", None)
        if self.as_json:
            if call is not None:
                return json_line("aws-call", call, record.created)
            fields = {"level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
            return json_line("log", fields, record.created)
        level = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        return f"{utc_stamp(record.created)} {level}{record.getMessage()}"

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=True)
        except Exception:  # a log line must never break the run
            self.handleError(record)


def level_of(verbose: bool, debug: bool) -> int | None:
    """The level ``-v`` / ``--debug`` ask for (None: neither, the log stays silent)."""
    if debug:
        return logging.DEBUG
    return logging.INFO if verbose else None


@contextmanager
def logging_to_stderr(verbose: bool, debug: bool, as_json: bool = False) -> Iterator[None]:
    """Show amishare's log on standard error for the block when ``-v`` or ``--debug`` asks (JSON lines when
    ``as_json``); the logger is as it was afterwards."""
    level = level_of(verbose, debug)
    if level is None:
        yield
        return
    logger = logging.getLogger(LOGGER)
    handler = _StderrHandler(as_json)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        _about_this_run(logger)
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
        sys.stderr.flush()


def _about_this_run(logger: logging.Logger) -> None:
    """--debug's first record, as the AWS CLI's: amishare's and Python's versions and the command being run."""
    from amishare import __version__

    context = click.get_current_context(silent=True)
    command = " ".join(["amishare", *(context.command_path.split()[1:] if context is not None else [])])
    logger.debug("%s: amishare %s, Python %s, %s", command, __version__, platform.python_version(), sys.platform)


LOG_FLAGS = ("verbose", "debug")


def with_log_flags(command: click.Command) -> click.Command:
    """``command`` taking ``-v/--verbose`` and ``--debug`` (each subcommand of a group): a command without the
    connection options (``iam``, ``bootstrap``, ``demo``, ``manifest validate``, ``engine package``, ``sandbox
    serve``) accepts them as every other does, before or after its name, and shows amishare's log the same way.
    A command that has them already is left as it is; the change is made once per command object."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            with_log_flags(sub)
        return command
    if command.callback is None or {p.name for p in command.params} & set(LOG_FLAGS):
        return command
    callback = command.callback

    @functools.wraps(callback)
    def logged(*args: Any, verbose: bool = False, debug: bool = False, **params: Any) -> Any:
        with logging_to_stderr(verbose, debug, as_json=params.get("output") == "json"):
            return callback(*args, **params)

    command.callback = logged
    command.params += [
        click.Option(["--verbose", "-v"], is_flag=True, help="Show each AWS call on stderr (docs/output.md)."),
        click.Option(["--debug"], is_flag=True, help="Show each AWS call with its parameters, and every log record."),
    ]
    return command
