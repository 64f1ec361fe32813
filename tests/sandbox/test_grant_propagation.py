"""Rule: a new KMS grant may not be effective at once (KMS Developer Guide, "Eventual consistency": "a grant might
not be effective immediately ... use a grant token"; docs/aws-facts.md section 9). With ``grant_delay_seconds``, a
grant authorizes nothing until that long after it was made on the sandbox's clock, unless the request passes its
grant token (``GrantTokens``); EC2's own use of a key (CopyImage, RunInstances) cannot pass one, so a copy or launch
that relies on the grant fails as it does without access. The delay (default 0: at once) is the sandbox's knob."""

from __future__ import annotations

from typing import Any

from amishare.sandbox import Sandbox
from tests.support.key_policies import policy_document
from tests.support.world import OWNER, REGION, REGION2, TARGET, error_of, share_by_hand

COPY_OPERATIONS = ["DescribeKey", "CreateGrant", "Decrypt", "ReEncryptFrom", "GenerateDataKeyWithoutPlaintext"]


def _state(ec2: Any, image_id: str) -> tuple[str, str]:
    (image,) = ec2.describe_images(ImageIds=[image_id])["Images"]
    return image["State"], image.get("StateReason", {}).get("Message", "")


def test_rule_a_grant_authorizes_only_after_its_delay_unless_its_token_is_passed() -> None:
    now = [1000.0]
    with Sandbox(clock=lambda: now[0]) as sb:
        sb.settings.grant_delay_seconds = 20.0
        key = sb.create_key(OWNER, REGION, policy=policy_document())  # the owner alone: the grant is the access
        image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key=key)
        share_by_hand(sb.session(OWNER, REGION).client("ec2"), image, TARGET)
        grant = (
            sb.session(OWNER, REGION)
            .client("kms")
            .create_grant(KeyId=key, GranteePrincipal=f"arn:aws:iam::{TARGET}:root", Operations=COPY_OPERATIONS)
        )
        kms = sb.session(TARGET, REGION).client("kms")
        assert error_of(kms.describe_key, KeyId=key)["Code"] == "AccessDeniedException"
        assert kms.describe_key(KeyId=key, GrantTokens=[grant["GrantToken"]])["KeyMetadata"]["Arn"] == key
        ec2 = sb.session(TARGET, REGION2).client("ec2")
        early = ec2.copy_image(SourceImageId=image, SourceRegion=REGION, Name="early")["ImageId"]
        state, reason = _state(ec2, early)
        assert state == "failed" and "Given key ID is not accessible" in reason  # EC2 passes no grant token
        launch = sb.session(TARGET, REGION).client("ec2")
        (started,) = launch.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"]
        (reservation,) = launch.describe_instances(InstanceIds=[started["InstanceId"]])["Reservations"]
        assert reservation["Instances"][0]["State"]["Name"] == "terminated"
        now[0] += 20.0  # propagated
        assert kms.describe_key(KeyId=key)["KeyMetadata"]["Arn"] == key
        late = ec2.copy_image(SourceImageId=image, SourceRegion=REGION, Name="late")["ImageId"]
        assert _state(ec2, late)[0] == "available"
        (started,) = launch.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"]
        (reservation,) = launch.describe_instances(InstanceIds=[started["InstanceId"]])["Reservations"]
        assert reservation["Instances"][0]["State"]["Name"] == "running"


def test_rule_without_the_knob_a_grant_is_effective_at_once(sb: Sandbox) -> None:
    key = sb.create_key(OWNER, REGION, policy=policy_document())
    sb.session(OWNER, REGION).client("kms").create_grant(
        KeyId=key, GranteePrincipal=f"arn:aws:iam::{TARGET}:root", Operations=["DescribeKey"]
    )
    assert sb.session(TARGET, REGION).client("kms").describe_key(KeyId=key)["KeyMetadata"]["Arn"] == key
