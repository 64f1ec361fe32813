"""The encryption check, table-driven on observed images (pure)."""

from __future__ import annotations

import pytest

from amishare.checks.verify import verify
from amishare.model import ImageInfo, KeyInfo, MappingInfo, SnapshotInfo

GOLDEN = KeyInfo("arn:aws:kms:us-east-1:111111111111:key/" + "1" * 36, "111111111111", "us-east-1", "CUSTOMER")
OTHER = KeyInfo("arn:aws:kms:us-east-1:111111111111:key/" + "2" * 36, "111111111111", "us-east-1", "CUSTOMER")
EBS = KeyInfo("arn:aws:kms:us-east-1:111111111111:key/" + "3" * 36, "111111111111", "us-east-1", "AWS")
KEYS = {k.arn: k for k in (GOLDEN, OTHER, EBS)}


def _image(*volumes: tuple[str | None, str | None, bool | None]) -> ImageInfo:
    """Volumes as (snapshot's key, mapping's key, mapping's Encrypted); a None snapshot key: unencrypted."""
    mappings = []
    snapshots = []
    for n, (snapshot_key, mapping_key, encrypted) in enumerate(volumes):
        snapshots.append(SnapshotInfo(f"snap-{n}", 8, snapshot_key))
        mappings.append(MappingInfo(f"/dev/sd{'abcdef'[n]}", f"snap-{n}", encrypted, mapping_key))
    return ImageInfo(
        "ami-12345678", "golden", "111111111111", "us-east-1", "available", tuple(snapshots), mappings=tuple(mappings)
    )


STORE = ImageInfo(
    "ami-12345678",
    "golden",
    "111111111111",
    "us-east-1",
    "available",
    (SnapshotInfo("snap-0", 8, GOLDEN.arn),),
    mappings=(MappingInfo("/dev/xvda", "snap-0", True, GOLDEN.arn), MappingInfo("/dev/sdb", virtual_name="ephemeral0")),
)

# (case, image, expected key, shareable, codes)
CASES: list[tuple[str, ImageInfo, KeyInfo | None, bool, list[str]]] = [
    (
        "all on the key expected",
        _image((GOLDEN.arn, GOLDEN.arn, True), (GOLDEN.arn, GOLDEN.arn, True)),
        GOLDEN,
        True,
        [],
    ),
    ("no key expected: any encryption passes", _image((OTHER.arn, OTHER.arn, True)), None, False, []),
    (
        "one volume unencrypted",
        _image((GOLDEN.arn, GOLDEN.arn, True), (None, None, False)),
        GOLDEN,
        False,
        ["UNENCRYPTED"],
    ),
    ("aws/ebs, shareable", _image((EBS.arn, EBS.arn, True)), None, True, ["AWS_MANAGED_KEY"]),
    ("aws/ebs, not meant to be shared", _image((EBS.arn, EBS.arn, True)), None, False, []),
    (
        "aws/ebs, shareable and another key expected",
        _image((EBS.arn, EBS.arn, True)),
        GOLDEN,
        True,
        ["AWS_MANAGED_KEY", "WRONG_KEY"],
    ),
    ("another key", _image((OTHER.arn, OTHER.arn, True)), GOLDEN, False, ["WRONG_KEY"]),
    (
        "mapping and snapshot disagree on the key",
        _image((GOLDEN.arn, OTHER.arn, True)),
        GOLDEN,
        False,
        ["SNAPSHOT_MISMATCH"],
    ),
    ("mapping says unencrypted, snapshot is", _image((GOLDEN.arn, None, False)), GOLDEN, False, ["SNAPSHOT_MISMATCH"]),
    ("instance store", STORE, GOLDEN, True, ["NOT_EBS"]),
]


@pytest.mark.parametrize(("image", "expected", "shareable", "codes"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_verify(image: ImageInfo, expected: KeyInfo | None, shareable: bool, codes: list[str]) -> None:
    result = verify(image, KEYS, expected=expected, shareable=shareable)
    assert [f.code for f in result.findings] == codes
    assert result.ok is (not codes)
    assert all(f.device and f.detail and f.fix for f in result.findings)
