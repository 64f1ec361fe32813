"""``amishare init``: a starter amishare.toml from the caller's organization (``aws configure``, ``terraform
init``): its accounts by their names, the OUs as comments, the role and the keys found, the rest commented."""

from __future__ import annotations

from typing import Any

import click

from amishare.cli.common import load_settings, with_connection, wrap


@click.command()
@click.option(
    "--out",
    "path",
    default="amishare.toml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The file to write (never overwritten without --force).",
)
@click.option("--force", is_flag=True, help="Overwrite --out when it exists.")
@click.option(
    "--role-name",
    default="AmiShareRole",
    show_default=True,
    help="The role amishare assumes in the other accounts (amishare bootstrap's destination role).",
)
@click.option("--external-id", default=None, metavar="ID", help="The external id that role requires, if any.")
@click.option(
    "--check-roles/--no-check-roles",
    default=True,
    show_default=True,
    help="Try the role in each member account (AssumeRole only) and read its keys' aliases.",
)
@with_connection(("text",))
@wrap
def init(params: dict[str, Any]) -> None:
    """Write a starter amishare.toml from the organization: accounts by name, OUs, role and keys found."""
    from amishare.api.starter import InitRequest
    from amishare.api.starter import init as write_starter

    params.pop("output")
    request = InitRequest(
        path=params.pop("path"),
        force=params.pop("force"),
        role_name=params.pop("role_name"),
        external_id=params.pop("external_id"),
        check_roles=params.pop("check_roles"),
    )
    path, found = write_starter(load_settings(params), request)
    active = [a for a in found.accounts if a.status == "ACTIVE"]
    members = [a for a in active if a.id != found.caller]
    assumed = sum(1 for a in members if a.role == "")
    units = f" in {len(found.units)} OUs" if found.units else ""
    click.echo(f"wrote {path}: {len(active)} accounts{units} as [accounts.NAME] (by their Organizations names)")
    if request.check_roles and members:
        click.echo(f"  role {request.role_name}: assumed in {assumed} of {len(members)} member accounts")
    if found.unread:
        click.echo(f"  the organization's accounts were not listed: {found.unread}")
    click.echo("  commented lines are what could not be confirmed: read their notes, then check it with:")
    click.echo(f"  amishare --config {path} show IMAGE")
