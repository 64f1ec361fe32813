"""A world for the serverless engine at scale on the local AWS: a source account with its share keys, ``accounts``
destinations (their role and key in each region), an amishare.toml journaling in the engine's table, and a manifest
of ``families`` transfer families (``/golden/<family>`` parameters), each to every destination in every region."""

from __future__ import annotations

from pathlib import Path

from amishare.sandbox import Sandbox
from tests.support.manifests import build_manifest, distribute, family

SOURCE = "111111111111"
TABLE = "amishare-engine"


def destinations(count: int) -> list[str]:
    """``count`` destination account ids."""
    return [f"{900000000000 + n:012d}" for n in range(count)]


def engine_world(sb: Sandbox, folder: Path, accounts: list[str], regions: list[str], families: int) -> list[str]:
    """Seed the world in ``sb`` and write ``folder``'s amishare.toml and estate.toml; the families' names."""
    for region in regions:
        sb.create_key(SOURCE, region, alias="amishare-share")
    for account in accounts:
        sb.create_role(account, "AmiShareRole", trusted_account=SOURCE)
        for region in regions:
            sb.create_key(account, region, alias="mine")
    (folder / "amishare.toml").write_text(
        f'[defaults]\nregion = "{regions[0]}"\nshare_key = "alias/amishare-share"\nrole_name = "AmiShareRole"\n'
        f'endpoint_url = "{sb.endpoint_url}"\njournal = "dynamodb://{TABLE}"\nmax_parallel = 12\n'
        '[transfer]\ndest_key = "alias/mine"\n'
    )
    names = [f"family-{n}" for n in range(families)]
    estate = [family(n, {"ssm_parameter": f"/golden/{n}"}, distribute(accounts, "transfer")) for n in names]
    (folder / "estate.toml").write_text(build_manifest(*estate, source=SOURCE, regions=regions))
    return names


def publish(sb: Sandbox, family: str, region: str, gib: int = 8) -> str:
    """A new image of ``family``, published to its parameter as a pipeline would; its id."""
    image = sb.seed_image(SOURCE, region, f"{family}-1", volumes_gib=[gib], kms_key="alias/amishare-share")
    sb.session(SOURCE, region).client("ssm").put_parameter(
        Name=f"/golden/{family}", Value=image, Type="String", DataType="aws:ec2:image", Overwrite=True
    )
    return image
