"""The demo world: a builder account with a golden image on ``aws/ebs``, consumers in an OU.

Used by ``amishare demo`` and ``amishare sandbox serve``; returns data, prints nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from amishare.sandbox import Sandbox

BUILDER = "111111111111"
CONSUMERS = ("222222222222", "333333333333")
OUTSIDER = "444444444444"
REGION = "us-east-1"
SHARE_KEY_ALIAS = "alias/amishare-share"


@dataclass(frozen=True)
class DemoWorld:
    """What ``seed`` put in the sandbox."""

    region: str
    builder: str
    consumers: tuple[str, ...]
    outsider: str
    golden_image: str
    share_key_arn: str
    organization_arn: str
    ou_arns: dict[str, str] = field(default_factory=dict)

    @property
    def accounts(self) -> tuple[str, ...]:
        return (self.builder, *self.consumers, self.outsider)


def seed(sandbox: Sandbox) -> DemoWorld:
    """Seed the demo: the golden image is encrypted with ``aws/ebs``, so it cannot be shared as is."""
    share_key = sandbox.create_key(
        BUILDER, REGION, alias=SHARE_KEY_ALIAS, description="amishare: re-encrypts images before sharing"
    )
    golden = sandbox.seed_image(
        BUILDER,
        REGION,
        "golden-al2023-2026.11.22",
        volumes_gib=[8, 16],
        kms_key="aws/ebs",
        description="Golden image built by the platform team",
        tags={"team": "platform", "os": "al2023"},
    )
    org_arn, ou_arns = sandbox.create_organization(BUILDER, {"workloads/dev": list(CONSUMERS)})
    return DemoWorld(
        region=REGION,
        builder=BUILDER,
        consumers=CONSUMERS,
        outsider=OUTSIDER,
        golden_image=golden,
        share_key_arn=share_key,
        organization_arn=org_arn,
        ou_arns=ou_arns,
    )


@dataclass(frozen=True)
class ImageRow:
    image_id: str
    name: str
    owner: str
    state: str
    volumes: str
    encryption: str


@dataclass(frozen=True)
class Inventory:
    """What the sandbox holds, read back through its AWS APIs as the builder sees it."""

    images: list[ImageRow]
    keys: list[tuple[str, str, str]]  # (alias, key manager, arn)
    visible_to: dict[str, bool]  # consumer account -> can it see the golden image
    share_refusal: str  # what AWS answers when the golden image is shared as is


def inventory(sandbox: Sandbox, world: DemoWorld) -> Inventory:
    from botocore.exceptions import ClientError

    session = sandbox.session(world.builder, world.region)
    ec2, kms = session.client("ec2"), session.client("kms")
    aliases = {a["TargetKeyId"]: a["AliasName"] for a in kms.list_aliases()["Aliases"] if a.get("TargetKeyId")}
    keys = []
    for entry in kms.list_keys()["Keys"]:
        meta = kms.describe_key(KeyId=entry["KeyArn"])["KeyMetadata"]
        keys.append((aliases.get(meta["KeyId"], "-"), meta["KeyManager"], meta["Arn"]))
    images = []
    for image in ec2.describe_images(Owners=["self"])["Images"]:
        sizes = [str(m["Ebs"]["VolumeSize"]) for m in image["BlockDeviceMappings"] if "Ebs" in m]
        key_ids = {m["Ebs"].get("KmsKeyId", "") for m in image["BlockDeviceMappings"] if "Ebs" in m}
        names = sorted(aliases.get(k.rsplit("/", 1)[-1], k) for k in key_ids if k) or ["unencrypted"]
        images.append(
            ImageRow(
                image["ImageId"],
                image["Name"],
                image["OwnerId"],
                image["State"],
                "+".join(sizes) + " GiB",
                ", ".join(names),
            )
        )
    visible = {}
    for consumer in world.consumers:
        found = (
            sandbox.session(consumer, world.region)
            .client("ec2")
            .describe_images(Filters=[{"Name": "image-id", "Values": [world.golden_image]}])["Images"]
        )
        visible[consumer] = bool(found)
    try:
        ec2.modify_image_attribute(
            ImageId=world.golden_image, DryRun=True, LaunchPermission={"Add": [{"UserId": world.consumers[0]}]}
        )
        refusal = "none"
    except ClientError as exc:
        refusal = f"{exc.response['Error']['Code']}: {exc.response['Error']['Message']}"
    return Inventory(images=images, keys=keys, visible_to=visible, share_refusal=refusal)
