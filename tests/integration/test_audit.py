"""amishare audit through the sandbox: a seeded estate of 3 accounts x 2 regions holds every finding code,
exactly where it was planted; a clean estate (shares that open all three gates, within the organization,
image block public access on) has none; every output format carries the same findings."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from amishare.checks.audit import CODES
from amishare.cli.main import cli
from amishare.policy import key_policy
from amishare.sandbox import Sandbox
from tests.support.world import OTHER, OWNER, REGION, REGION2, TARGET, Clients, mutating_calls, share_by_hand

STRANGER = "444444444444"  # in no organization amishare knows, and not allowed
REGIONS = (REGION, REGION2)
ACCOUNTS = (OWNER, TARGET, OTHER)


def _admin(account: str) -> dict[str, Any]:
    return {
        "Sid": "Admin",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }


def _key(sb: Sandbox, account: str, region: str, *admits: str, extra: tuple[dict[str, Any], ...] = ()) -> str:
    statements = [_admin(account)]
    if admits:
        statements += key_policy.statements_for(region, key_policy.KeyAccess(accounts=frozenset(admits)))
    return sb.create_key(account, region, policy={"Version": "2012-10-17", "Statement": [*statements, *extra]})


class Estate:
    def __init__(self, sb: Sandbox, aws: Clients, tmp_path: Path) -> None:
        self.sb, self.aws, self.tmp_path = sb, aws, tmp_path
        sb.create_organization(OWNER, members={"": [TARGET, OTHER]})
        for account in (TARGET, OTHER):
            sb.create_role(account, "AuditRole", trusted_account=OWNER)
        (tmp_path / "amishare.toml").write_text('[defaults]\nrole_name = "AuditRole"\n')

    def block_public_access(self, *, except_in: tuple[str, str] | None = None) -> None:
        for account in ACCOUNTS:
            for region in REGIONS:
                if (account, region) != except_in:
                    self.aws(account, "ec2", region).enable_image_block_public_access(
                        ImageBlockPublicAccessState="block-new-sharing"
                    )

    def audit(self, *args: str) -> tuple[int, str]:
        """Exit code and standard output (what a pipe gets; errors go to stderr)."""
        env: dict[str, Any] = {**self.sb.credentials(OWNER), "AWS_REGION": REGION}
        env["AWS_ENDPOINT_URL"] = self.sb.endpoint_url
        env["AMISHARE_JOURNAL"] = str(self.tmp_path / "journal.sqlite3")
        result = CliRunner().invoke(
            cli,
            ["audit", "--config", str(self.tmp_path / "amishare.toml"), "--org", "--regions", ",".join(REGIONS), *args],
            env=env,
        )
        return result.exit_code, result.stdout


@pytest.fixture
def estate(sb: Sandbox, aws: Clients, tmp_path: Path) -> Estate:
    return Estate(sb, aws, tmp_path)


def _snapshots(aws: Clients, account: str, region: str, image: str) -> list[str]:
    mappings = aws(account, "ec2", region).describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"]
    return [m["Ebs"]["SnapshotId"] for m in mappings]


def _seed_findings(sb: Sandbox, aws: Clients, estate: Estate) -> set[tuple[str, str, str]]:
    """Plant every finding code; return (code, account, region) of each finding expected."""
    owner1, owner2 = aws(OWNER, "ec2", REGION), aws(OWNER, "ec2", REGION2)
    # OWNER us-east-1: a public unencrypted image, and a public snapshot left behind by a deregistered image.
    public = sb.seed_image(OWNER, REGION, "public", kms_key=None)
    owner1.modify_image_attribute(ImageId=public, LaunchPermission={"Add": [{"Group": "all"}]})
    orphan = sb.seed_image(OWNER, REGION, "orphan", kms_key=None)
    (left,) = _snapshots(aws, OWNER, REGION, orphan)
    owner1.deregister_image(ImageId=orphan)
    owner1.modify_snapshot_attribute(
        SnapshotId=left, Attribute="createVolumePermission", OperationType="add", GroupNames=["all"]
    )
    # OWNER eu-west-1: an image shared through all three gates with an account outside the organization.
    outside = sb.seed_image(OWNER, REGION2, "outside", kms_key=_key(sb, OWNER, REGION2, STRANGER))
    share_by_hand(owner2, outside, STRANGER)
    # TARGET us-east-1: a key that admits OTHER (no image shared with it), and an unscoped statement for OWNER.
    unscoped = {
        "Sid": "OwnerUsesIt",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{OWNER}:root"},
        "Action": ["kms:Decrypt", "kms:DescribeKey"],
        "Resource": "*",
    }
    key = _key(sb, TARGET, REGION, OTHER, extra=(unscoped,))
    sb.seed_image(TARGET, REGION, "keyed", kms_key=key)
    # TARGET eu-west-1: a launch permission alone on an encrypted image (no snapshots, no key access).
    lonely = sb.seed_image(TARGET, REGION2, "lonely", kms_key=_key(sb, TARGET, REGION2))
    aws(TARGET, "ec2", REGION2).modify_image_attribute(ImageId=lonely, LaunchPermission={"Add": [{"UserId": OTHER}]})
    # OTHER us-east-1: a snapshot shared with TARGET while its image is not.
    kept = sb.seed_image(OTHER, REGION, "kept", kms_key=None)
    aws(OTHER, "ec2").modify_snapshot_attribute(
        SnapshotId=_snapshots(aws, OTHER, REGION, kept)[0],
        Attribute="createVolumePermission",
        OperationType="add",
        UserIds=[TARGET],
    )
    # OTHER eu-west-1: image block public access left off.
    estate.block_public_access(except_in=(OTHER, REGION2))
    return {
        ("PUBLIC_IMAGE", OWNER, REGION),
        ("UNENCRYPTED_SHARED", OWNER, REGION),  # the public image and the public snapshot
        ("PUBLIC_SNAPSHOT", OWNER, REGION),
        ("OUTSIDE_ALLOWLIST", OWNER, REGION2),  # launch, snapshot and key, all for STRANGER
        ("KEY_ACCESS_WITHOUT_SHARE", TARGET, REGION),  # OTHER, and OWNER through the unscoped statement
        ("KEY_ACCESS_UNSCOPED", TARGET, REGION),
        ("SHARE_UNUSABLE", TARGET, REGION2),
        ("SNAPSHOT_SHARED_WITHOUT_IMAGE", OTHER, REGION),
        ("UNENCRYPTED_SHARED", OTHER, REGION),  # the shared snapshot is not encrypted
        ("IMAGE_BPA_OFF", OTHER, REGION2),
    }


def test_a_seeded_estate_holds_every_finding_code_where_it_was_planted(
    sb: Sandbox, aws: Clients, estate: Estate
) -> None:
    expected = _seed_findings(sb, aws, estate)
    sb.clear_calls()
    exit_code, output = estate.audit("--output", "json")
    assert exit_code == 0, output
    report = json.loads(output)
    found = {(f["code"], f["account"], f["region"]) for f in report["findings"]}
    assert found == expected, json.dumps(report["findings"], indent=1)
    assert {f["code"] for f in report["findings"]} == set(CODES)
    assert report["scanned"]["accounts"] == 3 and report["scanned"]["regions"] == 2
    assert report["errors"] == []
    assert mutating_calls(sb) == []
    outside = [f for f in report["findings"] if f["code"] == "OUTSIDE_ALLOWLIST"]
    assert {f["principal"] for f in outside} == {STRANGER}
    assert len(outside) == 3  # launch permission, snapshot permission, key policy
    assert all(f["fix"] and f["detail"] for f in report["findings"])
    unencrypted = {(f["account"], f["principal"]) for f in report["findings"] if f["code"] == "UNENCRYPTED_SHARED"}
    assert unencrypted == {(OWNER, "public"), (OTHER, TARGET)}  # whom each is shared with (issue 19)


@pytest.mark.slow
def test_allowing_the_stranger_silences_its_findings(sb: Sandbox, aws: Clients, estate: Estate) -> None:
    _seed_findings(sb, aws, estate)
    _, output = estate.audit("--output", "json", "--allow", STRANGER)
    assert "OUTSIDE_ALLOWLIST" not in {f["code"] for f in json.loads(output)["findings"]}


@pytest.mark.slow
def test_a_clean_estate_has_no_finding(sb: Sandbox, aws: Clients, estate: Estate) -> None:
    for account, region, to in ((OWNER, REGION, TARGET), (TARGET, REGION2, OTHER), (OTHER, REGION, OWNER)):
        image = sb.seed_image(account, region, f"golden-{account}", kms_key=_key(sb, account, region, to))
        share_by_hand(aws(account, "ec2", region), image, to)
    sb.seed_image(OWNER, REGION2, "private", kms_key="aws/ebs")
    estate.block_public_access()
    exit_code, output = estate.audit("--output", "json")
    assert exit_code == 0, output
    report = json.loads(output)
    assert report["findings"] == [], json.dumps(report["findings"], indent=1)
    assert report["scanned"]["images"] == 4
    cells = [cell for row in report["matrix"] for cell in row["principals"].values()]
    assert len(cells) == 3 and all(c["open"] == c["of"] == 3 for c in cells)


@pytest.mark.slow
def test_every_output_format_carries_the_findings(sb: Sandbox, aws: Clients, estate: Estate, tmp_path: Path) -> None:
    expected = _seed_findings(sb, aws, estate)
    codes = {code for code, _, _ in expected}
    _, text = estate.audit()
    assert all(code in text for code in codes) and "fix:" in text
    _, table = estate.audit("--output", "table")
    assert table.splitlines()[0].split()[:2] == ["code", "severity"] and all(code in table for code in codes)
    _, rows = estate.audit("--output", "csv")
    parsed = list(csv.DictReader(io.StringIO(rows)))
    assert {(r["code"], r["account"], r["region"]) for r in parsed} == expected
    report_file = tmp_path / "audit.html"
    _, html = estate.audit("--output", "html", "--report", str(report_file))
    assert html.startswith("<!doctype html>") and all(code in html for code in codes)
    assert report_file.read_text() == html
    assert "<script" not in html and "http" not in html.replace("http://www.w3.org", "")  # self-contained
    (tmp_path / "audit.csv").unlink(missing_ok=True)
    estate.audit("--report", str(tmp_path / "audit.csv"))
    assert (tmp_path / "audit.csv").read_text() == rows


@pytest.mark.slow
def test_an_account_whose_role_cannot_be_assumed_is_reported_and_the_rest_is_read(
    sb: Sandbox, aws: Clients, estate: Estate
) -> None:
    (estate.tmp_path / "amishare.toml").write_text('[defaults]\nrole_name = "NoSuchRole"\n')
    estate.block_public_access()
    exit_code, output = estate.audit("--output", "json")
    assert exit_code == 17  # fails closed: what could not be read is not vouched for
    report = json.loads(output)
    assert len(report["errors"]) == 4 and all("NoSuchRole" in e or "AssumeRole" in e for e in report["errors"])
    assert report["scanned"]["accounts"] == 1


@pytest.mark.slow
def test_fail_on_gates_a_pipeline_on_the_severity_asked(sb: Sandbox, aws: Clients, estate: Estate) -> None:
    _seed_findings(sb, aws, estate)
    assert estate.audit("--fail-on", "critical", "--output", "json")[0] == 14  # PUBLIC_IMAGE
    estate.aws(OWNER, "ec2").modify_image_attribute(
        ImageId=next(
            i["ImageId"] for i in aws(OWNER, "ec2").describe_images(Owners=["self"])["Images"] if i["Name"] == "public"
        ),
        LaunchPermission={"Remove": [{"Group": "all"}]},
    )
    for snapshot in aws(OWNER, "ec2").describe_snapshots(OwnerIds=["self"])["Snapshots"]:
        aws(OWNER, "ec2").modify_snapshot_attribute(
            SnapshotId=snapshot["SnapshotId"],
            Attribute="createVolumePermission",
            OperationType="remove",
            GroupNames=["all"],
        )
    assert estate.audit("--fail-on", "critical")[0] == 0
    assert estate.audit("--fail-on", "high")[0] == 14


def test_an_audit_that_could_not_read_the_account_asked_fails_closed(sb: Sandbox, aws: Clients, estate: Estate) -> None:
    """Issue 19: ``--accounts outsider --fail-on low`` with no role amishare can assume there read nothing; it
    must not pass the gate (exit 17), and the text says how many accounts could not be read."""
    (estate.tmp_path / "amishare.toml").write_text(f'[accounts.outsider]\nid = "{STRANGER}"\nrole = "AuditRole"\n')
    env: dict[str, Any] = {**sb.credentials(OWNER), "AWS_REGION": REGION, "AWS_ENDPOINT_URL": sb.endpoint_url}
    env["AMISHARE_JOURNAL"] = str(estate.tmp_path / "journal.sqlite3")
    config = ["audit", "--config", str(estate.tmp_path / "amishare.toml"), "--accounts", "outsider"]
    gate = CliRunner().invoke(cli, [*config, "--fail-on", "low"], env=env)
    assert gate.exit_code == 17, gate.output
    assert "1 account(s) could not be read (444444444444)" in gate.output
    # without --fail-on too: an audit that could not read what it was asked to read does not pass
    text = CliRunner().invoke(cli, config, env=env)
    assert text.exit_code == 17 and "NOT READ: 1 account asked for could not be read" in text.output
    as_json = CliRunner().invoke(cli, [*config, "--output", "json"], env=env)
    assert as_json.exit_code == 17
    report = json.loads(as_json.stdout)
    assert report["unread"] == [{"account": STRANGER, "region": REGION}] and report["scanned"]["accounts"] == 0
    assert "1 account(s) could not be read (444444444444)" in as_json.stderr
    assert mutating_calls(sb) == []


def test_naming_an_account_in_the_config_does_not_allow_it(sb: Sandbox, aws: Clients, estate: Estate) -> None:
    """Issue 19: an account named in amishare.toml (to use its name) was silently allowed, and a HIGH
    OUTSIDE_ALLOWLIST disappeared. Allowing is explicit: ``--allow`` (ids or config names) or ``[audit] allow``,
    which ``--allow`` replaces."""
    image = sb.seed_image(OWNER, REGION, "outside", kms_key=_key(sb, OWNER, REGION, STRANGER))
    share_by_hand(aws(OWNER, "ec2"), image, STRANGER)
    config = estate.tmp_path / "amishare.toml"
    config.write_text(f'[defaults]\nrole_name = "AuditRole"\n[accounts.stranger]\nid = "{STRANGER}"\n')

    def outside(*args: str) -> tuple[int, set[str]]:
        code, output = estate.audit("--output", "json", *args)
        found = json.loads(output)["findings"]
        return code, {f["principal"] for f in found if f["code"] == "OUTSIDE_ALLOWLIST"}

    assert outside() == (0, {STRANGER})
    assert outside("--allow", "stranger") == (0, set())
    config.write_text(config.read_text() + '[audit]\nallow = ["stranger"]\n')
    assert outside() == (0, set())
    assert outside("--allow", OTHER) == (0, {STRANGER})  # --allow replaces [audit] allow, as flags replace keys
