"""The manifest's pure planners, table-driven (versions, units, holders, drift codes, retention, assembly), and
property tests of the diff: a plan applied and observed again plans nothing; drift is empty exactly when the plan
is (and no access is held that the manifest does not name); removals appear only when allowed, never beyond
``max_removals``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amishare.engine.action import Action
from amishare.engine.kinds.cleanup import DeregisterImage
from amishare.engine.kinds.copies import CopyToDestination, ReEncryptImage
from amishare.engine.kinds.distribution import DeprecateImage, PublishParameter, TagImage, UpdateLaunchTemplate
from amishare.engine.kinds.gates import (
    CreateGrant,
    PutKeyPolicy,
    RevokeGrant,
    ShareImage,
    ShareSnapshots,
    SnapshotChange,
    UnshareImage,
    UnshareSnapshots,
)
from amishare.engine.plan import Plan
from amishare.errors import PlanRefused
from amishare.model import (
    TAG_RETIRED,
    GrantInfo,
    ImageInfo,
    KeyInfo,
    LaunchPermissions,
    Observation,
    SnapshotInfo,
    account_target,
)
from amishare.planners.manifest import parse_manifest
from amishare.planners.manifest.assemble import Pieces, assemble
from amishare.planners.manifest.desired import Facts, Resolution, Version, audience, desired_state
from amishare.planners.manifest.drift import Finding, findings, unit_of
from amishare.planners.manifest.holders import Holders, holders
from amishare.planners.manifest.model import ById, ByName, BySsmParameter, ImageFamily, Retention, Safety
from amishare.planners.manifest.retention import RetentionPlan, RetiredCopy, iso, parse_retired, plan_retention
from amishare.planners.manifest.versions import Candidate, ParameterVersion, from_images, from_parameter
from amishare.planners.revoke import plan_revoke
from amishare.planners.share import ShareOptions, plan_share
from amishare.policy import key_policy
from amishare.policy.access import grant_name
from tests.support.key_policies import policy_document
from tests.support.manifests import OU, REGIONS, example_config

OWNER, REGION = "111111111111", "us-east-1"
POOL = ("222222222222", "333333333333", "444444444444", "555555555555", "666666666666")
KEY = f"arn:aws:kms:{REGION}:{OWNER}:key/11111111-2222-3333-4444-555555555555"
NOW = 1_790_000_000.0


# ---------------------------------------------------------------- versions
def _family(select: Any, versions: int = 2) -> ImageFamily:
    return ImageFamily("base", select, versions, ())


def test_versions_from_a_parameter_history_count_each_image_once_newest_first() -> None:
    history = [ParameterVersion(1, "ami-a"), ParameterVersion(2, "ami-b"), ParameterVersion(3, "ami-a")]
    history += [ParameterVersion(4, "ami-c"), ParameterVersion(5, "not-an-image")]
    found = from_parameter(_family(BySsmParameter("/golden/base")), history)
    assert [(v.image_id, v.via) for v in found.versions] == [
        ("ami-c", "ssm:/golden/base v4"),
        ("ami-a", "ssm:/golden/base v3"),
    ]
    assert [v.image_id for v in found.retired] == ["ami-b"]
    assert found.describe() == "base: ssm:/golden/base v4 -> ami-c; ssm:/golden/base v3 -> ami-a"


@pytest.mark.parametrize(
    ("select", "images", "versions", "retired"),
    [
        (
            ByName("golden-*"),
            [Candidate("ami-1", "2026-01-01"), Candidate("ami-3", "2026-03-01"), Candidate("ami-2", "2026-02-01")],
            ["ami-3", "ami-2"],
            ["ami-1"],
        ),
        (ByName("golden-*"), [Candidate("ami-1", "2026-01-01", "pending")], [], []),
        (ById("ami-9"), [Candidate("ami-9", "2026-01-01")], ["ami-9"], []),
        (ById("ami-9"), [], [], []),
    ],
)
def test_versions_from_images(select: Any, images: list[Candidate], versions: list[str], retired: list[str]) -> None:
    found = from_images(_family(select), images)
    assert [v.image_id for v in found.versions] == versions and [v.image_id for v in found.retired] == retired


# ------------------------------------------------------------------- units
MANIFEST = f"""
version = 1
[defaults]
source = "build"
regions = ["us-east-1", "eu-west-1"]
[targets]
prod = {{ ous = ["{OU}"], exclude = ["555555555555"] }}
nonprod = {{ accounts = ["dev", "qa"] }}
[[image]]
family = "base"
select = {{ ssm_parameter = "/golden/base" }}
versions = 2
  [[image.distribute]]
  to = ["nonprod"]
  mode = "share"
  ssm_parameter = "/platform/base"
  [[image.distribute]]
  to = ["prod", "555555555555"]
  mode = "transfer"
  regions = ["us-east-1"]
