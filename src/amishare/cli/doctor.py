"""``amishare doctor``: why an account can or cannot see, launch or copy an image, and the fix."""

from __future__ import annotations

import sys
from typing import Any

import click

from amishare.checks.doctor import CAPABILITIES, DEFAULT_NEEDS
from amishare.cli.common import comma_list, connection_options, emit, load_settings, wrap
from amishare.errors import EXIT_DOCTOR_FAILED, UsageError
from amishare.render.checks import doctor_json, doctor_text


@click.command()
@click.argument("image")
@click.option("--account", required=True, help="The account that should use IMAGE (id or config name).")
@click.option(
    "--need",
    "needs",
    multiple=True,
    callback=comma_list,
    help=f"Capabilities that must work ({', '.join(CAPABILITIES)}; default {','.join(DEFAULT_NEEDS)}).",
)
@click.option("--dest-key", default=None, help="The target's own key for its copy (default: its key in the config).")
@click.option(
    "--probe",
    is_flag=True,
    help="Also try the target's launch and copy as dry runs through its role: what its SCPs allow (the role needs "
    "ec2:RunInstances and ec2:CopyImage; nothing is launched or copied).",
)
@connection_options
@wrap
def doctor(params: dict[str, Any]) -> None:
    """Why ACCOUNT can or cannot see, launch, copy or Auto Scaling-launch IMAGE: every cause, its code and fix.

    Exit 13 when a capability asked for (--need) does not work."""
    from amishare import api

    output, needs = params.pop("output"), params.pop("needs") or DEFAULT_NEEDS
    unknown = [n for n in needs if n not in CAPABILITIES]
    if unknown:
        raise UsageError(f"--need {','.join(unknown)}: choose from {', '.join(CAPABILITIES)}")
    settings = load_settings(params)
    result = api.doctor(
        settings,
        api.DoctorRequest(params["image"], params["account"], dest_key=params["dest_key"], probe=params["probe"]),
    )
    emit(output, doctor_text(result, needs), doctor_json(result, needs))
    if not result.works(needs):
        sys.exit(EXIT_DOCTOR_FAILED)
