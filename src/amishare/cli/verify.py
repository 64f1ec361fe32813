"""``amishare verify``: is every volume of an image EBS-backed and encrypted as it should be (for CI)."""

from __future__ import annotations

import sys
from typing import Any

import click

from amishare.cli.common import connection_options, emit, load_settings, wrap
from amishare.errors import EXIT_VERIFY_FAILED, UsageError
from amishare.render.checks import verify_json, verify_text


@click.command()
@click.argument("images", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every image of yours in the region that has --tag.")
@click.option("--tag", default=None, metavar="KEY=VALUE", help="With --all: the tag that picks the images.")
@click.option("--key", default=None, help="The key every volume must be encrypted with (id, ARN or alias).")
@click.option("--shareable", is_flag=True, help="Also refuse aws/ebs: an image on it can never be shared.")
@connection_options
@wrap
def verify(params: dict[str, Any]) -> None:
    """Check that every volume of IMAGE is EBS-backed and encrypted (with --key when given); exit 12 if not."""
    from amishare import api

    output, every, tag = params.pop("output"), params.pop("every"), params.pop("tag")
    if every != bool(tag):
        raise UsageError("--all needs --tag KEY=VALUE (and --tag goes with --all): e.g. --all --tag role=golden")
    settings = load_settings(params)
    results = api.verify(
        settings,
        api.VerifyRequest(images=tuple(params["images"]), tag=tag, key=params["key"], shareable=params["shareable"]),
    )
    emit(output, verify_text(results), verify_json(results))
    if not all(r.ok for r in results):
        sys.exit(EXIT_VERIFY_FAILED)
