"""A manifest converged through the sandbox (issue 17): an OU group with one account excluded, a named group, two
regions, a share distribution and a transfer distribution with an SSM parameter. One ``apply`` converges; a second
plan is empty and the second apply makes no mutating call; drift is empty. Then the estate drifts (a hand-made
share to an outsider, a deleted parameter, a removed snapshot permission) and drift names each; apply restores
what is missing and leaves the outsider's share alone; removals are held without prune and bounded with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from amishare import api
from amishare.api.converge import ConvergeRequest, apply_manifest, plan_manifest
from amishare.errors import PlanRefused
from amishare.sandbox import Sandbox
from tests.support.manifests import build_manifest, distribute, family
from tests.support.world import OTHER, OWNER, REGION, REGION2, TARGET, mutating_calls, seed_destinations, share_by_hand

PROD1, PROD2, PROD3, OUTSIDER = "555555555555", "666666666666", "777777777777", "888888888888"
PARAMETER = "/golden/al2023/latest"
POINTER = "/platform/ami/al2023"


def manifest_text(
    ou: str, *, prune: bool = False, max_removals: int = 25, nonprod: str = '"dev", "qa"', retention: str = ""
) -> str:
    return f"""\
version = 1
[defaults]
source = "{OWNER}"
regions = ["{REGION}", "{REGION2}"]
[targets]
prod    = {{ ous = ["{ou}"], exclude = ["{PROD3}"] }}
nonprod = {{ accounts = [{nonprod}] }}
[[image]]
family = "al2023-base"
select = {{ ssm_parameter = "{PARAMETER}" }}
versions = 2
  [[image.distribute]]
  to = ["nonprod"]
  mode = "share"
  [[image.distribute]]
  to = ["prod"]
  mode = "transfer"
  ssm_parameter = "{POINTER}"
{retention}
[safety]
prune = {str(prune).lower()}
max_removals = {max_removals}
"""


@pytest.fixture
def estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    with Sandbox(copy_seconds_per_gib=0.01) as sb:
        sb.reset()
        seed_destinations(sb, (TARGET, OTHER, PROD1, PROD2, PROD3))
        _, ous = sb.create_organization(OWNER, {"prod": [PROD1, PROD2, PROD3], "dev": [TARGET, OTHER]})
        (tmp_path / "amishare.toml").write_text(
            f'[defaults]\nregion = "{REGION}"\nshare_key = "alias/amishare-share"\nrole_name = "AmiShareRole"\n'
            f'endpoint_url = "{sb.endpoint_url}"\njournal = "{tmp_path / "journal.sqlite3"}"\n'
            f'[transfer]\ndest_key = "alias/mine"\n'
            f'[accounts.dev]\nid = "{TARGET}"\n[accounts.qa]\nid = "{OTHER}"\n'
        )
        for name, value in sb.credentials(OWNER).items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        image = sb.seed_image(OWNER, REGION, "golden-al2023-1", volumes_gib=[8], kms_key="alias/amishare-share")
        ssm = sb.session(OWNER, REGION).client("ssm")
        ssm.put_parameter(Name=PARAMETER, Value=image, Type="String", DataType="aws:ec2:image")
        manifest = tmp_path / "estate.toml"
        manifest.write_text(manifest_text(ous["prod"]))
        yield sb, image, ous["prod"], manifest, api.settings(cwd=tmp_path)


def _kinds(plan: Any) -> list[str]:
    return sorted({a.kind.value for a in plan.actions})


@pytest.mark.slow
def test_one_apply_converges_and_the_second_changes_nothing(estate: Any) -> None:
    sb, image, _, manifest, settings = estate
    request = ConvergeRequest(str(manifest))
    sb.clear_calls()
    planned = plan_manifest(settings, request)
    assert mutating_calls(sb) == []
    assert planned.plan.changes
    assert any(f"ssm:{PARAMETER} v1 -> {image}" in n for n in planned.plan.notes)
    copies = {(a.account, a.region) for a in planned.plan.actions if a.kind.value == "CopyToDestination"}
    assert copies == {(a, r) for a in (PROD1, PROD2) for r in (REGION, REGION2)}  # PROD3 excluded
    codes = {(f.code, f.account, f.region) for f in planned.drift}
    assert ("missing-share", TARGET, REGION) in codes and ("missing-share", OTHER, REGION2) in codes
    assert ("missing-copy", PROD1, REGION2) in codes and ("missing-copy", OWNER, REGION2) in codes  # regional copy

    _, outcome = apply_manifest(settings, request)
    assert outcome.result is not None and outcome.result.status == "succeeded", outcome.result

    sb.clear_calls()
    again = plan_manifest(settings, request)
    assert again.plan.actions == () and again.drift == ()
    _, second = apply_manifest(settings, request)
    assert second.result is None and mutating_calls(sb) == []

    for account in (TARGET, OTHER):  # both regions usable by the named group: the image, then its regional copy
        for region in (REGION, REGION2):
            seen = sb.session(account, region).client("ec2").describe_images(ExecutableUsers=["self"])["Images"]
            assert seen, (account, region)
    for account in (PROD1, PROD2):
        value = sb.session(account, REGION2).client("ssm").get_parameter(Name=POINTER)["Parameter"]["Value"]
        owned = sb.session(account, REGION2).client("ec2").describe_images(Owners=["self"])["Images"]
        assert [i["ImageId"] for i in owned] == [value]
    assert sb.session(PROD3).client("ec2").describe_images(Owners=["self"])["Images"] == []


@pytest.mark.slow
def test_drift_names_each_difference_and_apply_restores_only_what_amishare_owns(estate: Any) -> None:
    sb, image, ou, manifest, settings = estate
    request = ConvergeRequest(str(manifest))
    apply_manifest(settings, request)
    owner = sb.session(OWNER).client("ec2")
    share_by_hand(owner, image, OUTSIDER)
    sb.session(PROD1, REGION).client("ssm").delete_parameter(Name=POINTER)
    snapshot = owner.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    owner.modify_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission", OperationType="remove", UserIds=[TARGET]
    )

    drift = plan_manifest(settings, request).drift
    found = {(f.code, f.account, f.region) for f in drift}
    assert found == {
        ("unmanaged-share", OUTSIDER, REGION),
        ("stale-parameter", PROD1, REGION),
        ("missing-share", TARGET, REGION),
    }

    _, outcome = apply_manifest(settings, request)
    assert outcome.result is not None and outcome.result.status == "succeeded"
    after = plan_manifest(settings, request)
    assert after.plan.actions == ()
    assert {(f.code, f.account) for f in after.drift} == {("unmanaged-share", OUTSIDER)}
    launch = owner.describe_image_attribute(ImageId=image, Attribute="launchPermission")["LaunchPermissions"]
    assert OUTSIDER in {p["UserId"] for p in launch}

    # qa leaves the manifest: its access (amishare's key statement proves amishare made it) is extra
    manifest.write_text(manifest_text(ou, nonprod='"dev"'))
    held = plan_manifest(settings, request)
    assert held.plan.actions == () and held.held == 2  # its share in both regions, held: prune is false
    assert {(f.code, f.account) for f in held.drift} >= {("extra-share", OTHER)}

    manifest.write_text(manifest_text(ou, nonprod='"dev"', prune=True, max_removals=1))
    sb.clear_calls()
    with pytest.raises(PlanRefused, match="max_removals = 1"):
        apply_manifest(settings, request)
    assert mutating_calls(sb) == []

    manifest.write_text(manifest_text(ou, nonprod='"dev"', prune=True))
    _, pruned = apply_manifest(settings, request)
    assert pruned.result is not None and pruned.result.status == "succeeded"
    assert sb.session(OTHER).client("ec2").describe_images(ExecutableUsers=["self"])["Images"] == []
    final = plan_manifest(settings, request)
    assert final.plan.actions == () and {f.code for f in final.drift} == {"unmanaged-share"}


@pytest.mark.slow
def test_the_command_line_plans_saves_applies_and_reports_drift(estate: Any, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from amishare.cli.main import cli

    sb, image, _, manifest, _ = estate
    runner = CliRunner()
    saved = tmp_path / "plan.json"

    def run(*args: str) -> Any:
        return runner.invoke(cli, list(args), catch_exceptions=False)

    planned = run("plan", "-f", str(manifest), "--detailed-exitcode", "--out", str(saved))
    assert planned.exit_code == 16, planned.output
    assert f"resolved al2023-base: ssm:{PARAMETER} v1 -> {image}" in planned.output
    assert f"amishare apply {saved}" in planned.output
    assert json.loads(saved.read_text())["schema"] == "amishare.plan/1"

    drifted = run("drift", "-f", str(manifest), "--output", "json")
    assert drifted.exit_code == 15
    document = json.loads(drifted.stdout)
    assert (
        document["schema"] == "amishare.drift/1" and document["summary"]["missing-copy"] == 5
    )  # 2 prod accounts x 2 regions, 1 regional copy

    applied = run("apply", str(saved), "--yes")
    assert applied.exit_code == 0, applied.output
    assert run("plan", "-f", str(manifest), "--detailed-exitcode").exit_code == 0
    again = run("apply", "-f", str(manifest), "--yes")
    assert again.exit_code == 0 and "No changes: the estate is as the manifest declares." in again.output
    clean = run("drift", "-f", str(manifest))
    assert clean.exit_code == 0 and "No drift" in clean.output

    # a saved plan is refused once the facts it was made from moved: a new version of the parameter
    run("plan", "-f", str(manifest), "--out", str(saved))
    newer = sb.seed_image(OWNER, REGION, "golden-al2023-2", volumes_gib=[8], kms_key="alias/amishare-share")
    sb.session(OWNER, REGION).client("ssm").put_parameter(
        Name=PARAMETER, Value=newer, Type="String", DataType="aws:ec2:image", Overwrite=True
    )
    sb.clear_calls()
    refused = run("apply", str(saved), "--yes")
    assert refused.exit_code == 9
    assert f"family al2023-base versions were ['{image}'], are ['{newer}', '{image}']" in refused.output
    assert mutating_calls(sb) == []


def _publish(sb: Sandbox, name: str) -> str:
    image = sb.seed_image(OWNER, REGION, name, volumes_gib=[8], kms_key="alias/amishare-share")
    sb.session(OWNER, REGION).client("ssm").put_parameter(
        Name=PARAMETER, Value=image, Type="String", DataType="aws:ec2:image", Overwrite=True
    )
    return image


def _launchable(sb: Sandbox, account: str, region: str) -> set[str]:
    """The versions ``account`` can launch in ``region``: a regional copy counts as the version it copies (its
    lineage tag, read from the owner's side: a consumer does not see the owner's tags)."""
    mine = sb.session(OWNER, region).client("ec2").describe_images(Owners=["self"])["Images"]
    version = {i["ImageId"]: {t["Key"]: t["Value"] for t in i.get("Tags", [])} for i in mine}
    images = sb.session(account, region).client("ec2").describe_images(ExecutableUsers=["self"])["Images"]
    return {version[i["ImageId"]].get("amishare:source-image", i["ImageId"]) for i in images}


def _owned_sources(sb: Sandbox, account: str, region: str) -> dict[str, dict[str, str]]:
    images = sb.session(account, region).client("ec2").describe_images(Owners=["self"])["Images"]
    return {
        {t["Key"]: t["Value"] for t in i.get("Tags", [])}["amishare:source-image"]: {
            "id": i["ImageId"],
            "deprecation": i.get("DeprecationTime", ""),
            **{t["Key"]: t["Value"] for t in i.get("Tags", [])},
        }
        for i in images
    }


@pytest.mark.slow
def test_new_versions_are_distributed_the_newest_two_stay_and_the_older_retire(estate: Any) -> None:
    sb, first, ou, manifest, settings = estate
    request = ConvergeRequest(str(manifest))
    retention = '[retention]\ndeprecate_after = "1s"\nderegister_after = "1s"'
    manifest.write_text(manifest_text(ou, retention=retention))
    apply_manifest(settings, request)

    second = _publish(sb, "golden-al2023-2")
    planned = plan_manifest(settings, request)
    assert any(f"ssm:{PARAMETER} v2 -> {second}; ssm:{PARAMETER} v1 -> {first}" in n for n in planned.plan.notes)
    _, outcome = apply_manifest(settings, request)
    assert outcome.result is not None and outcome.result.status == "succeeded"
    assert {first, second} <= _launchable(sb, TARGET, REGION) and {first, second} <= _launchable(sb, OTHER, REGION2)
    owned = _owned_sources(sb, PROD1, REGION2)
    assert set(owned) == {first, second}
    pointer = sb.session(PROD1, REGION2).client("ssm").get_parameter(Name=POINTER)["Parameter"]["Value"]
    assert pointer == owned[second]["id"]  # only the newest version moves the pointer
    assert plan_manifest(settings, request).plan.actions == ()

    third = _publish(sb, "golden-al2023-3")
    held = plan_manifest(settings, request)
    assert held.held > 0 and any("removal(s) held" in n for n in held.plan.notes)
    assert {f.code for f in held.drift if f.image == first} == {"extra-share", "retention-due"}
    apply_manifest(settings, request)  # the third distributed, the first's copies marked and deprecated
    owned = _owned_sources(sb, PROD1, REGION)
    assert set(owned) == {first, second, third}
    assert owned[first]["amishare:retired"] and owned[first]["deprecation"]
    assert "amishare:retired" not in owned[second]
    assert first in _launchable(sb, TARGET, REGION)  # withdrawn only with prune

    manifest.write_text(manifest_text(ou, retention=retention, prune=True))
    import time

    time.sleep(1.1)  # deregister_after = "1s" since the mark
    _, pruned = apply_manifest(settings, request)
    assert pruned.result is not None and pruned.result.status == "succeeded", pruned.result
    assert set(_owned_sources(sb, PROD1, REGION)) == {second, third}
    assert first not in _launchable(sb, TARGET, REGION) and first not in _launchable(sb, OTHER, REGION2)
    assert {second, third} <= _launchable(sb, TARGET, REGION)
    final = plan_manifest(settings, request)
    assert final.plan.actions == () and final.drift == ()


@pytest.mark.slow
def test_one_family_shared_and_another_transferred_to_the_same_account_on_one_key_converge_in_one_apply(
    estate: Any,
) -> None:
    """The transfer revokes the key access it opened once dev's copy is made; the share of the other family, in the
    same plan, gives dev that same key access: the revocation must not take it away (found by the benchmark)."""
    sb, image, _, manifest, settings = estate
    app = sb.seed_image(OWNER, REGION, "app-1", volumes_gib=[8], kms_key="alias/amishare-share")
    sb.session(OWNER, REGION).client("ssm").put_parameter(
        Name="/golden/app/latest", Value=app, Type="String", DataType="aws:ec2:image"
    )
    manifest.write_text(
        build_manifest(
            family("base", {"ssm_parameter": PARAMETER}, distribute(["dev"])),
            family("app", {"ssm_parameter": "/golden/app/latest"}, distribute(["dev"], "transfer")),
            source=OWNER,
            regions=[REGION, REGION2],
        )
    )
    request = ConvergeRequest(str(manifest))
    _, outcome = apply_manifest(settings, request)
    assert outcome.result is not None and outcome.result.status == "succeeded"
    again = plan_manifest(settings, request)
    assert again.plan.actions == () and again.drift == ()
    assert {image} <= _launchable(sb, TARGET, REGION)


@pytest.mark.slow
def test_import_writes_the_manifest_of_what_exists_and_its_plan_is_empty(estate: Any, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from amishare.cli.main import cli

    sb, _, ou, manifest, settings = estate
    apply_manifest(settings, ConvergeRequest(str(manifest)))
    imported = tmp_path / "imported.toml"
    sb.clear_calls()
    result = CliRunner().invoke(
        cli,
        [
            "manifest",
            "import",
            "--family",
            "al2023-base",
            "--ssm-parameter",
            PARAMETER,
            "--regions",
            REGION2,
            "--destinations",
            ou,
            "-o",
            str(imported),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert mutating_calls(sb) == []
    text = imported.read_text()
    assert 'to = ["dev", "qa"]\n  mode = "share"' in text
    assert f'to = ["{PROD1}", "{PROD2}"]\n  mode = "transfer"' in text
    again = plan_manifest(settings, ConvergeRequest(str(imported)))
    assert again.plan.actions == () and again.drift == ()


def test_one_apply_per_manifest_at_a_time_and_an_unknown_family_is_named(estate: Any) -> None:
    import subprocess
    import sys

    from amishare.errors import RunBusy, UsageError

    sb, _, _, manifest, settings = estate
    lock = f"manifest:{manifest.resolve()}"
    holding = (
        "import time; from pathlib import Path; from amishare.engine.lease import Leases; "
        f"leases = Leases(Path({str(settings.journal_path)!r})); leases.acquire({lock!r}); "
        "print('held', flush=True); time.sleep(60)"
    )
    other = subprocess.Popen([sys.executable, "-c", holding], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "held"
        sb.clear_calls()
        with pytest.raises(RunBusy, match="manifest:"):
            apply_manifest(settings, ConvergeRequest(str(manifest)))
        assert mutating_calls(sb) == []
    finally:
        other.kill()
        other.wait()
    with pytest.raises(UsageError, match=r"--family nosuch: .* has no such family \(it has: al2023-base\)"):
        plan_manifest(settings, ConvergeRequest(str(manifest), family="nosuch"))
