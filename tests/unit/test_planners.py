"""The planners, table-driven: pure functions of an observation and a request (no AWS, no clock)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from amishare.engine.kinds.copies import CopyToDestination
from amishare.engine.kinds.gates import PutKeyPolicy, ShareImage
from amishare.engine.plan import Plan
from amishare.errors import PlanRefused
from amishare.model import (
    PUBLIC,
    GrantInfo,
    ImageInfo,
    KeyInfo,
    LaunchPermissions,
    Observation,
    RoleRef,
    SnapshotInfo,
    Target,
    TargetKind,
    account_target,
)
from amishare.planners import redo
from amishare.planners.revoke import plan_revoke
from amishare.planners.share import ShareOptions, plan_share
from amishare.planners.transfer import plan_transfer
from amishare.planners.transfer_spec import Destination, Party, TransferObservation, TransferSpec
from amishare.policy import key_policy

OWNER, DEV, QA = "111111111111", "222222222222", "333333333333"
REGION, REGION2 = "us-east-1", "eu-west-1"
ORG = "arn:aws:organizations::111111111111:organization/o-abcdefghij"
OU = "arn:aws:organizations::111111111111:ou/o-abcdefghij/ou-abcd-12345678"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Admins",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{OWNER}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ],
}


def _key(name: str, region: str = REGION, manager: str = "CUSTOMER", **kw: Any) -> KeyInfo:
    return KeyInfo(
        arn=f"arn:aws:kms:{region}:{OWNER}:key/{name}",
        account=OWNER,
        region=region,
        manager=manager,
        aliases=(f"alias/{name}",),
        policy=None if manager == "AWS" else json.loads(json.dumps(POLICY)),
        **kw,
    )


EBS = _key("aws-ebs", manager="AWS")
APP = _key("app")
SHARE = _key("share")
SHARE2 = _key("share2", REGION2)


def _image(
    key: KeyInfo | None, *, launch: LaunchPermissions | None = None, shared: frozenset[str] = frozenset()
) -> ImageInfo:
    snapshots = (
        SnapshotInfo("snap-1", 8, key.arn if key else None, shared),
        SnapshotInfo("snap-2", 16, key.arn if key else None, shared),
    )
    permissions = launch or LaunchPermissions()
    return ImageInfo(
        "ami-0123456789abcdef0", "golden", OWNER, REGION, "available", snapshots, permissions, {"team": "p"}
    )


def _obs(
    image: ImageInfo, *keys: KeyInfo, share: KeyInfo | None = None, siblings: tuple[ImageInfo, ...] = ()
) -> Observation:
    known = {k.arn: k for k in (*keys, *((share,) if share else ()))}
    return Observation(OWNER, REGION, image, known, share_key=share, siblings=siblings)


def _kinds(plan: Plan) -> list[str]:
    return [a.kind.value for a in plan.actions]


SHARES: list[tuple[str, Observation, tuple[Target, ...], ShareOptions, list[str] | str]] = [
    (
        "unencrypted: snapshots then launch",
        _obs(_image(None)),
        (account_target(DEV),),
        ShareOptions(),
        ["ShareSnapshots", "ShareImage"],
    ),
    (
        "customer key: key policy too",
        _obs(_image(APP), APP),
        (account_target(DEV),),
        ShareOptions(),
        ["PutKeyPolicy", "ShareSnapshots", "ShareImage"],
    ),
    (
        "grants instead of statements",
        _obs(_image(APP), APP),
        (account_target(DEV),),
        ShareOptions(key_access="grant"),
        ["CreateGrant", "ShareSnapshots", "ShareImage"],
    ),
    (
        "an existing grant is kept",
        _obs(
            _image(APP),
            replace(APP, grants=(GrantInfo("g1", f"arn:aws:iam::{DEV}:root", ("Decrypt",), "amishare-222222222222"),)),
        ),
        (account_target(DEV),),
        ShareOptions(key_access="grant"),
        ["ShareSnapshots", "ShareImage"],
    ),
    (
        "aws/ebs: re-encrypt first",
        _obs(_image(EBS), EBS, share=SHARE),
        (account_target(DEV),),
        ShareOptions(),
        ["ReEncryptImage", "AwaitImage", "PutKeyPolicy", "ShareSnapshots", "ShareImage"],
    ),
    ("aws/ebs without a share key", _obs(_image(EBS), EBS), (account_target(DEV),), ShareOptions(), "no share key"),
    (
        "an organization: no snapshot permission",
        _obs(_image(APP), APP),
        (Target(TargetKind.ORGANIZATION, ORG),),
        ShareOptions(),
        ["PutKeyPolicy", "ShareImage"],
    ),
    (
        "an OU by grant is refused",
        _obs(_image(APP), APP),
        (Target(TargetKind.OU, OU),),
        ShareOptions(key_access="grant"),
        "cannot name an organization",
    ),
    ("public without the flag", _obs(_image(None)), (PUBLIC,), ShareOptions(), "--allow-public"),
    ("public and encrypted", _obs(_image(APP), APP), (PUBLIC,), ShareOptions(allow_public=True), "encrypted"),
    (
        "already shared: nothing to do",
        _obs(
            _image(None, launch=LaunchPermissions(accounts=frozenset({DEV})), shared=frozenset({DEV})),
        ),
        (account_target(DEV),),
        ShareOptions(),
        [],
    ),
    (
        "only the missing gates",
        _obs(_image(None, launch=LaunchPermissions(accounts=frozenset({DEV})))),
        (account_target(DEV),),
        ShareOptions(),
        ["ShareSnapshots"],
    ),
]


@pytest.mark.parametrize(("obs", "targets", "options", "expected"), [c[1:] for c in SHARES], ids=[c[0] for c in SHARES])
def test_plan_share(
    obs: Observation, targets: tuple[Target, ...], options: ShareOptions, expected: list[str] | str
) -> None:
    if isinstance(expected, str):
        with pytest.raises(PlanRefused, match=expected):
            plan_share(obs, targets, options)
        return
    plan = plan_share(obs, targets, options)
    assert _kinds(plan) == expected
    assert Plan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan  # plans are data
    gates = [a.key for a in plan.actions if a.kind.value in ("PutKeyPolicy", "ShareSnapshots", "CreateGrant")]
    for action in plan.actions:
        if isinstance(action, ShareImage):  # launch permission last: never visible before usable
            assert set(gates) <= set(action.depends_on)


def test_the_key_policy_change_is_in_the_plan() -> None:
    plan = plan_share(_obs(_image(APP), APP), (account_target(DEV), account_target(QA)))
    (edit,) = [a for a in plan.actions if isinstance(a, PutKeyPolicy)]
    policy = json.loads(edit.policy)
    assert key_policy.granted(policy).accounts == {DEV, QA}
    assert [s for s in policy["Statement"] if not key_policy.is_amishare(s)] == POLICY["Statement"]
    assert edit.add.accounts == {DEV, QA} and not edit.remove


REVOKES: list[tuple[str, Observation, list[str]]] = [
    (
        "all three gates",
        _obs(
            _image(APP, launch=LaunchPermissions(accounts=frozenset({DEV})), shared=frozenset({DEV})),
            replace(
                APP, policy=key_policy.with_access(POLICY, REGION, key_policy.KeyAccess(accounts=frozenset({DEV})))
            ),
        ),
        ["UnshareImage", "UnshareSnapshots", "PutKeyPolicy"],
    ),
    (
        "key access another image still needs is kept",
        _obs(
            _image(APP, launch=LaunchPermissions(accounts=frozenset({DEV})), shared=frozenset({DEV})),
            replace(
                APP, policy=key_policy.with_access(POLICY, REGION, key_policy.KeyAccess(accounts=frozenset({DEV})))
            ),
            siblings=(
                replace(
                    _image(APP, launch=LaunchPermissions(accounts=frozenset({DEV}))), image_id="ami-0fedcba9876543210"
                ),
            ),
        ),
        ["UnshareImage", "UnshareSnapshots"],
    ),
    ("nothing shared: nothing to do", _obs(_image(APP), APP), []),
    ("aws/ebs without a copy: nothing can be shared", _obs(_image(EBS), EBS), []),
]


@pytest.mark.parametrize(("obs", "expected"), [c[1:] for c in REVOKES], ids=[c[0] for c in REVOKES])
def test_plan_revoke(obs: Observation, expected: list[str]) -> None:
    assert _kinds(plan_revoke(obs, (account_target(DEV),))) == expected


def _spec(**kw: Any) -> TransferSpec:
    dests = (
        Destination(
            DEV, RoleRef(DEV, f"arn:aws:iam::{DEV}:role/R"), "dev", {REGION: "alias/mine", REGION2: "alias/mine"}
        ),
    )
    return TransferSpec(
        source=Party(OWNER), destinations=kw.pop("destinations", dests), regions=kw.pop("regions", (REGION,)), **kw
    )


def _tobs(image: ImageInfo, *keys: KeyInfo) -> TransferObservation:
    return TransferObservation(OWNER, REGION, image, {k.arn: k for k in keys}, {REGION: SHARE, REGION2: SHARE2})


TRANSFERS: list[tuple[str, TransferObservation, TransferSpec, list[str] | str]] = [
    (
        "aws/ebs: staged",
        _tobs(_image(EBS), EBS),
        _spec(),
        [
            "StageImage",
            "AwaitImage",
            "PutKeyPolicy",
            "ShareSnapshots",
            "ShareImage",
            "CopyToDestination",
            "AwaitImage",
            "RevokeDestination",
            "DeleteStaging",
        ],
    ),
    (
        "customer key in its region: shared as it is",
        _tobs(_image(APP), APP),
        _spec(),
        ["PutKeyPolicy", "ShareSnapshots", "ShareImage", "CopyToDestination", "AwaitImage", "RevokeDestination"],
    ),
    (
        "live share keeps staging and grants Auto Scaling",
        _tobs(_image(EBS), EBS),
        _spec(keep_share=True, grant_autoscaling=True),
        [
            "StageImage",
            "AwaitImage",
            "PutKeyPolicy",
            "ShareSnapshots",
            "ShareImage",
            "CopyToDestination",
            "AwaitImage",
            "CreateGrant",
        ],
    ),
    (
        "two regions: two stagings",
        _tobs(_image(APP), APP),
        _spec(regions=(REGION, REGION2)),
        [
            "PutKeyPolicy",
            "ShareSnapshots",
            "ShareImage",
            "CopyToDestination",
            "AwaitImage",
            "RevokeDestination",
            "StageImage",
            "AwaitImage",
            "PutKeyPolicy",
            "ShareSnapshots",
            "ShareImage",
            "CopyToDestination",
            "AwaitImage",
            "RevokeDestination",
            "DeleteStaging",
        ],
    ),
    (
        "no destination key",
        _tobs(_image(EBS), EBS),
        _spec(destinations=(Destination(DEV, RoleRef(DEV, "arn:aws:iam::222222222222:role/R")),)),
        "default EBS key",
    ),
    (
        "the source as a destination",
        _tobs(_image(EBS), EBS),
        _spec(destinations=(Destination(OWNER),), allow_default_key=True),
        "is the source",
    ),
    (
        "a region without a share key",
        TransferObservation(OWNER, REGION, _image(EBS), {EBS.arn: EBS}, {}),
        _spec(),
        "share key of us-east-1 is missing",
    ),
]


@pytest.mark.parametrize(("obs", "spec", "expected"), [c[1:] for c in TRANSFERS], ids=[c[0] for c in TRANSFERS])
def test_plan_transfer(obs: TransferObservation, spec: TransferSpec, expected: list[str] | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(PlanRefused, match=expected):
            plan_transfer(obs, spec)
        return
    plan = plan_transfer(obs, spec)
    assert _kinds(plan) == expected
    keys = [a.key for a in plan.actions]
    assert len(keys) == len(set(keys))
    for action in plan.actions:  # every dependency is in the plan, and comes first
        for dependency in (*action.depends_on, *action.after):
            assert keys.index(dependency) < keys.index(action.key)
    assert Plan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


# ----------------------------------------------------------------------------- redo (resume of failed copies)
def _two_destinations() -> Plan:
    qa = Destination(
        "333333333333",
        RoleRef("333333333333", "arn:aws:iam::333333333333:role/R"),
        label="qa",
        keys={REGION: "alias/mine"},
    )
    base = _spec()
    return plan_transfer(_tobs(_image(EBS), EBS), _spec(destinations=(*base.destinations, qa)))


# (case, states of the first attempt by key prefix -> state, failed (account, region) expected)
REDOS: list[tuple[str, dict[str, str], list[tuple[str, str]]]] = [
    ("all succeeded", {}, []),
    ("a copy refused", {f"copy:{_image(EBS).image_id}:{DEV}": "failed"}, [(DEV, REGION)]),
    ("a copy ended failed", {f"await:{_image(EBS).image_id}:333333333333": "failed"}, [("333333333333", REGION)]),
    ("an interrupted copy is continued, not redone", {f"copy:{_image(EBS).image_id}:{DEV}": "interrupted"}, []),
    (
        "copies skipped because the staging copy failed",
        {"stage:": "failed", "await-stage:": "skipped", "copy:": "skipped", "await:": "skipped"},
        [(DEV, REGION), ("333333333333", REGION)],
    ),
    ("a failed revocation is retried, not redone", {f"revoke:{_image(EBS).image_id}:{DEV}": "failed"}, []),
]


@pytest.mark.parametrize(("states", "expected"), [c[1:] for c in REDOS], ids=[c[0] for c in REDOS])
def test_failed_copies(states: dict[str, str], expected: list[tuple[str, str]]) -> None:
    plan = _two_destinations()
    by_key = {a.key: next((s for p, s in states.items() if a.key.startswith(p)), "succeeded") for a in plan.actions}
    assert [(f.account, f.region) for f in redo.failed_copies(plan, by_key)] == expected
    if not expected:
        return
    superseded = redo.extend(plan, plan, redo.failed_copies(plan, by_key), by_key)[1]
    failed = redo.failed_copies(plan, by_key)
    unfinished = {k for k, s in by_key.items() if s != "succeeded"} | {
        k for f in failed for k in (f.copy_key, f.wait_key) if k
    }
    revocations_of_others = {
        a.key for a in plan.actions if a.kind.value == "RevokeDestination" and (a.target, a.region) not in expected
    }
    assert set(superseded) == unfinished - revocations_of_others  # the rest of the region is replaced


def test_a_redo_joins_the_plan_under_new_names_and_supersedes_the_failed_copy() -> None:
    plan = _two_destinations()
    image = _image(EBS).image_id
    spec = _spec()
    again = plan_transfer(_tobs(_image(EBS), EBS), spec)  # the failed destination (dev) planned again
    states = {a.key: "succeeded" for a in plan.actions} | {f"await:{image}:{DEV}:{REGION}": "failed"}
    failed = redo.failed_copies(plan, states)
    extended, superseded = redo.extend(plan, again, failed, states)
    assert superseded == (f"copy:{image}:{DEV}:{REGION}", f"await:{image}:{DEV}:{REGION}")
    added = extended.actions[len(plan.actions) :]
    assert [a.key for a in added] == [f"{a.key}~2" for a in again.actions]
    keys = [a.key for a in extended.actions]
    for action in added:  # every new action depends on new actions only, and refers to them
        assert all(
            d.endswith("~2") and keys.index(d) < keys.index(action.key) for d in (*action.depends_on, *action.after)
        )
        assert action.unresolved() is None or action.unresolved().endswith("~2")  # type: ignore[union-attr]
    copy = next(a for a in added if isinstance(a, CopyToDestination))
    assert copy.source_image == f"@stage:{image}:{REGION}~2"
    assert redo.generation(extended) == 3
    assert Plan.from_dict(json.loads(json.dumps(extended.to_dict()))) == extended


def test_a_spec_is_data_and_its_parties_keep_their_flat_role_fields() -> None:
    spec = _spec()
    document = json.loads(json.dumps(spec.to_dict()))
    assert TransferSpec.from_dict(document) == spec
    (dev,) = document["destinations"]
    assert dev["account"] == DEV and dev["role_arn"] == f"arn:aws:iam::{DEV}:role/R" and "role" not in dev
    assert "role_arn" not in document["source"] and "role" not in document["source"]  # the caller's own
