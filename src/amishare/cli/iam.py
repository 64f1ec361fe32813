"""``amishare iam``: the least-privilege policy of each role amishare uses, derived from what it calls."""

from __future__ import annotations

import json
from typing import Any

import click

from amishare.cli.common import comma_list, wrap
from amishare.errors import UsageError


@click.command()
@click.option("--role", "roles", multiple=True, callback=comma_list, help="source, destination, auditor or cleanup.")
@click.option("--for", "commands", multiple=True, callback=comma_list, help="Commands the role runs [default: all].")
@click.option("--regions", multiple=True, callback=comma_list, help="Regions to scope ARNs and kms:ViaService to.")
@click.option("--source", default=None, metavar="ACCOUNT", help="The image owner's account (scopes its key ARNs).")
@click.option("--destination", default=None, metavar="ACCOUNT", help="The destination's account (its key ARNs).")
@click.option(
    "--role-name", "role_names", multiple=True, callback=comma_list, help="Roles the source may assume [default: any]."
)
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@wrap
def iam(params: dict[str, Any]) -> None:
    """The identity policy each role needs for the commands it runs, derived from the calls amishare makes
    (docs/iam.md); resources scoped to image, snapshot, key, parameter and template ARNs, key use to EC2.

    Standard output holds the policy documents only (each role's title goes to stderr): with one --role,
    `amishare iam --role source > policy.json` writes a document `aws iam put-role-policy` takes."""
    from amishare.generate import iam_policy as policies
    from amishare.inputs import region
    from amishare.model import ACCOUNT_ID

    roles = params["roles"] or policies.ROLES
    commands = params["commands"] or policies.COMMANDS
    for name, known, what in ((roles, policies.ROLES, "--role"), (commands, policies.COMMANDS, "--for")):
        unknown = [n for n in name if n not in known]
        if unknown:
            raise UsageError(f"{what} {','.join(unknown)}: choose from {', '.join(known)}")
    for account in (params["source"], params["destination"]):
        if account and not ACCOUNT_ID.match(account):
            raise UsageError(f"{account!r} is not an account id (12 digits)")
    scope = policies.Scope(
        regions=tuple(region(r) for r in params["regions"]),
        source=params["source"],
        destination=params["destination"],
        role_names=tuple(params["role_names"]),
    )
    found = {r: policies.policy(r, commands, scope) for r in roles}
    found = {r: p for r, p in found.items() if p["Statement"]}
    if params["output"] == "json":
        click.echo(json.dumps({"schema": "amishare.iam/1", "commands": list(commands), "policies": found}, indent=2))
        return
    if not found:
        click.echo(
            f"no permission needed: amishare makes no call as {', '.join(roles)} for {', '.join(commands)}", err=True
        )
    for role, document in found.items():  # stdout: the policy documents alone (> policy.json is valid JSON)
        click.echo(f"# {role} role, for: {', '.join(commands)}", err=True)
        click.echo(json.dumps(document, indent=2))
