"""Rule: who can see and copy an image or snapshot (docs/aws-facts.md section 1).

Images are visible to their owner, to accounts in the launch permission, to everyone when
public, and to members of an organization or OU named in it; snapshots likewise through
createVolumePermission; attributes are readable by the owner alone.
"""

from __future__ import annotations

from amishare.sandbox import Sandbox
from tests.support.world import OTHER, OWNER, REGION, REGION2, TARGET, Clients, error_of


def _unencrypted(sb: Sandbox) -> str:
    return sb.seed_image(OWNER, REGION, "plain", volumes_gib=[8], kms_key=None)


def _visible(aws: Clients, account: str, image_id: str, **kwargs: object) -> bool:
    images = aws(account, "ec2").describe_images(**kwargs)["Images"]
    return image_id in {i["ImageId"] for i in images}


def test_rule_unshared_image_is_not_found_for_other_accounts(sb: Sandbox, aws: Clients) -> None:
    image = _unencrypted(sb)
    error = error_of(aws(TARGET, "ec2").describe_images, ImageIds=[image])
    assert error["Code"] == "InvalidAMIID.NotFound"
    assert image in error["Message"]
    assert not _visible(aws, TARGET, image)
    assert _visible(aws, OWNER, image, ImageIds=[image])


def test_rule_launch_permission_by_account_makes_image_visible(sb: Sandbox, aws: Clients) -> None:
    image = _unencrypted(sb)
    aws(OWNER, "ec2").modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": TARGET}]})
    assert _visible(aws, TARGET, image, ImageIds=[image])
    assert _visible(aws, TARGET, image, ExecutableUsers=["self"])
    assert _visible(aws, TARGET, image, Owners=[OWNER])
    assert not _visible(aws, OTHER, image)
    assert not _visible(aws, TARGET, image, Owners=["self"])


def test_rule_images_are_regional(sb: Sandbox, aws: Clients) -> None:
    image = _unencrypted(sb)
    aws(OWNER, "ec2").modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": TARGET}]})
    assert error_of(aws(TARGET, "ec2", REGION2).describe_images, ImageIds=[image])["Code"] == "InvalidAMIID.NotFound"
    assert error_of(aws(OWNER, "ec2", REGION2).describe_images, ImageIds=[image])["Code"] == "InvalidAMIID.NotFound"


def test_rule_public_image_is_visible_to_everyone_and_filterable(sb: Sandbox, aws: Clients) -> None:
    image = _unencrypted(sb)
    aws(OWNER, "ec2").modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"Group": "all"}]})
    for account in (TARGET, OTHER):
        assert _visible(aws, account, image, Filters=[{"Name": "is-public", "Values": ["true"]}])
        assert _visible(aws, account, image, ExecutableUsers=["all"])
        assert not _visible(aws, account, image, ExecutableUsers=["self"])
    assert aws(TARGET, "ec2").describe_images(ImageIds=[image])["Images"][0]["Public"] is True
    assert not _visible(aws, TARGET, image, Filters=[{"Name": "is-public", "Values": ["false"]}])


def test_rule_organization_launch_permission_reaches_members_only(sb: Sandbox, aws: Clients) -> None:
    org_arn, _ = sb.create_organization(OWNER, {"dev": [TARGET]})
    image = _unencrypted(sb)
    aws(OWNER, "ec2").modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"OrganizationArn": org_arn}]})
    assert _visible(aws, TARGET, image, ImageIds=[image])
    assert _visible(aws, TARGET, image, ExecutableUsers=["self"])
    assert not _visible(aws, OTHER, image)


def test_rule_ou_launch_permission_reaches_the_ou_and_its_children(sb: Sandbox, aws: Clients) -> None:
    _, ous = sb.create_organization(OWNER, {"prod": [], "prod/web": [TARGET], "dev": [OTHER]})
    image = _unencrypted(sb)
    aws(OWNER, "ec2").modify_image_attribute(
        ImageId=image, Attribute="launchPermission", OperationType="add", OrganizationalUnitArns=[ous["prod"]]
    )
    assert _visible(aws, TARGET, image, ImageIds=[image])  # member of the child OU prod/web
    assert not _visible(aws, OTHER, image)  # member of a sibling OU
    aws(OWNER, "ec2").modify_image_attribute(
        ImageId=image, LaunchPermission={"Remove": [{"OrganizationalUnitArn": ous["prod"]}]}
    )
    assert not _visible(aws, TARGET, image)


def test_rule_attributes_are_readable_by_the_owner_alone(sb: Sandbox, aws: Clients) -> None:
    image = _unencrypted(sb)
    owner = aws(OWNER, "ec2")
    owner.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": TARGET}]})
    perms = owner.describe_image_attribute(ImageId=image, Attribute="launchPermission")["LaunchPermissions"]
    assert perms == [{"UserId": TARGET}]
    error = error_of(aws(TARGET, "ec2").describe_image_attribute, ImageId=image, Attribute="launchPermission")
    assert error["Code"] == "AuthFailure"
    error = error_of(aws(OTHER, "ec2").describe_image_attribute, ImageId=image, Attribute="launchPermission")
    assert error["Code"] == "InvalidAMIID.NotFound"
    snapshot = owner.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    owner.modify_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission", OperationType="add", UserIds=[TARGET]
    )
    error = error_of(
        aws(TARGET, "ec2").describe_snapshot_attribute, SnapshotId=snapshot, Attribute="createVolumePermission"
    )
    assert error["Code"] == "AuthFailure"