"""


def _manifest(text: str = MANIFEST) -> Any:
    import tomllib

    return parse_manifest(tomllib.loads(text), Path("m.toml"), example_config(), REGIONS)


def _facts(members: tuple[str, ...] = ("111111111111", "555555555555", "666666666666")) -> Facts:
    versions = (Version("ami-new", "ssm v2"), Version("ami-old", "ssm v1"))
    return Facts(OWNER, REGION, {"base": Resolution("base", versions)}, {OU: members})


def test_an_ou_expands_its_exclude_applies_to_its_group_only_and_the_source_is_never_a_target() -> None:
    manifest = _manifest()
    transfer = manifest.images[0].distribute[1]
    # 555... is excluded from prod's OU but named on its own; 111... is the source
    assert [t.value for t in audience(manifest, transfer, _facts())] == ["555555555555", "666666666666"]


def test_units_share_per_region_transfer_per_distribution_pointers_only_for_the_newest() -> None:
    desired = desired_state(_manifest(), _facts())
    assert [(u.image_id, u.region) for u in desired.shares] == [
        ("ami-new", "us-east-1"),
        ("ami-new", "eu-west-1"),
        ("ami-old", "us-east-1"),
        ("ami-old", "eu-west-1"),
    ]
    assert set(desired.shares[0].pointers) == {"222222222222", "444444444444"}
    assert desired.shares[2].pointers == {}  # an older version keeps its access, never the pointer
    assert [(u.image_id, u.newest, u.name) for u in desired.transfers] == [
        ("ami-new", True, "base/transfer-2/ami-new"),
        ("ami-old", False, "base/transfer-2/ami-old"),
    ]


def test_an_account_reached_twice_in_a_region_is_refused_naming_both() -> None:
    overlapping = _facts(members=("222222222222",))  # dev is also in the OU: shared and transferred
    with pytest.raises(PlanRefused, match=r"222222222222 is reached in us-east-1 by .*share.* and by .*transfer"):
        desired_state(_manifest(), overlapping)


# ----------------------------------------------------------------- holders
def _key(policy: dict[str, Any] | None = None, grants: tuple[GrantInfo, ...] = ()) -> KeyInfo:
    return KeyInfo(KEY, OWNER, REGION, "CUSTOMER", policy=policy or policy_document(), grants=grants)


def _image(launch: frozenset[str] = frozenset(), snapshots: tuple[frozenset[str], ...] = (frozenset(),)) -> ImageInfo:
    return ImageInfo(
        "ami-1",
        "golden",
        OWNER,
        REGION,
        "available",
        tuple(SnapshotInfo(f"snap-{i}", 8, KEY, shared) for i, shared in enumerate(snapshots)),
        LaunchPermissions(accounts=launch),
    )


def _admitting(*accounts: str) -> dict[str, Any]:
    return key_policy.edited(
        policy_document(), REGION, key_policy.KeyAccess(accounts=frozenset(accounts)), key_policy.NO_ACCESS
    )


@pytest.mark.parametrize(
    ("launch", "key", "wanted", "extra", "unmanaged"),
    [
        ({"a"}, _key(), {"a"}, (), ()),
        ({"222222222222"}, _key(_admitting("222222222222")), set(), ("222222222222",), ()),
        ({"222222222222"}, _key(), set(), (), ("222222222222",)),
        (
            {"222222222222"},
            _key(grants=(GrantInfo("g1", "arn:aws:iam::222222222222:root", ("Decrypt",), grant_name("222222222222")),)),
            set(),
            ("222222222222",),
            (),
        ),
        ({OWNER}, _key(), set(), (), ()),
    ],
)
def test_holders_split_extra_from_unmanaged(
    launch: set[str], key: KeyInfo, wanted: set[str], extra: tuple[str, ...], unmanaged: tuple[str, ...]
) -> None:
    found = holders(_image(frozenset(launch)), (key,), frozenset(wanted))
    assert (found.extra, found.unmanaged) == (extra, unmanaged)


# ------------------------------------------------------------------- drift
BASE = {"account": "222222222222", "region": REGION}


@pytest.mark.parametrize(
    ("unit", "action", "expected"),
    [
        (
            "base/share/us-east-1/ami-1",
            ReEncryptImage(
                key="r",
                source_image="ami-1",
                source_region=REGION,
                source_name="g",
                description="d",
                name="n",
                kms_key=KEY,
                **{**BASE, "account": OWNER},
            ),
            [("missing-copy", OWNER)],
        ),
        (
            "base/share/us-east-1/ami-1",
            ShareImage(key="s", image="ami-1", accounts=("222222222222",), **BASE),
            [("missing-share", "222222222222")],
        ),
        (
            "base/share/us-east-1/ami-1",
            ShareSnapshots(
                key="s", image="ami-1", accounts=("2", "3"), changes=(SnapshotChange("snap-1", ("3",)),), **BASE
            ),
            [("missing-share", "3")],
        ),
        (
            "base/share/us-east-1/ami-1",
            PutKeyPolicy(key="k", key_arn=KEY, add=key_policy.KeyAccess(accounts=frozenset({"4"})), **BASE),
            [("missing-share", "4")],
        ),
        (
            "base/share/us-east-1/ami-1",
            CreateGrant(
                key="g", key_arn=KEY, grantee="arn:aws:iam::5:root", operations=("Decrypt",), name="amishare-5", **BASE
            ),
            [("missing-share", "5")],
        ),
        ("base/transfer-2/ami-1", ShareImage(key="s", image="ami-1", accounts=("222222222222",), **BASE), []),
        (
            "base/transfer-2/ami-1",
            CopyToDestination(
                key="c", source_image="ami-1", source_region=REGION, description="d", name="n", kms_key=KEY, **BASE
            ),
            [("missing-copy", "222222222222")],
        ),
        (
            "base/transfer-2/ami-1",
            PublishParameter(key="p", parameter="/p", image="ami-2", **BASE),
            [("stale-parameter", "222222222222")],
        ),
        (
            "base/transfer-2/ami-1",
            UpdateLaunchTemplate(key="t", template="web", image="ami-2", **BASE),
            [("stale-template-default", "222222222222")],
        ),
        (
            "base/transfer-2/ami-1",
            DeprecateImage(key="d", image="ami-2", after_seconds=60.0, **BASE),
            [("stale-copy", "222222222222")],
        ),
        (
            "base/prune/us-east-1/ami-1",
            UnshareImage(key="u", image="ami-1", accounts=("6",), **BASE),
            [("extra-share", "6")],
        ),
        (
            "base/prune/us-east-1/ami-1",
            UnshareSnapshots(key="u", image="ami-1", changes=(SnapshotChange("snap-1", ("6",)),), **BASE),
            [("extra-share", "6")],
        ),
        (
            "base/prune/us-east-1/ami-1",
            RevokeGrant(key="r", key_arn=KEY, grant_id="g", grantee="arn:aws:iam::6:root", **BASE),
            [("extra-share", "6")],
        ),
        (
            "base/retire/ami-0",
            TagImage(key="m", image="ami-9", tags={TAG_RETIRED: "x"}, **BASE),
            [("retention-due", "222222222222")],
        ),
        ("base/retire/ami-0", DeregisterImage(key="x", image="ami-9", **BASE), [("retention-due", "222222222222")]),
    ],
)
def test_each_action_reads_as_its_finding(unit: str, action: Action, expected: list[tuple[str, str]]) -> None:
    named = action.rekeyed({action.key: f"{unit}:{action.key}"})
    plan = Plan("apply", OWNER, REGION, "ami-1", (), (named,), "ami-1")
    found = findings(plan)
    assert [(f.code, f.account) for f in found] == expected
    assert all(f.family == "base" and f.image == unit.rsplit("/", 1)[1] for f in found)
    assert unit_of(named)[0] == "base"


def test_unmanaged_access_is_a_finding_no_action_fixes() -> None:
    found = findings(Plan("apply", OWNER, REGION, "", (), (), ""), [("base", Holders("ami-1", REGION, (), ("777",)))])
    assert found == (Finding("base", "unmanaged-share", "ami-1", "777", REGION, found[0].fix),)
    assert "never removes" in found[0].fix


# --------------------------------------------------------------- retention
def _copy(**kw: Any) -> RetiredCopy:
    return RetiredCopy(
        **{
            "family": "base",
            "account": "222222222222",
            "region": REGION,
            "role": None,
            "image_id": "ami-c",
            "source_image": "ami-0",
            **kw,
        }
    )


@pytest.mark.parametrize(
    ("copy", "retention", "changes", "removals"),
    [
        (_copy(), Retention("30d", "180d"), ["TagImage", "DeprecateImage"], []),
        (_copy(retired_at=NOW - 10, deprecated=True), Retention("30d", "180d"), [], []),
        (_copy(retired_at=NOW - 181 * 86400, deprecated=True), Retention("30d", "180d"), [], ["DeregisterImage"]),
        (_copy(retired_at=NOW - 181 * 86400, deprecated=True, protected=True), Retention("30d", "180d"), [], []),
        (_copy(retired_at=NOW - 10), Retention(None, None), [], []),
        (_copy(), Retention(None, "1d"), ["TagImage"], []),
    ],
)
def test_retention(copy: RetiredCopy, retention: Retention, changes: list[str], removals: list[str]) -> None:
    made = plan_retention((copy,), retention, NOW)
    assert [a.kind.value for a in made.changes] == changes and [a.kind.value for a in made.removals] == removals
    assert all(a.key.startswith("base/retire/ami-0:") for a in (*made.changes, *made.removals))
    if copy.protected:
        assert "protected" in made.notes[0]


def test_the_retired_mark_reads_back() -> None:
    assert parse_retired(iso(NOW)) == NOW and parse_retired("yesterday") is None and parse_retired(None) is None


# --------------------------------------------------------- property tests
accounts = st.frozensets(st.sampled_from(POOL))


def _observation(
    launch: frozenset[str], snapshots: tuple[frozenset[str], ...], admitted: frozenset[str]
) -> Observation:
    key = _key(_admitting(*admitted) if admitted else None)
    return Observation(OWNER, REGION, _image(launch, snapshots), {KEY: key})


def _applied(obs: Observation, plan: Plan) -> Observation:
    """What AWS holds once ``plan``'s gate actions ran (a pure model of their calls)."""
    image, key = obs.image, obs.keys[KEY]
    launch = set(image.launch.accounts)
    shared = {s.snapshot_id: set(s.shared_with) for s in image.snapshots}
    for action in plan.actions:
        if isinstance(action, ShareImage):
            launch |= set(action.accounts)
        elif isinstance(action, UnshareImage):
            launch -= set(action.accounts)
        elif isinstance(action, ShareSnapshots | UnshareSnapshots):
            everyone = getattr(action, "accounts", ())
            for change in action.changes or tuple(SnapshotChange(s, everyone) for s in shared):
                if isinstance(action, ShareSnapshots):
                    shared[change.snapshot] |= set(change.accounts)
                else:
                    shared[change.snapshot] -= set(change.accounts)
        elif isinstance(action, PutKeyPolicy):  # the step applies the edit to the policy it reads (as AWS runs it)
            assert key.policy is not None
            key = replace(key, policy=key_policy.edited(key.policy, REGION, action.add, action.remove))
    snapshots = tuple(replace(s, shared_with=frozenset(shared[s.snapshot_id])) for s in image.snapshots)
    image = replace(image, launch=LaunchPermissions(accounts=frozenset(launch)), snapshots=snapshots)
    return replace(obs, image=image, keys={KEY: key})


