"""The demo's chapter on distribution as code: a manifest planned and applied, applied again (no change), drift
found after a hand-made share, and converged (``amishare plan``, ``apply``, ``drift``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.rule import Rule

from amishare.render.drift import drift_text
from amishare.render.plan import plan_text
from amishare.sandbox import demo_world as story

if TYPE_CHECKING:
    from amishare.api import Settings

FAMILY_PARAMETER = "/golden/base/latest"  # where the pipeline publishes the family's newest image
POINTER = "/platform/ami/base"  # what each transfer destination's parameter is named


def manifest_text(world: story.DemoWorld) -> str:
    """The demo's manifest: consumer-1 gets a share in both regions, the rest of its OU owns copies."""
    return f"""\
version = 1
[defaults]
source = "{world.builder}"
regions = ["{story.REGIONS[0]}", "{story.REGIONS[1]}"]
[targets]
fleet = {{ ous = ["{world.ou_arns["workloads/dev"]}"], exclude = ["consumer-1"] }}
[[image]]
family = "base"
select = {{ ssm_parameter = "{FAMILY_PARAMETER}" }}
versions = 2
  [[image.distribute]]
  to = ["consumer-1"]
  mode = "share"
  [[image.distribute]]
  to = ["fleet"]
  mode = "transfer"
  ssm_parameter = "{POINTER}"
"""


def chapter(console: Console, sb: Any, world: story.DemoWorld, settings: Settings, scratch: Path) -> None:
    """Print the chapter, running each step on the demo's sandbox."""
    from amishare.api.converge import ConvergeRequest, apply_manifest, plan_manifest
    from amishare.errors import EXIT_DRIFT

    say = console.print
    say(Rule("14. Distribution as code: a manifest planned, applied, applied again, drifted, converged"))
    image = sb.seed_image(
        world.builder, world.region, "base-2026.12.01", volumes_gib=[8], kms_key=story.SHARE_KEY_ALIAS
    )
    sb.session(world.builder, world.region).client("ssm").put_parameter(
        Name=FAMILY_PARAMETER, Value=image, Type="String", DataType="aws:ec2:image"
    )
    path = scratch / "estate.toml"
    path.write_text(manifest_text(world))
    say(f"The pipeline published {image} to {FAMILY_PARAMETER}. The manifest (estate.toml):", markup=False)
    say(manifest_text(world), markup=False)
    request = ConvergeRequest(str(path))
    say(Rule("14a. amishare plan -f estate.toml"))
    say(plan_text(plan_manifest(settings, request).plan), markup=False)
    say(Rule("14b. amishare apply -f estate.toml"))
    _, outcome = apply_manifest(settings, request)
    result = outcome.result
    if result is not None:
        done = sum(1 for r in result.results if r.state == "succeeded")
        say(f"run {result.run_id}: {result.status}, {done} of {len(result.results)} actions", markup=False)
    say(Rule("14c. apply again: nothing differs, nothing is called"))
    before = len([c for c in sb.calls() if c.mutating])
    made, _ = apply_manifest(settings, request)
    say(plan_text(made.plan).splitlines()[-1], markup=False)
    say(f"mutating calls made: {len([c for c in sb.calls() if c.mutating]) - before}", markup=False)
    say(Rule(f"14d. Someone shares {image} with {world.outsider} by hand, and {POINTER} is deleted"))
    ec2 = sb.session(world.builder, world.region).client("ec2")
    ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": world.outsider}]})
    fleet = [c for c in world.consumers if c != world.consumers[0]]
    sb.session(fleet[0], world.region).client("ssm").delete_parameter(Name=POINTER)
    drifted = plan_manifest(settings, request)
    resolved = [drifted.facts.resolutions[f].describe() for f in sorted(drifted.facts.resolutions)]
    say(drift_text("estate.toml", resolved, drifted.drift), markup=False)
    say(f"(amishare drift exits {EXIT_DRIFT} when anything drifted)", markup=False)
    say(Rule("14e. apply: the parameter restored; the hand-made share reported, never removed"))
    apply_manifest(settings, request)
    after = plan_manifest(settings, request)
    say(drift_text("estate.toml", resolved, after.drift), markup=False)
