"""Cleanup's decisions (pure), table-driven: families, and what keeps an image."""

from __future__ import annotations

import datetime as dt

import pytest

from amishare.model import ImageInfo, LaunchPermissions, SnapshotInfo
from amishare.planners.cleanup import Candidate, Rules, Use, decide, family

NOW = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("golden-al2023-2026.11.22", "golden-al2023"),
        ("web-2026.11", "web"),
        ("app-1.2.3-20261122", "app"),
        ("app_v12", "app"),
        ("base 20261122T101010Z", "base"),
        ("golden123", "golden123"),
        ("golden-al2023-2026.11.22-amishare-e4fb1e41", "golden-al2023"),
        ("golden-al2023-2026.11.22-from-ami-0123456789abcdef0", "golden-al2023"),
        ("2026.11.22", "2026.11.22"),
    ],
)
def test_family(name: str, expected: str) -> None:
    assert family(name) == expected


def _candidate(image_id: str, days: int, **fields: object) -> Candidate:
    image = ImageInfo(
        image_id,
        f"golden-{days}",
        "111111111111",
        "us-east-1",
        "available",
        (SnapshotInfo(f"snap-{image_id}", 8, None),),
        launch=fields.pop("launch", LaunchPermissions()),
    )  # type: ignore[arg-type]
    return Candidate(image, NOW - dt.timedelta(days=days), **fields)  # type: ignore[arg-type]


SHARED_COPY = ImageInfo(
    "ami-0fedcba9876543210",
    "golden-200-amishare-e4fb1e41",
    "111111111111",
    "us-east-1",
    "available",
    (
        SnapshotInfo(
            "snap-copy", 8, "arn:aws:kms:us-east-1:111111111111:key/k", shared_with=frozenset({"333333333333"})
        ),
    ),
    launch=LaunchPermissions(accounts=frozenset({"222222222222", "333333333333"})),
)
UNSHARED_COPY = ImageInfo(
    "ami-0fedcba9876543211", "golden-200-amishare-0", "111111111111", "us-east-1", "available", (), LaunchPermissions()
)
RULES = Rules(action="deregister", name="golden-*", older_than=90 * 86400.0, unused_for=30 * 86400.0)
CASES: list[tuple[str, Candidate, str]] = [
    ("old and unused", _candidate("a", 200), "deregister"),
    ("young", _candidate("a", 30), "keep"),
    ("in use", _candidate("a", 200, uses=(Use("111111111111", "ec2:Instance", "arn:i"),)), "keep"),
    ("launched lately", _candidate("a", 200, last_launched=NOW - dt.timedelta(days=3)), "keep"),
    ("launched long ago", _candidate("a", 200, last_launched=NOW - dt.timedelta(days=60)), "deregister"),
    ("protected", _candidate("a", 200, protection="enabled"), "keep"),
    ("shared", _candidate("a", 200, launch=LaunchPermissions(accounts=frozenset({"222222222222"}))), "keep"),
    ("the source of a shared re-encrypted copy", _candidate("a", 200, copies=(SHARED_COPY,)), "keep"),
    ("the source of a copy shared with no one", _candidate("a", 200, copies=(UNSHARED_COPY,)), "deregister"),
]


@pytest.mark.parametrize(("candidate", "verdict"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decide(candidate: Candidate, verdict: str) -> None:
    (decision,) = decide([candidate], RULES, NOW, {})
    assert decision.verdict == verdict
    assert decision.reasons


def test_shared_with_include_shared_is_revoked_unless_use_is_unseen() -> None:
    shared = LaunchPermissions(accounts=frozenset({"222222222222"}))
    rules = Rules(action="deregister", name="golden-*", include_shared=True)
    (go,) = decide([_candidate("a", 200, launch=shared)], rules, NOW, {})
    assert go.verdict == "deregister" and go.revoke
    (kept,) = decide(
        [_candidate("a", 200, launch=shared, unseen=("222222222222 (no role configured)",))], rules, NOW, {}
    )
    assert kept.verdict == "keep" and "cannot read" in kept.reasons[0]


def test_the_source_of_a_shared_copy_is_kept_with_the_copy_and_the_fix_named() -> None:
    (decision,) = decide([_candidate("ami-0123456789abcdef0", 200, copies=(SHARED_COPY,))], RULES, NOW, {})
    (reason,) = decision.reasons
    assert "ami-0fedcba9876543210 with 222222222222, 333333333333" in reason and "amishare:source-image" in reason
    assert "`amishare revoke ami-0123456789abcdef0 --from ACCOUNT --region us-east-1`" in reason
