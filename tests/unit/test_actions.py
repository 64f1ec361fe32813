"""Action kinds: every kind round-trips through the journal's JSON, and declares what it needs."""

from __future__ import annotations

import json

import pytest

from amishare.engine.action import Action, ActionKind
from amishare.engine.kinds import KINDS
from amishare.engine.kinds.cleanup import DeregisterImage, DisableImage
from amishare.engine.kinds.copies import AwaitImage, CopyToDestination, DeleteStaging, ReEncryptImage, StageImage
from amishare.engine.kinds.distribution import (
    DeprecateImage,
    ProtectImage,
    PublishParameter,
    TagImage,
    UpdateLaunchTemplate,
)
from amishare.engine.kinds.gates import (
    CreateGrant,
    PutKeyPolicy,
    RevokeDestination,
    RevokeGrant,
    ShareImage,
    ShareSnapshots,
    SnapshotChange,
    UnshareImage,
    UnshareSnapshots,
)
from amishare.engine.permissions import Principal
from amishare.model import RoleRef
from amishare.policy.key_policy import KeyAccess

BASE = {"account": "111111111111", "region": "us-east-1", "depends_on": ("x",), "after": ("y",)}
SAMPLES: dict[ActionKind, Action] = {
    ActionKind.REENCRYPT_IMAGE: ReEncryptImage(
        key="r",
        **BASE,
        source_image="ami-1",
        source_region="us-east-1",
        name="n",
        description="d",
        kms_key="arn:k",
        tags={"a": "b"},
        source_name="golden",
    ),
    ActionKind.STAGE_IMAGE: StageImage(
        key="s",
        **BASE,
        source_image="ami-1",
        source_region="us-east-1",
        name="n",
        description="d",
        role=RoleRef(BASE["account"], "arn:aws:iam::111111111111:role/R", "e"),
    ),
    ActionKind.COPY_TO_DESTINATION: CopyToDestination(
        key="c",
        **BASE,
        source_image="@s",
        source_region="us-east-1",
        name="n",
        description="d",
        kms_key=None,
        actor=Principal.DESTINATION,
        role=RoleRef(BASE["account"], "arn:aws:iam::222222222222:role/R"),
        label="dev",
    ),
    ActionKind.AWAIT_IMAGE: AwaitImage(key="w", **BASE, image="@c", timeout=60.0, expected="@w0#seconds"),
    ActionKind.DELETE_STAGING: DeleteStaging(key="d", **BASE, image="@s"),
    ActionKind.SHARE_IMAGE: ShareImage(
        key="si", **BASE, image="ami-1", accounts=("222222222222",), organizations=("arn:o",), public=False
    ),
    ActionKind.UNSHARE_IMAGE: UnshareImage(key="ui", **BASE, image="ami-1", ous=("arn:ou",), public=True),
    ActionKind.SHARE_SNAPSHOTS: ShareSnapshots(
        key="ss",
        **BASE,
        image="ami-1",
        accounts=("222222222222",),
        changes=(SnapshotChange("snap-1", ("222222222222",)),),
    ),
    ActionKind.UNSHARE_SNAPSHOTS: UnshareSnapshots(
        key="us", **BASE, image="ami-1", changes=(SnapshotChange("snap-1", ("222222222222",)),)
    ),
    ActionKind.PUT_KEY_POLICY: PutKeyPolicy(
        key="p",
        **BASE,
        key_arn="arn:k",
        add=KeyAccess(accounts=frozenset({"2" * 12}), ous=frozenset({("o-1", "ou-1")})),
        remove=KeyAccess(autoscaling=frozenset({"3" * 12})),
        policy="{}",
        previous="{}",
    ),
    ActionKind.CREATE_GRANT: CreateGrant(
        key="g", **BASE, key_arn="arn:k", grantee="arn:g", operations=("Decrypt",), name="n"
    ),
    ActionKind.REVOKE_GRANT: RevokeGrant(key="rg", **BASE, key_arn="arn:k", grant_id="g1"),
    ActionKind.REVOKE_DESTINATION: RevokeDestination(
        key="rd", **BASE, image="@s", target="222222222222", key_arn=None, image_access=False
    ),
    ActionKind.PUBLISH_PARAMETER: PublishParameter(key="pp", **BASE, parameter="/golden", image="@c"),
    ActionKind.UPDATE_LAUNCH_TEMPLATE: UpdateLaunchTemplate(
        key="ut", **BASE, template="web", image="@c", set_default=True
    ),
    ActionKind.DEPRECATE_IMAGE: DeprecateImage(key="di", **BASE, image="@c", after_seconds=7776000.0),
    ActionKind.TAG_IMAGE: TagImage(key="ti", **BASE, image="ami-1", tags={"amishare:retired": "2026-12-02T08:00:00Z"}),
    ActionKind.PROTECT_IMAGE: ProtectImage(key="pi", **BASE, image="@c"),
    ActionKind.DISABLE_IMAGE: DisableImage(key="dis", **BASE, image="ami-1"),
    ActionKind.DEREGISTER_IMAGE: DeregisterImage(
        key="der", **BASE, image="ami-1", snapshots=("snap-1",), kept_snapshots=("snap-2",)
    ),
}


def test_every_kind_has_a_sample() -> None:
    assert set(SAMPLES) == set(KINDS) == set(ActionKind)


@pytest.mark.parametrize("kind", list(ActionKind))
def test_round_trip_through_json(kind: ActionKind) -> None:
    action = SAMPLES[kind]
    document = json.loads(json.dumps(action.to_dict()))
    assert Action.from_dict(document) == action
    assert document["kind"] == kind.value and document["summary"] == action.describe()


@pytest.mark.parametrize("kind", list(ActionKind))
def test_every_kind_declares_permissions_with_resources(kind: ActionKind) -> None:
    cls = KINDS[kind]
    assert cls.needs, kind
    for permission in cls.needs:
        assert ":" in permission.action and permission.resources
    assert cls.symbol in ("+", "-", "~", "…")
    assert (cls.__doc__ or "").strip()


def test_acting_through_a_role_needs_assume_role_by_the_caller() -> None:
    action = SAMPLES[ActionKind.COPY_TO_DESTINATION]
    assert "sts:AssumeRole" in action.permissions
    declared = {(principal, p.action) for principal, p in action.declared()}
    assert (Principal.CALLER, "sts:AssumeRole") in declared
    assert (Principal.DESTINATION, "ec2:CopyImage") in declared


def test_every_kind_has_an_aws_handler() -> None:
    from amishare.aws.steps.handlers import handler_for

    for kind, sample in SAMPLES.items():
        assert handler_for(sample), kind  # raises TypeError for a kind without one
