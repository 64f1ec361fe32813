"""``amishare sandbox serve --engine --manifest FILE``: the serverless engine deployed in the served sandbox (the
local rehearsal, docs/engine.md), and the lines that tell how to drive it: every command printed runs as printed
(a POSIX shell, the AWS CLI) against the served sandbox."""

from __future__ import annotations

import datetime as dt
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from amishare.sandbox import demo_world

if TYPE_CHECKING:
    from amishare.sandbox import Sandbox
    from amishare.sandbox.engine import EngineDeployment


def deploy(sb: Sandbox, manifest: str, config: Path) -> list[str]:
    """Deploy the engine for ``manifest`` (its runner reading ``config``) in the manifest's source account (the demo
    builder when it names none) and the demo region; seed an image for each family selected by an SSM parameter, to
    publish; the lines to print."""
    from amishare import config as config_file
    from amishare.aws.session import known_regions
    from amishare.model import TargetKind
    from amishare.planners.manifest import load_manifest
    from amishare.planners.manifest.model import ByName, BySsmParameter

    settings = config_file.load(config)
    loaded = load_manifest(manifest, settings, known_regions())
    source = loaded.defaults.source
    account = source.value if source is not None and source.kind is TargetKind.ACCOUNT else demo_world.BUILDER
    region = demo_world.REGION
    deployment = sb.deploy_engine(manifest, account=account, region=region, config=config)
    lines = [
        f"engine: state machine {deployment.state_machine_arn}; runner {deployment.function_arn} (answered in this "
        "process); waits on the sandbox's clock",
        f"journal: {deployment.journal}",
        f"triggers: {', '.join(r.rsplit('/', 1)[-1] for r in deployment.rule_arns)} -> {deployment.queue_url} -> "
        "one execution per event",
    ]
    stamp = f"{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}"
    key = settings.defaults.share_key or "aws/ebs"  # built with the share key, amishare shares it as it is
    for family in loaded.images:
        select = family.select
        if not isinstance(select, BySsmParameter | ByName):
            continue
        image = _seed(sb, account, region, f"{family.family}-build-{stamp}", key)
        if isinstance(select, BySsmParameter):
            command = (
                f"aws ssm put-parameter --name {shlex.quote(select.name)} --value {image} --type String "
                "--data-type aws:ec2:image --overwrite"
            )
            lines.append(f"publish {family.family}: {_as(sb, deployment, command)}")
        else:
            name = select.pattern.replace("*", stamp).replace("?", "0")
            command = (
                f"aws ec2 copy-image --source-image-id {image} --source-region {region} --name {shlex.quote(name)}"
                + (f" --encrypted --kms-key-id {shlex.quote(key)}" if key != "aws/ebs" else "")
            )
            lines.append(f"build {family.family}: {_as(sb, deployment, command)}")
    runs = f"amishare runs --journal {deployment.journal}"
    lines.append(f"runs: {_as(sb, deployment, runs)}")
    executions = f"aws stepfunctions list-executions --state-machine-arn {deployment.state_machine_arn}"
    lines.append(f"executions: {_as(sb, deployment, executions)}")
    return lines


def _seed(sb: Sandbox, account: str, region: str, name: str, key: str) -> str:
    """An image ready to publish, encrypted with ``key`` when the account has it there (else ``aws/ebs``)."""
    try:
        return sb.seed_image(account, region, name, kms_key=key, description="ready to publish")
    except ValueError:  # no such key in the account and region
        return sb.seed_image(account, region, name, description="ready to publish")


def _as(sb: Sandbox, deployment: EngineDeployment, command: str) -> str:
    """``command`` run as the engine's account, in its region, against the sandbox."""
    keys = sb.credentials(deployment.account)
    prefix = " ".join(f"{name}={keys[name]}" for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))
    return f"{prefix} {command} --region {deployment.region} --endpoint-url {sb.endpoint_url}"