@given(wanted=accounts, launch=accounts, snap1=accounts, snap2=accounts, admitted=accounts)
def test_a_share_applied_and_observed_again_plans_nothing(
    wanted: frozenset[str],
    launch: frozenset[str],
    snap1: frozenset[str],
    snap2: frozenset[str],
    admitted: frozenset[str],
) -> None:
    obs = _observation(launch, (snap1, snap2), admitted)
    targets = tuple(account_target(a) for a in sorted(wanted))
    if not targets:
        return
    plan = plan_share(obs, targets, ShareOptions())
    assert plan_share(_applied(obs, plan), targets, ShareOptions()).actions == ()


FACTS = Facts(OWNER, REGION, {"base": Resolution("base", (Version("ami-1", "id"),))}, {})


def _manifest_safety(prune: bool, max_removals: int) -> Any:
    return replace(_manifest(), safety=Safety(prune, max_removals))


@given(wanted=accounts, launch=accounts, snap=accounts, admitted=accounts, allow=st.booleans(), limit=st.integers(1, 6))
def test_drift_is_empty_exactly_when_the_plan_is_and_removals_appear_only_when_allowed(
    wanted: frozenset[str],
    launch: frozenset[str],
    snap: frozenset[str],
    admitted: frozenset[str],
    allow: bool,
    limit: int,
) -> None:
    obs = _observation(launch, (snap,), admitted)
    targets = tuple(account_target(a) for a in sorted(wanted))
    share = (
        plan_share(obs, targets, ShareOptions()) if targets else Plan("share", OWNER, REGION, "ami-1", (), (), "ami-1")
    )
    part = share.named(f"base/share/{REGION}/ami-1")
    held = holders(obs.image, (obs.keys[KEY],), wanted)
    revocations: tuple[Plan, ...] = ()
    if held.extra:
        revoke = plan_revoke(obs, tuple(account_target(a) for a in held.extra))
        revocations = (revoke.named(f"base/prune/{REGION}/ami-1"),)
    pieces = Pieces((part,), RetentionPlan(), (("base", held),), revocations)
    manifest = _manifest_safety(False, limit)
    if allow and len(held.extra) > limit:
        with pytest.raises(PlanRefused, match="max_removals"):
            assemble(FACTS, manifest, pieces, allowed=True)
        return
    plan, drift, count = assemble(FACTS, manifest, pieces, allowed=allow)
    nothing_held = not held.extra and not held.unmanaged
    assert (drift == ()) == (plan.actions == () and nothing_held)
    removing = [
        a
        for a in plan.actions
        if isinstance(a, UnshareImage | UnshareSnapshots | RevokeGrant | DeregisterImage)
        or (isinstance(a, PutKeyPolicy) and a.remove)
    ]
    assert (not removing) or allow
    assert count == (0 if allow else len(held.extra))
    if allow:  # applied and observed again: nothing to do, and only access amishare did not make is left
        after = _applied(obs, plan)
        if targets:
            assert plan_share(after, targets, ShareOptions()).actions == ()
        again = holders(after.image, (after.keys[KEY],), wanted)
        assert again.extra == () and again.unmanaged == held.unmanaged


