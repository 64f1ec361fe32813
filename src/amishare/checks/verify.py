"""Verify an image's encryption (pure): every volume EBS-backed and encrypted, with the key expected.

For CI pipelines that build golden images: ``amishare verify IMAGE --key alias/golden --shareable``
exits non-zero when any block device mapping is not what a shareable image must be. Each finding has
a stable code (documented in docs/concepts.md):

    NOT_EBS          a mapping that is not an EBS snapshot (instance store): it cannot be copied or shared
    UNENCRYPTED      an EBS volume that is not encrypted
    AWS_MANAGED_KEY  encrypted with aws/ebs: an image on it can never be shared (``--shareable``)
    WRONG_KEY        encrypted with another key than ``--key``
    SNAPSHOT_MISMATCH the mapping and its snapshot disagree on encryption or key
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from amishare.model import ImageInfo, KeyInfo, MappingInfo, SnapshotInfo

CODES = ("NOT_EBS", "UNENCRYPTED", "AWS_MANAGED_KEY", "WRONG_KEY", "SNAPSHOT_MISMATCH")


@dataclass(frozen=True)
class Finding:
    """One way a volume of the image is not what it should be."""

    code: str
    device: str
    detail: str
    fix: str


@dataclass(frozen=True)
class Verification:
    """An image and what is wrong with it (nothing: it passes)."""

    image: ImageInfo
    findings: tuple[Finding, ...]
    expected_key: str | None = None

    @property
    def ok(self) -> bool:
        return not self.findings


UNKNOWN_KEY = "alias/YOUR-KEY"
MAX_NAME = 128  # an AMI name's length (EC2 API Reference, CopyImage: Name)


def encrypted_copy_name(name: str) -> str:
    """The name a printed copy-image gives the encrypted copy of an image named ``name``, quoted for a shell."""
    suffix = "-encrypted"
    return shlex.quote(name[: MAX_NAME - len(suffix)] + suffix)


@dataclass(frozen=True)
class _Fixes:
    """The commands verify's findings print, with the image's own id, region and name, and the customer managed
    key to encrypt with (``--key``, else the configured share key; None: unknown, a placeholder said so)."""

    image: ImageInfo
    key: str | None

    def _key(self) -> str:
        return self.key or UNKNOWN_KEY

    def _placeholder(self) -> str:
        return "" if self.key else f" ({UNKNOWN_KEY}: a customer managed key of yours; --key or share_key fills it in)"

    def copy(self, why: str) -> str:
        """``why``, then the AWS CLI command that copies the image encrypted with the key."""
        region = self.image.region
        return (
            f"{why}: `aws ec2 copy-image --source-image-id {self.image.image_id} --source-region {region} "
            f"--name {encrypted_copy_name(self.image.name)} --encrypted --kms-key-id {self._key()} --region {region}`"
            f"{self._placeholder()}"
        )

    def reencrypt(self) -> str:
        """The amishare command that shares a copy re-encrypted with the key."""
        return (
            f"re-encrypt it with a customer managed key: `amishare share {self.image.image_id} --to ACCOUNT "
            f"--reencrypt-key {self._key()} --region {self.image.region}` shares a copy re-encrypted with it with "
            f"ACCOUNT, the account you share with{self._placeholder()}"
        )


def verify(
    image: ImageInfo,
    keys: dict[str, KeyInfo],
    *,
    expected: KeyInfo | None = None,
    shareable: bool = False,
    share_key: str | None = None,
) -> Verification:
    """Check every block device mapping of ``image`` (``keys``: the keys its snapshots use, by ARN; ``share_key``:
    the configured key of the image's region, which the fixes encrypt with when no key is ``expected``)."""
    fixes = _Fixes(image, expected.arn if expected is not None else share_key)
    snapshots = {s.snapshot_id: s for s in image.snapshots}
    findings: list[Finding] = []
    for mapping in image.mappings:
        if mapping.snapshot_id is None:
            if mapping.virtual_name:
                findings.append(
                    Finding(
                        "NOT_EBS",
                        mapping.device,
                        f"{mapping.device} is instance store ({mapping.virtual_name})",
                        "build the image EBS-backed: instance store volumes are neither encrypted with KMS nor shared",
                    )
                )
            continue
        findings += _volume(mapping, snapshots.get(mapping.snapshot_id), keys, expected, shareable, fixes)
    return Verification(image, tuple(findings), expected.arn if expected else None)


def _volume(
    mapping: MappingInfo,
    snapshot: SnapshotInfo | None,
    keys: dict[str, KeyInfo],
    expected: KeyInfo | None,
    shareable: bool,
    fixes: _Fixes,
) -> list[Finding]:
    key_arn = snapshot.key_arn if snapshot is not None else (mapping.key_arn if mapping.encrypted else None)
    device = mapping.device
    found: list[Finding] = []
    if snapshot is not None and (
        bool(mapping.encrypted) != bool(snapshot.key_arn)
        or (mapping.key_arn is not None and snapshot.key_arn is not None and mapping.key_arn != snapshot.key_arn)
    ):
        found.append(
            Finding(
                "SNAPSHOT_MISMATCH",
                device,
                f"{device}: the image says encrypted={mapping.encrypted} key={mapping.key_arn}, its snapshot "
                f"{snapshot.snapshot_id} says key={snapshot.key_arn}",
                fixes.copy("copy the image to get a consistent one"),
            )
        )
    if key_arn is None:
        found.append(
            Finding(
                "UNENCRYPTED",
                device,
                f"{device} ({mapping.snapshot_id}) is not encrypted",
                fixes.copy("copy the image encrypted, with a customer managed key, and use the copy"),
            )
        )
        return found
    key = keys.get(key_arn)
    if shareable and key is not None and key.aws_managed:
        found.append(
            Finding(
                "AWS_MANAGED_KEY",
                device,
                f"{device} ({mapping.snapshot_id}) is encrypted with aws/ebs, which can never be shared",
                fixes.reencrypt(),
            )
        )
    if expected is not None and key_arn != expected.arn:
        shown = key.display if key is not None else key_arn
        found.append(
            Finding(
                "WRONG_KEY",
                device,
                f"{device} ({mapping.snapshot_id}) is encrypted with {shown}, not {expected.display}",
                fixes.copy(f"copy the image encrypted with {expected.display} and use the copy"),
            )
        )
    return found
