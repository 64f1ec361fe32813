"""transfer --to an organization or OU: expanded into its active member accounts (nested OUs included,
suspended accounts and --exclude left out) when the plan is made, and listed in the plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from amishare import api
from amishare.errors import PlanRefused, UsageError
from amishare.sandbox import Sandbox
from tests.support.world import OTHER, OWNER, REGION, TARGET, mutating_calls

THIRD, FOURTH, OUTSIDE = "555555555555", "666666666666", "777777777777"


@pytest.fixture
def org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    with Sandbox(copy_seconds_per_gib=0.01) as sb:
        sb.reset()
        sb.create_key(OWNER, REGION, alias="amishare-share")
        org_arn, ous = sb.create_organization(
            OWNER, {"workloads": [TARGET], "workloads/prod": [OTHER, THIRD], "sandbox": [FOURTH]}
        )
        for account in (TARGET, OTHER, THIRD, FOURTH, OUTSIDE):
            sb.create_role(account, "AmiShareRole", trusted_account=OWNER)
            sb.create_key(account, REGION, alias="mine")
        (tmp_path / "amishare.toml").write_text(
            f'[defaults]\nregion = "{REGION}"\nshare_key = "alias/amishare-share"\nrole_name = "AmiShareRole"\n'
            f'endpoint_url = "{sb.endpoint_url}"\njournal = "{tmp_path / "journal.sqlite3"}"\n'
            f'[transfer]\ndest_key = "alias/mine"\n'
        )
        for name, value in sb.credentials(OWNER).items():
            monkeypatch.setenv(name, value)
        image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key="aws/ebs")
        yield sb, image, org_arn, ous, api.settings(cwd=tmp_path)


def _destinations(plan: Any) -> set[str]:
    return {a.account for a in plan.actions if a.kind.value == "CopyToDestination"}


@pytest.mark.slow
def test_an_ou_expands_to_its_active_members_nested_ous_included(org: Any) -> None:
    sb, image, _, ous, settings = org
    sb.session(OWNER).client("organizations").close_account(AccountId=THIRD)
    request = api.TransferRequest(image, (ous["workloads"],), source=OWNER)
    planned = api.transfer(settings, request, dry_run=True)
    assert _destinations(planned.plan) == {TARGET, OTHER}  # THIRD is suspended, FOURTH in another OU
    note = next(n for n in planned.plan.notes if ous["workloads"] in n)
    assert TARGET in note and OTHER in note and "1 suspended or closing" in note
    outcome = api.transfer(settings, request)
    assert outcome.result is not None and outcome.result.status == "succeeded"


def test_the_organization_expands_to_every_active_account_but_the_source_and_the_excluded(org: Any) -> None:
    sb, image, org_arn, _, settings = org
    sb.clear_calls()
    request = api.TransferRequest(image, (org_arn,), source=OWNER, exclude=(FOURTH,))
    planned = api.transfer(settings, request, dry_run=True)
    assert _destinations(planned.plan) == {TARGET, OTHER, THIRD}
    assert any("1 excluded (--exclude)" in n and "the source" in n for n in planned.plan.notes)
    assert mutating_calls(sb) == []


@pytest.mark.slow
def test_accounts_and_ous_together_are_each_one_destination(org: Any) -> None:
    _, image, _, ous, settings = org
    request = api.TransferRequest(image, (ous["workloads/prod"], OTHER, OUTSIDE), source=OWNER)
    assert _destinations(api.transfer(settings, request, dry_run=True).plan) == {OTHER, THIRD, OUTSIDE}


def test_expanding_needs_the_management_account(org: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sb, _, _, ous, settings = org
    for name, value in sb.credentials(TARGET).items():
        monkeypatch.setenv(name, value)
    mine = sb.seed_image(TARGET, REGION, "theirs", volumes_gib=[8], kms_key=None)
    sb.create_key(TARGET, REGION, alias="amishare-share")
    request = api.TransferRequest(mine, (ous["sandbox"],), source=TARGET)
    with pytest.raises(PlanRefused, match="management account"):
        api.transfer(api.settings(cwd=settings.config.path.parent), request, dry_run=True)


def test_bad_excludes_and_public_are_refused(org: Any) -> None:
    _, image, org_arn, ous, settings = org
    with pytest.raises(UsageError, match="--exclude"):
        api.transfer(settings, api.TransferRequest(image, (org_arn,), source=OWNER, exclude=(ous["sandbox"],)))
    with pytest.raises(UsageError, match="public"):
        api.transfer(settings, api.TransferRequest(image, ("public",), source=OWNER))
    with pytest.raises(UsageError, match="no destination left"):
        api.transfer(settings, api.TransferRequest(image, (ous["sandbox"],), source=OWNER, exclude=(FOURTH,)))
