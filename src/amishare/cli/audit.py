"""``amishare audit``: who can use which image, across accounts and regions, through all three gates."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from amishare.checks.audit import SEVERITIES
from amishare.cli.common import comma_list, emit, load_settings, with_connection, wrap
from amishare.errors import EXIT_AUDIT_FINDINGS, EXIT_AUDIT_UNREAD, UsageError
from amishare.render import audit_report
from amishare.render.checks import audit_json, audit_text


@click.command()
@click.option("--accounts", multiple=True, callback=comma_list, help="Accounts to audit (ids or config names).")
@click.option("--org", is_flag=True, help="Every active account of the caller's organization (management account).")
@click.option("--regions", multiple=True, callback=comma_list, help="Regions to audit [default: --region].")
@click.option("--all-regions", is_flag=True, help="Every region enabled for the caller.")
@click.option(
    "--allow",
    multiple=True,
    callback=comma_list,
    help="Accounts (ids or config names), organizations or OUs that may be given access [default: [audit] allow].",
)
@click.option("--report", "report_path", default=None, help="Also write the report to FILE (.html, .csv or .json).")
@click.option(
    "--fail-on",
    type=click.Choice(["critical", "high", "medium", "low"]),
    default=None,
    help="Exit 14 when a finding is at least this severe (CI). An account or region that could not be read "
    "exits 17 with or without it.",
)
@with_connection(("text", "table", "json", "csv", "html"))
@wrap
def audit(params: dict[str, Any]) -> None:
    """Every image the accounts own, who can use it through each of the three gates, and what is wrong.

    Findings carry a stable code and severity (docs/audit.md). Exit 17 when an account or region asked for
    could not be read; 14 with --fail-on when a finding is at least that severe."""
    from amishare import api

    output, path, fail_on = params.pop("output"), params.pop("report_path"), params.pop("fail_on")
    if path:
        check_report_path(path)  # before any AWS call: a scan must not be lost to a path that cannot be written
    settings = load_settings(params)
    found = api.audit(
        settings,
        api.AuditRequest(
            accounts=tuple(params["accounts"]),
            org=params["org"],
            regions=tuple(params["regions"]),
            all_regions=params["all_regions"],
            allow=tuple(params["allow"]),
        ),
        on_progress=_progress if sys.stderr.isatty() else None,
    )
    if sys.stderr.isatty():
        click.echo("", err=True)
    document = audit_json(found)
    if path:
        Path(path).write_text(audit_report.report_for(path, found, document))
    if output == "csv":
        click.echo(audit_report.audit_csv(found), nl=False)
    elif output == "html":
        click.echo(audit_report.audit_html(found), nl=False)
    else:
        emit(output, audit_text(found), document)
    if found.unread:  # fails closed: an audit that could not read what it was asked to read does not pass
        click.echo(
            f"error: {len(found.unread_accounts)} account(s) could not be read ({', '.join(found.unread_accounts)}): "
            "the audit cannot vouch for them; give amishare a role it can assume there (docs/audit.md)",
            err=True,
        )
        sys.exit(EXIT_AUDIT_UNREAD)
    if fail_on and any(SEVERITIES.index(f.severity) <= SEVERITIES.index(fail_on) for f in found.findings):
        sys.exit(EXIT_AUDIT_FINDINGS)


def check_report_path(path: str) -> None:
    """Refuse a --report FILE that cannot be written, or whose extension names no format amishare writes."""
    target = Path(path)
    if target.suffix.lower() not in audit_report.REPORT_SUFFIXES:
        raise UsageError(
            f"--report {path}: the extension names the format; end the file name with one of "
            f"{', '.join(audit_report.REPORT_SUFFIXES)}"
        )
    folder = target.parent
    if target.is_dir():
        raise UsageError(f"--report {path} is a directory: give a file name in it, e.g. {target / 'audit.html'}")
    if not folder.is_dir():
        raise UsageError(f"--report {path}: the directory {folder} does not exist: create it (mkdir -p {folder})")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise UsageError(f"--report {path}: not writable by this user: choose a path you can write")


def _progress(done: int, total: int, images: int) -> None:
    click.echo(f"\raudit: {done}/{total} account-regions read, {images} images", err=True, nl=False)
