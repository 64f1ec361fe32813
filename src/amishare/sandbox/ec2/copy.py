"""Copying snapshots (alone or under an image): encryption outcome, key checks, timing.

Rules (docs/aws-facts.md sections 2 and 3; EBS User Guide "Encryption by default",
"Copy an Amazon EBS snapshot"; EC2 User Guide "Copy an AMI"):

* ``KmsKeyId`` without ``Encrypted`` is refused (``InvalidParameterDependency``);
* an encrypted source stays encrypted; an unencrypted source is encrypted when
  ``Encrypted`` is set or the destination account encrypts by default;
* the key is ``KmsKeyId`` (key id, key ARN, alias name or alias ARN) or, when none is given,
  the destination account's default EBS key for the region;
* a key that does not exist, lives in another region, is not enabled, or that the copying
  principal may not use through EC2 is NOT refused at call time: the copy starts and then
  fails (``Given key ID is not accessible``). The same holds for the source snapshot's key;
* a copy is ``pending`` for ``copy_seconds_per_gib`` x its size, its progress rising;
* a time-based copy (``CompletionDurationMinutes`` of CopySnapshot, ``SnapshotCopyCompletionDurationMinutes`` of
  CopyImage: 15 to 2,880 minutes in steps of 15) completes within that duration on the sandbox's clock (the
  shorter of the two), and its snapshot reports ``TransferType`` ``time-based`` and ``CompletionDurationMinutes``;
  other copies ``standard`` (EBS User Guide, "Time-based copies"; the Snapshot type of the EC2 API Reference).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from amishare.policy.evaluate import Caller
from amishare.sandbox.kms.access import usable_via_ec2
from amishare.sandbox.kms.keys import EBS_ALIAS, find_key
from amishare.sandbox.state import Key, Snapshot, Transition, World, new_id
from amishare.sandbox.wire.protocol import AwsFault

# docs/aws-facts.md section 2: what the copying principal needs on each key.
SOURCE_KEY_ACTIONS = ["DescribeKey", "CreateGrant", "Decrypt", "ReEncryptFrom"]
DESTINATION_KEY_ACTIONS = ["DescribeKey", "CreateGrant", "GenerateDataKeyWithoutPlaintext", "ReEncryptTo"]


@dataclass(frozen=True)
class Encryption:
    key_arn: str | None  # None: the copy is unencrypted
    failure: str | None  # why the copy will fail (decided when it starts)


def default_key_ref(world: World, account: str, region: str) -> str:
    return world.default_key.get((account, region), EBS_ALIAS)


def copy_encryption(
    world: World, caller: Caller, region: str, params: Mapping[str, Any], sources: list[Snapshot]
) -> Encryption:
    """Decide the encryption of copies of ``sources`` made by ``caller`` into ``region``."""
    wanted = bool(params.get("Encrypted"))
    key_ref = params.get("KmsKeyId")
    if key_ref and not wanted:
        raise AwsFault(
            "InvalidParameterDependency", "The parameter KmsKeyId requires the parameter Encrypted to be set."
        )
    encrypted = (
        wanted or any(s.encrypted for s in sources) or world.encryption_by_default.get((caller.account, region), False)
    )
    failure = None
    for source in sources:
        if source.encrypted:
            source_key = find_by_arn(world, source.kms_key_arn)
            failure = failure or (
                f"Given key ID is not accessible: source key {source.kms_key_arn} does not exist"
                if source_key is None
                else usable_via_ec2(world, source_key, caller, source.region, SOURCE_KEY_ACTIONS)
            )
    if not encrypted:
        return Encryption(None, failure)
    ref = key_ref or default_key_ref(world, caller.account, region)
    key = find_key(world, caller.account, region, ref)
    if key is None:
        return Encryption(ref, failure or f"Given key ID is not accessible: {ref} does not exist in {region}")
    return Encryption(key.arn, failure or usable_via_ec2(world, key, caller, region, DESTINATION_KEY_ACTIONS))


def find_by_arn(world: World, arn: str | None) -> Key | None:
    if not arn:
        return None
    key_id = arn.rsplit("/", 1)[-1]
    return world.keys.get(key_id)


def check_completion_minutes(parameter: str, minutes: Any) -> int | None:
    """A time-based copy's duration in minutes (docs/aws-facts.md section 3: 15 to 2,880 in steps of 15), or None."""
    if minutes is None:
        return None
    if not (15 <= int(minutes) <= 2880 and int(minutes) % 15 == 0):
        raise AwsFault("InvalidParameterValue", f"{parameter} {minutes} must be 15 to 2880 in increments of 15")
    return int(minutes)


def start_snapshot_copy(
    world: World,
    caller: Caller,
    region: str,
    source: Snapshot,
    encryption: Encryption,
    description: str,
    tags: dict[str, str],
    via_copy_snapshot: bool,
    completion_minutes: int | None = None,
) -> Snapshot:
    """A copy of ``source`` started now, pending for ``copy_duration``."""
    copy = Snapshot(
        snapshot_id=new_id("snap"),
        account=caller.account,
        region=region,
        size_gib=source.size_gib,
        kms_key_arn=encryption.key_arn,
        description=description,
        tags=dict(tags),
        transition=Transition(
            world.clock(), copy_duration(world, source.size_gib, completion_minutes), encryption.failure
        ),
        source_snapshot_id=source.snapshot_id,
        via_copy_snapshot=via_copy_snapshot,
        completion_minutes=completion_minutes,
    )
    world.snapshots[copy.snapshot_id] = copy
    return copy


def copy_duration(world: World, size_gib: int, completion_minutes: int | None = None) -> float:
    """How long a copy of ``size_gib`` takes: ``copy_seconds_per_gib`` each, at most ``completion_minutes``."""
    standard = world.settings.copy_seconds_per_gib * size_gib
    return standard if completion_minutes is None else min(standard, 60.0 * completion_minutes)
