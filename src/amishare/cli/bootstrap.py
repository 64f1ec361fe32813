"""``amishare bootstrap``: the CloudFormation templates a new organization deploys before its first share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from amishare.cli.common import comma_list, wrap
from amishare.errors import UsageError


@click.command()
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Directory to write them to.")
@click.option("--source", default=None, metavar="ACCOUNT", help="The image owner's account (for the README).")
@click.option("--org", is_flag=True, help="Destinations: the whole organization (a service-managed StackSet).")
@click.option("--accounts", multiple=True, callback=comma_list, help="Destinations: these accounts (a StackSet).")
@click.option("--regions", multiple=True, callback=comma_list, help="Regions of the share keys and stacks.")
@wrap
def bootstrap(params: dict[str, Any]) -> None:
    """Write the CloudFormation templates (destination role, source role, share key, monitoring) and a README,
    with the policies amishare's calls need (amishare iam)."""
    from amishare.generate import bootstrap as templates
    from amishare.inputs import region
    from amishare.model import ACCOUNT_ID

    if params["org"] and params["accounts"]:
        raise UsageError("--org or --accounts, not both")
    for account in (params["source"], *params["accounts"]):
        if account and not ACCOUNT_ID.match(account):
            raise UsageError(f"{account!r} is not an account id (12 digits)")
    regions = tuple(region(r) for r in params["regions"])
    out = Path(params["out"])
    out.mkdir(parents=True, exist_ok=True)
    for name, document in templates.templates().items():
        (out / name).write_text(json.dumps(document, indent=2) + "\n")
    (out / "README.md").write_text(
        templates.readme(params["source"], tuple(params["accounts"]), params["org"], regions)
    )
    click.echo(f"wrote {', '.join(sorted(templates.templates()))} and README.md to {out}")
