"""The clients of ``Sessions`` raise amishare's errors by themselves: named by the operation botocore reports,
the client's account and region; paginators included, and routed (assumed-role) clients' pages signed as their
account."""

from __future__ import annotations

from typing import Any

import pytest

from amishare.aws.session import Connection, Sessions
from amishare.errors import AccessDenied, NotFound
from amishare.model import RoleRef
from amishare.sandbox import Sandbox
from tests.support.world import OWNER, REGION, TARGET

MISSING_IMAGE = "ami-0123456789abcdef0"
MISSING_SNAPSHOT = "snap-0123456789abcdef0"


@pytest.fixture
def sessions(sb: Sandbox, builder: Any) -> Sessions:
    found = Sessions(Connection(region=REGION, endpoint_url=sb.endpoint_url))
    assert found.caller_account() == OWNER
    return found


def test_a_call_names_its_operation_account_and_region(sessions: Sessions) -> None:
    with pytest.raises(NotFound) as caught:
        sessions.client("ec2").describe_images(ImageIds=[MISSING_IMAGE])
    error = caught.value
    assert (error.operation, error.code, error.account, error.region) == (
        "DescribeImages",
        "InvalidAMIID.NotFound",
        OWNER,
        REGION,
    )
    assert str(error).startswith(f"DescribeImages failed in account {OWNER} {REGION}: InvalidAMIID.NotFound: ")
    assert MISSING_IMAGE in error.aws_message


def test_a_routed_client_pages_as_its_account_and_its_errors_name_it(sb: Sandbox, sessions: Sessions) -> None:
    theirs = sb.seed_image(TARGET, REGION, "theirs", kms_key=None)
    sb.seed_image(OWNER, REGION, "mine", kms_key=None)
    sessions.assume(RoleRef(TARGET, sb.create_role(TARGET, "AmiShareRole", trusted_account=OWNER)))
    ec2 = sessions.client("ec2", REGION, TARGET)
    pages = ec2.get_paginator("describe_images").paginate(Owners=["self"])
    assert [i["ImageId"] for page in pages for i in page["Images"]] == [theirs]
    with pytest.raises(NotFound) as caught:
        list(ec2.get_paginator("describe_snapshots").paginate(SnapshotIds=[MISSING_SNAPSHOT]))
    error = caught.value
    assert (error.operation, error.code, error.account) == ("DescribeSnapshots", "InvalidSnapshot.NotFound", TARGET)


def test_a_role_that_cannot_be_assumed_says_which_and_for_whom(sb: Sandbox, sessions: Sessions) -> None:
    role = sb.create_role(TARGET, "AmiShareRole", trusted_account=OWNER, external_id="right")
    with pytest.raises(AccessDenied) as caught:
        sessions.assume(RoleRef(TARGET, role, external_id="wrong"))
    assert caught.value.operation == "AssumeRole"
    assert caught.value.account == TARGET  # the role's account fails, not the caller's
    assert f"AssumeRole failed in account {TARGET}" in str(caught.value)
    assert str(caught.value).endswith(f"(while assuming {role} to act in account {TARGET})")
