"""``amishare engine``: the serverless engine (docs/engine.md). ``engine package --out FILE.zip`` builds the Lambda
bundle of its runner (generate/lambda_bundle.py)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from amishare.cli.common import say
from amishare.errors import UsageError

MB = 1024 * 1024  # Lambda's MB (its 50 MB limit is 52,428,800 bytes)


@click.group()
def engine() -> None:
    """The serverless engine in AWS (docs/engine.md): its Lambda bundle."""


@engine.command()
@click.option("--out", "out", required=True, metavar="FILE.zip", help="The zip to write (replaced when it exists).")
def package(out: str) -> None:
    """Build the Lambda bundle of the engine's runner: amishare and the pure-Python distributions its handler
    needs, from this Python's installation (nothing downloaded), in a deterministic zip checked against Lambda's
    size limits. Exit 9 when it cannot be built as Lambda needs it (the message says why and how)."""
    from amishare.generate import lambda_bundle

    bundle = lambda_bundle.build(check_out_path(out))
    lines = [
        f"Wrote {bundle.path}: {bundle.zipped / MB:.1f} MB zipped, {bundle.unzipped / MB:.1f} MB unzipped "
        f"({bundle.files} files; Lambda takes {lambda_bundle.MAX_ZIPPED // MB} MB zipped, "
        f"{lambda_bundle.MAX_UNZIPPED // MB} MB unzipped)",
        "Distributions: " + ", ".join(f"{name} {version}" for name, version in bundle.distributions),
    ]
    if bundle.left_out:
        lines.append(f"Left out: {', '.join(bundle.left_out)} (only amishare's command line uses them)")
    lines += [
        f"Handler: {bundle.handler}",
        f"Runtime: {' or '.join(bundle.runtimes)} (pure Python: x86_64 or arm64)",
        f"CodeSha256: {bundle.sha256}",
    ]
    for line in lines:
        say(line)


def check_out_path(path: str) -> Path:
    """Refuse an --out that cannot be the bundle: not a .zip, a directory, in a folder missing or not writable."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"--out {path} is a directory: give a file name in it, e.g. {target / 'amishare-engine.zip'}")
    if target.suffix.lower() != ".zip":
        raise UsageError(f"--out {path}: the bundle is a zip: end the file name with .zip")
    folder = target.parent
    if not folder.is_dir():
        raise UsageError(f"--out {path}: the directory {folder} does not exist: create it (mkdir -p {folder})")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"--out {path}: the directory {folder} is not writable by this user: choose another")
    return target
