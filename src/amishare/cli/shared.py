"""``amishare shared-with-me``: images shared with this account, and whether it can launch and copy them."""

from __future__ import annotations

from typing import Any

import click

from amishare.cli.common import connection_options, emit, load_settings, wrap
from amishare.render.checks import shared_json, shared_text


@click.command("shared-with-me")
@connection_options
@wrap
def shared_with_me(params: dict[str, Any]) -> None:
    """Images shared with this account in the region: owner, how shared, and whether it can launch and copy."""
    from amishare import api

    output = params.pop("output")
    state, images = api.shared_with_me(load_settings(params))
    emit(output, shared_text(state, images), shared_json(state, images))
