"""The demo world: a builder account with a golden image on ``aws/ebs``, consumers in an OU.

Used by ``amishare demo`` and ``amishare sandbox serve``; returns data, prints nothing.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from amishare.sandbox import Sandbox

BUILDER = "111111111111"
CONSUMERS = ("222222222222", "333333333333", "555555555555")
OUTSIDER = "444444444444"
REGION = "us-east-1"
REGIONS = ("us-east-1", "eu-west-1")
ROLE_NAME = "AmiShareRole"  # the role amishare assumes in each consumer (trusts the builder)
EXTERNAL_ID = "amishare-demo"
SHARE_KEY_ALIAS = "alias/amishare-share"
CONSUMER_KEY_ALIAS = "alias/consumer-amis"
PARAMETER = "/golden/al2023"  # the SSM parameter a transfer leaves in each destination


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


def config_text(endpoint_url: str, journal: str) -> str:
    """An ``amishare.toml`` for the demo world (what a user would write for these accounts)."""
    keys = ", ".join(f'{region} = "{CONSUMER_KEY_ALIAS}"' for region in REGIONS)
    lines = [
        "[defaults]",
        f'region = "{REGION}"',
        f'share_key = "{SHARE_KEY_ALIAS}"',
        f'role_name = "{ROLE_NAME}"',
        f'endpoint_url = "{endpoint_url}"',
        f'journal = "{journal}"',
    ]
    for number, account in enumerate(CONSUMERS, 1):
        lines += [
            f"[accounts.consumer-{number}]",
            f'id = "{account}"',
            f'external_id = "{EXTERNAL_ID}"',
            f"keys = {{ {keys} }}",
        ]
    return "\n".join(lines) + "\n"


def seed(sandbox: Sandbox) -> DemoWorld:
    """Seed the demo: the golden image is encrypted with ``aws/ebs``, so it cannot be shared as is."""
    share_keys = {
        region: sandbox.create_key(
            BUILDER, region, alias=SHARE_KEY_ALIAS, description="amishare: re-encrypts images before sharing"
        )
        for region in REGIONS
    }
    share_key = share_keys[REGION]
    golden = sandbox.seed_image(
        BUILDER,
        REGION,
        "golden-al2023-2026.11.22",
        volumes_gib=[8, 16],
        kms_key="aws/ebs",
        description="Golden image built by the platform team",
        tags={"team": "platform", "os": "al2023"},
    )
    for consumer in (*CONSUMERS, OUTSIDER):
        for region in REGIONS:
            sandbox.create_key(consumer, region, alias=CONSUMER_KEY_ALIAS, description="receives copies of images")
    for consumer in CONSUMERS:
        sandbox.create_role(consumer, ROLE_NAME, trusted_account=BUILDER, external_id=EXTERNAL_ID)
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


def seed_old_builds(sandbox: Sandbox) -> list[str]:
    """Three older builds of the golden family (90, 60 and 45 days old); a launch template uses the oldest."""
    now = dt.datetime.now(dt.UTC)
    old = [
        sandbox.seed_image(
            BUILDER,
            REGION,
            f"golden-al2023-2026.{8 + n:02d}.01",
            volumes_gib=[8],
            kms_key="aws/ebs",
            created=now - dt.timedelta(days=days),
        )
        for n, days in enumerate((90, 60, 45))
    ]
    sandbox.session(BUILDER, REGION).client("ec2").create_launch_template(
        LaunchTemplateName="legacy-app", LaunchTemplateData={"ImageId": old[0], "InstanceType": "t3.micro"}
    )
    return old


@dataclass(frozen=True)
class OlderBuild:
    """An older build of the golden family that ``seed_builds`` put in the sandbox."""

    image_id: str
    name: str
    created: dt.datetime
    age_seconds: float


def seed_builds(sandbox: Sandbox, ages: Sequence[float], now: dt.datetime | None = None) -> list[OlderBuild]:
    """Older builds of the golden family in the builder's account, one per age in seconds (``sandbox serve
    --seed-age``): ``aws/ebs``, the golden image's tags, created that long ago and named by that date
    (``golden-al2023-2026.08.24``; ``-2``, ``-3`` ... when two fall on one day), so that age-based cleanup and
    retention can be rehearsed on them."""
    now = now or dt.datetime.now(dt.UTC)
    with sandbox.world.lock:  # image names are unique per account and region: the golden image's included
        names = {i.name for i in sandbox.world.images.values() if (i.account, i.region) == (BUILDER, REGION)}
    builds = []
    for age in ages:
        created = now - dt.timedelta(seconds=age)
        base = f"golden-al2023-{created:%Y.%m.%d}"
        candidates = itertools.chain([base], (f"{base}-{i}" for i in itertools.count(2)))
        name = next(n for n in candidates if n not in names)
        names.add(name)
        image = sandbox.seed_image(
            BUILDER,
            REGION,
            name,
            volumes_gib=[8],
            kms_key="aws/ebs",
            description="An older build of the golden image",
            tags={"team": "platform", "os": "al2023"},
            created=created,
        )
        builds.append(OlderBuild(image, name, created, age))
    return builds


_PROOFS = itertools.count(1)


@dataclass(frozen=True)
class CopyProof:
    """Whether a consumer could copy the shared image into its own account, as AWS would judge it."""

    account: str
    copied: bool
    detail: str


def prove_copy(sandbox: Sandbox, world: DemoWorld, account: str, image_id: str) -> CopyProof:
    """Have ``account`` copy ``image_id`` with its own key (the sandbox enforces all three gates)."""
    from amishare.aws.errors import aws_errors
    from amishare.errors import AwsError

    ec2 = sandbox.session(account, world.region).client("ec2")
    try:
        with aws_errors("CopyImage", account, world.region):
            copy = ec2.copy_image(
                SourceImageId=image_id,
                SourceRegion=world.region,
                Name=f"copy-of-{image_id}-{next(_PROOFS)}",  # image names are unique per account and region
                Encrypted=True,
                KmsKeyId=CONSUMER_KEY_ALIAS,
            )["ImageId"]
    except AwsError as exc:
        return CopyProof(account, False, f"{exc.code}: {exc.aws_message}")
    image = ec2.describe_images(ImageIds=[copy])["Images"][0]
    if image["State"] == "failed":
        return CopyProof(account, False, image.get("StateReason", {}).get("Message", "failed"))
    return CopyProof(account, True, f"{copy} ({image['State']}), encrypted with its own {CONSUMER_KEY_ALIAS}")
