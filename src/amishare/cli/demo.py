"""``amishare demo``: the story of a golden image, on an embedded local AWS."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from amishare import demo as demo_world


@click.command()
@click.option(
    "--copy-seconds-per-gib",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="How long sandbox copies stay pending, per GiB.",
)
def demo(copy_seconds_per_gib: float) -> None:
    """Run amishare's story on an embedded sandbox (no AWS account needed)."""
    from amishare.sandbox import Sandbox

    console = Console()
    with Sandbox(copy_seconds_per_gib=copy_seconds_per_gib) as sb:
        world = demo_world.seed(sb)
        console.print(
            f"[bold]Local AWS[/bold] at {sb.endpoint_url}: builder {world.builder}, consumers "
            f"{', '.join(world.consumers)} in OU workloads/dev of {world.organization_arn}"
        )
        found = demo_world.inventory(sb, world)
        keys = Table(title=f"KMS keys of {world.builder} in {world.region}")
        for column in ("alias", "manager", "arn"):
            keys.add_column(column)
        for row in found.keys:
            keys.add_row(*row)
        console.print(keys)
        images = Table(title=f"Images of {world.builder} in {world.region}")
        for column in ("image", "name", "state", "volumes", "encryption"):
            images.add_column(column)
        for image in found.images:
            images.add_row(image.image_id, image.name, image.state, image.volumes, image.encryption)
        console.print(images)
        for consumer, visible in found.visible_to.items():
            console.print(f"consumer {consumer} sees the golden image: {'yes' if visible else 'no'}")
        console.print(f"sharing the golden image as it is: [red]{found.share_refusal}[/red]")
        console.print(
            "The image is on aws/ebs: it must be re-encrypted with a customer managed key "
            f"({demo_world.SHARE_KEY_ALIAS}) before any account can use it."
        )