def test_rule_owner_tags_are_not_shown_to_other_accounts(sb: Sandbox, aws: Clients) -> None:
    image = sb.seed_image(OWNER, REGION, "tagged", kms_key=None, tags={"team": "platform"})
    aws(OWNER, "ec2").modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": TARGET}]})
    assert aws(OWNER, "ec2").describe_images(ImageIds=[image])["Images"][0]["Tags"] == [
        {"Key": "team", "Value": "platform"}
    ]
    assert "Tags" not in aws(TARGET, "ec2").describe_images(ImageIds=[image])["Images"][0]


def test_rule_snapshots_visible_through_create_volume_permission(sb: Sandbox, aws: Clients) -> None:
    image = _unencrypted(sb)
    owner = aws(OWNER, "ec2")
    snapshot = owner.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    target = aws(TARGET, "ec2")
    assert error_of(target.describe_snapshots, SnapshotIds=[snapshot])["Code"] == "InvalidSnapshot.NotFound"
    owner.modify_snapshot_attribute(SnapshotId=snapshot, CreateVolumePermission={"Add": [{"UserId": TARGET}]})
    assert target.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["OwnerId"] == OWNER
    ids = lambda **kw: {s["SnapshotId"] for s in target.describe_snapshots(**kw)["Snapshots"]}  # noqa: E731
    assert snapshot in ids(RestorableByUserIds=["self"])
    assert snapshot in ids(RestorableByUserIds=[TARGET])
    assert snapshot in ids(OwnerIds=[OWNER])
    assert snapshot not in ids(OwnerIds=["self"])
    assert snapshot not in {s["SnapshotId"] for s in aws(OTHER, "ec2").describe_snapshots()["Snapshots"]}
    assert snapshot not in {s["SnapshotId"] for s in owner.describe_snapshots(RestorableByUserIds=[OTHER])["Snapshots"]}


def test_rule_public_snapshot_is_visible_to_everyone(sb: Sandbox, aws: Clients) -> None:
    image = _unencrypted(sb)
    owner = aws(OWNER, "ec2")
    snapshot = owner.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    owner.modify_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission", OperationType="add", GroupNames=["all"]
    )
    assert aws(OTHER, "ec2").describe_snapshots(SnapshotIds=[snapshot])["Snapshots"]
    assert snapshot in {
        s["SnapshotId"] for s in aws(OTHER, "ec2").describe_snapshots(RestorableByUserIds=["all"])["Snapshots"]
    }


def test_rule_describe_images_filters_and_pagination(sb: Sandbox, aws: Clients) -> None:
    ids = [sb.seed_image(OWNER, REGION, f"img-{n:02d}", kms_key=None, tags={"n": str(n)}) for n in range(7)]
    ec2 = aws(OWNER, "ec2")
    named = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": ["img-0?"]}])["Images"]
    assert len(named) == 7
    tagged = ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:n", "Values": ["3", "5"]}])["Images"]
    assert {i["ImageId"] for i in tagged} == {ids[3], ids[5]}
    pages = ec2.get_paginator("describe_images").paginate(Owners=["self"], PaginationConfig={"PageSize": 5})
    assert sorted(i["ImageId"] for page in pages for i in page["Images"]) == sorted(ids)
    assert error_of(ec2.describe_images, Filters=[{"Name": "no-such-filter", "Values": ["x"]}])["Code"] == (
        "InvalidParameterValue"
    )


def test_rule_restorable_by_self_includes_the_owner_s_own_snapshots(sb: Sandbox, aws: Clients) -> None:
    """The owner can always create volumes from its snapshots: RestorableByUserIds=self lists them too
    (DescribeSnapshots API reference: "RestorableByUserIds: the accounts that can create volumes")."""
    image = _unencrypted(sb)
    owner = aws(OWNER, "ec2")
    snapshot = owner.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    assert snapshot in {s["SnapshotId"] for s in owner.describe_snapshots(RestorableByUserIds=["self"])["Snapshots"]}
    assert snapshot in {s["SnapshotId"] for s in owner.describe_snapshots(RestorableByUserIds=[OWNER])["Snapshots"]}


def test_rule_creation_date_and_start_time_filters(sb: Sandbox, aws: Clients) -> None:
    image = _unencrypted(sb)
    owner = aws(OWNER, "ec2")
    (described,) = owner.describe_images(ImageIds=[image])["Images"]
    day = described["CreationDate"][:10]
    by_day = owner.describe_images(Owners=["self"], Filters=[{"Name": "creation-date", "Values": [f"{day}T*"]}])
    assert image in {i["ImageId"] for i in by_day["Images"]}
    assert (
        owner.describe_images(Owners=["self"], Filters=[{"Name": "creation-date", "Values": ["2001-*"]}])["Images"]
        == []
    )
    snapshots = owner.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "start-time", "Values": [f"{day}*"]}])
    assert described["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"] in {s["SnapshotId"] for s in snapshots["Snapshots"]}
