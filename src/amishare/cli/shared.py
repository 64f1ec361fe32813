"""``amishare shared-with-me``: images shared with this account, and whether it can launch and copy them."""

from __future__ import annotations

from typing import Any

import click

from amishare.cli.common import comma_list, connection_options, emit, load_settings, wrap
from amishare.render.checks import shared_json, shared_text


@click.command("shared-with-me")
@click.option(
    "--regions",
    multiple=True,
    callback=comma_list,
    help="Regions to look in, e.g. us-east-1,eu-west-1 [default: --region].",
)
@connection_options
@wrap
def shared_with_me(params: dict[str, Any]) -> None:
    """Images shared with this account in the region: owner, how shared, and whether it can launch and copy."""
    from amishare import api

    output, regions = params.pop("output"), params.pop("regions")
    states, images = api.shared_with_me_in(load_settings(params), regions)
    emit(output, shared_text(states, images), shared_json(states, images))
