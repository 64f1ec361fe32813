"""``amishare engine``: the serverless engine (docs/engine.md). ``engine package --out FILE.zip`` builds the Lambda
bundle of its runner (generate/lambda_bundle.py), with ``--manifest`` the manifest and config it runs;
``engine template --out DIR --manifest FILE`` writes the stack that deploys it (generate/engine_template.py)."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

import click

from amishare.cli.common import say
from amishare.errors import UsageError

MB = 1024 * 1024  # Lambda's MB (its 50 MB limit is 52,428,800 bytes)


CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file whose [accounts.NAME] the manifest names [default: ./amishare.toml when present].",
)


@click.group()
def engine() -> None:
    """The serverless engine in AWS (docs/engine.md): its Lambda bundle and stack."""


@engine.command()
@click.option("--out", "out", required=True, metavar="FILE.zip", help="The zip to write (replaced when it exists).")
@click.option(
    "--manifest",
    "manifest_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="The manifest the engine runs, packed with the config it is checked with (checked first: exit 3).",
)
@CONFIG_OPTION
def package(out: str, manifest_path: str | None, config_path: str | None) -> None:
    """Build the Lambda bundle of the engine's runner: amishare and the pure-Python distributions its handler
    needs, from this Python's installation (nothing downloaded), in a deterministic zip checked against Lambda's
    size limits; with --manifest, the manifest and its config too (what `engine template` points the function
    at). Exit 9 when it cannot be built as Lambda needs it (the message says why and how)."""
    from amishare.generate import lambda_bundle

    target = check_out_path(out)
    packed = _deployed_files(manifest_path, config_path) if manifest_path else {}
    bundle = lambda_bundle.build(target, packed) if packed else lambda_bundle.build(target)
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
    if packed:
        lines.insert(-1, f"Manifest: {manifest_path} (as {', '.join(packed)})")
    for line in lines:
        say(line)


def _deployed_files(manifest_path: str, config_path: str | None) -> dict[str, bytes]:
    """The manifest (checked against the config: exit 3 naming every problem) and the config the runner reads,
    as the bundle carries them (generate/engine_template.py: BUNDLED_MANIFEST, BUNDLED_CONFIG)."""
    from amishare import config
    from amishare.aws.regions import known_regions  # botocore's data, read without boto3: no session, no call
    from amishare.generate import engine_template
    from amishare.planners.manifest import load_manifest

    loaded = config.load(config_path)
    load_manifest(manifest_path, loaded, known_regions())
    raw: dict[str, Any] = tomllib.loads(loaded.path.read_text(encoding="utf-8")) if loaded.path else {}
    return {
        engine_template.BUNDLED_MANIFEST: Path(manifest_path).read_bytes(),
        engine_template.BUNDLED_CONFIG: engine_template.bundled_config(raw).encode(),
    }


@engine.command()
@click.option("--out", "out", required=True, metavar="DIR", help="The directory to write engine.json and README.md to.")
@click.option(
    "--manifest", "manifest_path", required=True, type=click.Path(dir_okay=False), help="The manifest the engine runs."
)
@CONFIG_OPTION
@click.option("--bundle-bucket", default=None, metavar="BUCKET", help="The S3 bucket of the bundle (CodeBucket).")
@click.option("--bundle-key", default=None, metavar="KEY", help="Its key there [default: amishare-engine.zip].")
@click.option(
    "--budget", default=None, type=int, metavar="SECONDS", help="Seconds of a slice, 1 to 840 [default: 600]."
)
@click.option(
    "--concurrency", default=None, type=int, metavar="N", help="Chunks driven at once by the Map [default: 40]."
)
@click.option(
    "--schedule", default=None, metavar="EXPRESSION", help="When every family is reconciled [default: rate(1 day)]."
)
@click.option("--drift-topic", default=None, metavar="ARN", help="An SNS topic the scheduled reconcile may publish to.")
def template(
    out: str,
    manifest_path: str,
    config_path: str | None,
    bundle_bucket: str | None,
    bundle_key: str | None,
    budget: int | None,
    concurrency: int | None,
    schedule: str | None,
    drift_topic: str | None,
) -> None:
    """Write the engine's CloudFormation (DIR/engine.json: the journal's table, the runner's function, the state
    machine, the triggers, least-privilege roles) and DIR/README.md (how to deploy it), for a manifest checked
    against its config with no AWS call (exit 3 naming every problem)."""
    from amishare import config
    from amishare.aws.regions import known_regions  # botocore's data, read without boto3: no session, no call
    from amishare.generate import engine_template as made
    from amishare.planners.manifest import load_manifest

    defaults = made.EngineOptions()
    options = made.EngineOptions(
        budget=defaults.budget if budget is None else budget,
        concurrency=defaults.concurrency if concurrency is None else concurrency,
        schedule=schedule or defaults.schedule,
        drift_topic=drift_topic,
        code_bucket=bundle_bucket,
        code_key=bundle_key,
    )
    made.check_options(options)
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out {out} is a file: give a directory (it is made when missing)")
    loaded = config.load(config_path)
    manifest = load_manifest(manifest_path, loaded, known_regions())
    document = made.template(manifest, loaded, options)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "engine.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        paths = made.Paths(
            manifest_path,
            str(folder / "engine.json"),
            str(loaded.path) if loaded.path else None,
            loaded.defaults.region,
        )
        (folder / "README.md").write_text(made.readme(paths, options, manifest), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    rules = ", ".join(made.rules(manifest, options))
    say(
        f"Wrote {folder / 'engine.json'} ({len(document['Resources'])} resources; triggers: {rules}) and "
        f"{folder / 'README.md'} (how to deploy it)"
    )


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