# ------------------------------------------------------------------ import
def test_an_imported_manifest_groups_principals_by_the_regions_they_are_reached_in_and_reads_back() -> None:
    import datetime as dt
    import tomllib

    from amishare.planners.manifest.adopt import Found, manifest_toml

    found = Found(
        "base",
        BySsmParameter("/golden/base"),
        "111111111111",
        "us-east-1",
        ("us-east-1", "eu-west-1"),
        "ami-1",
        shared={"us-east-1": ("222222222222", "333333333333"), "eu-west-1": ("222222222222",)},
        owned={"us-east-1": ("555555555555",), "eu-west-1": ("555555555555",)},
        public=("eu-west-1",),
    )
    names = {"111111111111": "build", "222222222222": "dev"}
    text = manifest_toml(found, lambda a: names.get(a, a), dt.datetime(2026, 12, 2, tzinfo=dt.UTC))
    manifest = parse_manifest(tomllib.loads(text), Path("imported.toml"), example_config(), REGIONS)
    spread = [(d.to[0].written, d.mode.value, d.regions) for d in manifest.images[0].distribute]
    assert spread == [
        ("dev", "share", ("us-east-1", "eu-west-1")),
        ("333333333333", "share", ("us-east-1",)),
        ("555555555555", "transfer", ("us-east-1", "eu-west-1")),
    ]
    assert "# public in eu-west-1: a manifest never makes an image public" in text
