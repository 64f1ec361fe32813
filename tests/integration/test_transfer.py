"""transfer: share -> copy -> re-encrypt -> revoke into several accounts and regions, through the sandbox,
with copies that take time (docs/aws-facts.md sections 2 to 4)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from amishare import api
from amishare.errors import PlanRefused, UsageError
from amishare.model import TAG_RUN, TAG_SOURCE_ACCOUNT, TAG_SOURCE_IMAGE, TAG_STAGING
from amishare.policy import key_policy
from amishare.sandbox import Sandbox
from tests.support.world import OTHER, OWNER, REGION, REGION2, TARGET, mutating_calls

THIRD = "555555555555"


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    with Sandbox(copy_seconds_per_gib=0.02) as sb:  # a 16 GiB snapshot copies in 0.32 s
        sb.reset()
        for region in (REGION, REGION2):
            sb.create_key(OWNER, region, alias="amishare-share")
        for account in (TARGET, OTHER, THIRD):
            sb.create_role(account, "AmiShareRole", trusted_account=OWNER, external_id="fleet-1")
            for region in (REGION, REGION2):
                sb.create_key(account, region, alias="mine")
        image = sb.seed_image(
            OWNER, REGION, "golden", volumes_gib=[8, 16], kms_key="aws/ebs", tags={"team": "platform"}
        )
        (tmp_path / "amishare.toml").write_text(
            "[defaults]\n"
            f'region = "{REGION}"\nshare_key = "alias/amishare-share"\nrole_name = "AmiShareRole"\n'
            f'endpoint_url = "{sb.endpoint_url}"\njournal = "{tmp_path / "journal.sqlite3"}"\n'
            + "".join(
                f'[accounts.{name}]\nid = "{account}"\nexternal_id = "fleet-1"\n'
                f'keys = {{ {REGION} = "alias/mine", {REGION2} = "alias/mine" }}\n'
                for name, account in (("dev", TARGET), ("qa", OTHER), ("prod", THIRD))
            )
        )
        for name, value in sb.credentials(OWNER).items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        yield sb, image, api.settings(cwd=tmp_path)


def _transfer(settings: Any, image: str, source: str | None, destinations: list[str], **options: Any) -> api.Outcome:
    """``api.transfer`` with the request's fields as keywords (the run's own options apart)."""
    hooks = {k: options.pop(k) for k in ("on_poll", "on_event", "confirm", "progress") if k in options}
    dry_run = options.pop("dry_run", False)
    request = api.TransferRequest(image, tuple(destinations), source=source, **options)
    return api.transfer(settings, request, dry_run=dry_run, hooks=api.Hooks(**hooks))


def _with_keys(settings: Any, account: str, keys: dict[str, str]) -> Any:
    """The settings after the config gives ``account`` these destination keys."""
    path = settings.config.path
    lines = path.read_text().splitlines()
    at = lines.index(f'id = "{account}"')
    table = ", ".join(f'{region} = "{key}"' for region, key in keys.items())
    lines[at + 2] = f"keys = {{ {table} }}"  # id, external_id, keys
    path.write_text("\n".join(lines) + "\n")
    return api.settings(cwd=path.parent)


FOREIGN = "444444444444"  # owns a key prod's copies use


def _foreign_key_policy(prod_may: list[str]) -> dict[str, Any]:
    """The policy of a key of FOREIGN's that lets prod (THIRD) do ``prod_may`` with it."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{FOREIGN}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{THIRD}:root"},
                "Action": prod_may,
                "Resource": "*",
            },
        ],
    }


def _owned(sb: Sandbox, account: str, region: str, **filters: Any) -> list[dict[str, Any]]:
    return list(sb.session(account, region).client("ec2").describe_images(Owners=["self"], **filters)["Images"])


@pytest.mark.slow
def test_transfer_gives_each_destination_its_own_copy_and_cleans_up(fleet: Any) -> None:
    sb, image, settings = fleet
    outcome = _transfer(settings, image, OWNER, ["dev", "qa", "prod"], regions=[REGION, REGION2])
    result = outcome.result
    assert result is not None
    assert result.status == "succeeded", [(r.key, r.error) for r in result.results if r.error]
    for account in (TARGET, OTHER, THIRD):
        for region in (REGION, REGION2):
            (copy,) = _owned(sb, account, region)
            mine = sb.session(account, region).client("kms").describe_key(KeyId="alias/mine")["KeyMetadata"]["Arn"]
            assert {m["Ebs"]["KmsKeyId"] for m in copy["BlockDeviceMappings"]} == {mine}
            tags = {t["Key"]: t["Value"] for t in copy["Tags"]}
            assert tags[TAG_SOURCE_ACCOUNT] == OWNER
            assert tags[TAG_SOURCE_IMAGE] == image
            assert tags[TAG_RUN] == result.run_id
            assert tags["team"] == "platform"  # the image's own tags, read in the source account
    for region in (REGION, REGION2):  # staging copies and their snapshots are gone
        assert _owned(sb, OWNER, region, Filters=[{"Name": f"tag:{TAG_STAGING}", "Values": ["true"]}]) == []
        snapshots = sb.session(OWNER, region).client("ec2").describe_snapshots(OwnerIds=["self"])["Snapshots"]
        assert all(s.get("Tags") is None or TAG_STAGING not in {t["Key"] for t in s["Tags"]} for s in snapshots)
        kms = sb.session(OWNER, region).client("kms")
        policy = json.loads(kms.get_key_policy(KeyId="alias/amishare-share", PolicyName="default")["Policy"])
        assert not any(key_policy.is_amishare(s) for s in policy["Statement"])  # the statements it added are gone
    assert len(_owned(sb, OWNER, REGION)) == 1  # the original image is untouched


@pytest.mark.slow
def test_one_destination_failing_does_not_stop_the_others(fleet: Any) -> None:
    sb, image, settings = fleet
    # a key the preflight can see (DescribeKey is allowed) but prod cannot encrypt with: only the copy finds out
    foreign = sb.create_key(FOREIGN, REGION, policy=_foreign_key_policy(["kms:DescribeKey"]))
    settings = _with_keys(settings, THIRD, {REGION: foreign})
    outcome = _transfer(settings, image, OWNER, ["dev", "prod"], regions=[REGION])
    result = outcome.result
    assert result is not None and result.status == "partial"
    from amishare.render.transfer import destination_rows

    rows = {r["account"]: r for r in destination_rows(result)}
    assert rows[TARGET]["state"] == "available" and rows[TARGET]["image_id"]
    assert rows[THIRD]["state"] == "failed"
    assert "Given key ID is not accessible" in rows[THIRD]["error"]
    assert "key policy" in rows[THIRD]["fix"]
    assert len(_owned(sb, TARGET, REGION)) == 1


@pytest.mark.slow
def test_every_destination_is_checked_before_the_first_change(fleet: Any) -> None:
    """Roles that cannot be assumed and keys that cannot be used, all reported at once, and nothing changed."""
    sb, image, settings = fleet
    sb.create_key(THIRD, REGION2, alias="retired")
    kms = sb.session(THIRD, REGION2).client("kms")
    kms.disable_key(KeyId=kms.describe_key(KeyId="alias/retired")["KeyMetadata"]["KeyId"])
    config = settings.config.path
    config.write_text(
        config.read_text()
        + '[accounts.typo]\nid = "666666666666"\nkeys = { us-east-1 = "alias/mine", eu-west-1 = "alias/mine" }\n'
        + '[accounts.norole]\nid = "777777777777"\nrole = "Missing"\n'
        + 'keys = { us-east-1 = "alias/mine", eu-west-1 = "alias/mine" }\n'
    )
    settings = _with_keys(settings, OTHER, {REGION: "alias/nope", REGION2: "alias/mine"})
    settings = _with_keys(settings, THIRD, {REGION: "alias/aws/ebs", REGION2: "alias/retired"})
    sb.clear_calls()
    for dry_run in (True, False):
        with pytest.raises(PlanRefused) as refused:
            _transfer(
                settings,
                image,
                OWNER,
                ["dev", "qa", "prod", "typo", "norole"],
                regions=[REGION, REGION2],
                dry_run=dry_run,
            )
        text = str(refused.value)
        assert "5 problem(s)" in text, text
        assert "typo (666666666666): cannot assume arn:aws:iam::666666666666:role/AmiShareRole" in text
        assert "norole (777777777777): cannot assume arn:aws:iam::777777777777:role/Missing" in text
        assert f"qa ({OTHER}) in {REGION}: key alias/nope" in text and "Create it" in text
        assert f"prod ({THIRD}) in {REGION}: key alias/aws/ebs is AWS managed" in text
        assert f"prod ({THIRD}) in {REGION2}: key alias/retired is Disabled" in text
    assert mutating_calls(sb) == []


@pytest.mark.slow
def test_a_destination_named_twice_is_one_destination(fleet: Any) -> None:
    _, image, settings = fleet
    plan = _transfer(settings, image, OWNER, ["dev", TARGET, " dev"], regions=[REGION], dry_run=True).plan
    assert [t.value for t in plan.targets] == [TARGET]
    assert sum(1 for a in plan.actions if a.kind.value == "CopyToDestination") == 1


@pytest.mark.slow
def test_transfer_polls_once_per_account_and_region_per_tick(fleet: Any) -> None:
    sb, image, settings = fleet
    ticks: list[tuple[str | None, str, int]] = []
    sb.clear_calls()
    outcome = _transfer(
        settings,
        image,
        OWNER,
        ["dev", "qa", "prod"],
        regions=[REGION, REGION2],
        on_poll=lambda account, region, images: ticks.append((account, region, len(images))),
    )
    assert outcome.result is not None and outcome.result.status == "succeeded"
    for account in (TARGET, OTHER, THIRD):  # destinations describe images only through the batched poller
        for region in (REGION, REGION2):
            calls = [
                c
                for c in sb.calls()
                if c.action == "DescribeImages"
                and (c.account, c.region) == (account, region)
                and "amishare-step/observe" not in c.user_agent  # the preflight's one look for a copy it owns
            ]
            assert len(calls) == sum(1 for t in ticks if t[:2] == (account, region)) >= 1
    staging_ticks = [t for t in ticks if t[0] is None]
    assert staging_ticks and all(n == 1 for *_, n in staging_ticks)  # one staging copy per region
    copies = [c for c in sb.calls() if c.action == "CopyImage"]
    assert len(copies) == 2 + 3 * 2  # two staging copies, one copy per destination and region


@pytest.mark.slow
def test_notifications_by_email_and_sns(fleet: Any) -> None:
    sb, image, settings = fleet
    sb.verify_email(OWNER, REGION, "images@example.com")
    topic = sb.session(OWNER, REGION).client("sns").create_topic(Name="ami-transfers")["TopicArn"]
    outcome = _transfer(
        settings,
        image,
        OWNER,
        ["dev"],
        regions=[REGION],
        notify_email="team@example.com",
        ses_sender="images@example.com",
        notify_sns=topic,
    )
    assert outcome.notify_error is None
    assert len(outcome.notified) == 2
    (email,) = sb.sent_emails(OWNER, REGION)
    assert email["destinations"]["ToAddresses"] == ["team@example.com"]
    assert image in email["subject"] and TARGET in email["body"]
    copy = _owned(sb, TARGET, REGION)[0]["ImageId"]
    assert copy in email["body"]
    (message,) = sb.published(topic)
    assert copy in message["message"] and "succeeded" in message["subject"]


@pytest.mark.slow
def test_dry_run_and_refusals(fleet: Any) -> None:
    sb, image, settings = fleet
    sb.clear_calls()
    planned = _transfer(settings, image, OWNER, ["dev", "qa"], regions=[REGION, REGION2], dry_run=True)
    assert planned.result is None
    kinds = [a.kind.value for a in planned.plan.actions]
    assert kinds.count("StageImage") == 2 and kinds.count("CopyToDestination") == 4
    assert [c for c in sb.calls() if c.mutating] == []
    from amishare.errors import PlanRefused, UsageError

    with pytest.raises(PlanRefused, match="default EBS key"):
        _transfer(settings, image, OWNER, ["222222222223"], regions=[REGION])
    with pytest.raises(PlanRefused, match="source"):
        _transfer(settings, image, OWNER, [OWNER], regions=[REGION], allow_default_key=True)
    with pytest.raises(UsageError, match="ses-sender"):
        _transfer(settings, image, OWNER, ["dev"], notify_email="a@example.com")


@pytest.mark.slow
def test_live_share_with_auto_scaling_grants(fleet: Any) -> None:
    sb, image, settings = fleet
    outcome = _transfer(settings, image, OWNER, ["dev"], regions=[REGION], keep_share=True, grant_autoscaling=True)
    result = outcome.result
    assert result is not None and result.status == "succeeded", [r.error for r in result.failures]
    kms = sb.session(OWNER, REGION).client("kms")
    key = kms.describe_key(KeyId="alias/amishare-share")["KeyMetadata"]["Arn"]
    grants = kms.list_grants(KeyId=key)["Grants"]
    role = f"arn:aws:iam::{TARGET}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    assert [(g["GranteePrincipal"], g["IssuingAccount"]) for g in grants] == [(role, f"arn:aws:iam::{TARGET}:root")]
    assert "Decrypt" in grants[0]["Operations"] and "CreateGrant" in grants[0]["Operations"]
    policy = json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    assert key_policy.granted(policy).autoscaling == {TARGET}  # the live share keeps its key access
    # the staging copy stays: it carries the live share
    (staging,) = _owned(sb, OWNER, REGION, Filters=[{"Name": f"tag:{TAG_STAGING}", "Values": ["true"]}])
    assert staging["ImageId"]


@pytest.mark.slow
def test_transfer_settings_come_from_the_config(fleet: Any, tmp_path: Path) -> None:
    _, image, _ = fleet
    config = (tmp_path / "amishare.toml").read_text()
    (tmp_path / "amishare.toml").write_text(
        config + f'[transfer]\nsource = "{OWNER}"\nregions = ["{REGION2}"]\nkeep_staging = true\n'
    )
    settings = api.settings(cwd=tmp_path)
    planned = _transfer(settings, image, None, ["dev"], dry_run=True)
    assert {a.region for a in planned.plan.actions} == {REGION2}
    assert not any(a.kind.value == "DeleteStaging" for a in planned.plan.actions)
    assert any("--keep-staging" in n for n in planned.plan.notes)
    flagged = _transfer(settings, image, None, ["dev"], keep_staging=False, dry_run=True)
    assert any(a.kind.value == "DeleteStaging" for a in flagged.plan.actions)


@pytest.mark.slow
def test_transfer_keeps_access_that_existed_before_it(fleet: Any) -> None:
    sb, image, settings = fleet
    # another image, live-shared with dev through the same share key by `amishare share`
    other = sb.seed_image(OWNER, REGION, "other", volumes_gib=[8], kms_key="aws/ebs")
    shared = api.share(settings, api.ShareRequest(other, ("dev",), reencrypt_key="alias/amishare-share")).result
    assert shared is not None and shared.subject_image
    outcome = _transfer(settings, image, OWNER, ["dev", "qa"], regions=[REGION])
    assert outcome.result is not None and outcome.result.status == "succeeded"
    assert any("already had access" in n and TARGET in n for n in outcome.plan.notes)
    kms = sb.session(OWNER, REGION).client("kms")
    policy = json.loads(kms.get_key_policy(KeyId="alias/amishare-share", PolicyName="default")["Policy"])
    assert key_policy.granted(policy).accounts == {TARGET}  # qa's access (this run's) is gone, dev's stays
    ec2 = sb.session(TARGET, REGION).client("ec2")
    copy = ec2.copy_image(
        SourceImageId=shared.subject_image,
        SourceRegion=REGION,
        Name="still-works",
        Encrypted=True,
        KmsKeyId="alias/mine",
    )["ImageId"]
    deadline = time.monotonic() + 10
    while ec2.describe_images(ImageIds=[copy])["Images"][0]["State"] == "pending" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ec2.describe_images(ImageIds=[copy])["Images"][0]["State"] == "available"


def test_customer_key_image_is_shared_as_it_is_in_its_own_region(fleet: Any) -> None:
    sb, _, settings = fleet
    key = sb.create_key(OWNER, REGION, alias="app")
    image = sb.seed_image(OWNER, REGION, "app", volumes_gib=[8], kms_key=key)
    outcome = _transfer(settings, image, OWNER, ["dev", "qa"], regions=[REGION])
    result = outcome.result
    assert result is not None and result.status == "succeeded", [r.error for r in result.failures]
    kinds = [a.kind.value for a in outcome.plan.actions]
    assert "StageImage" not in kinds and "DeleteStaging" not in kinds
    for account in (TARGET, OTHER):
        (copy,) = _owned(sb, account, REGION)
        assert copy["SourceImageId"] == image
    ec2 = sb.session(OWNER, REGION).client("ec2")
    assert ec2.describe_image_attribute(ImageId=image, Attribute="launchPermission")["LaunchPermissions"] == []
    policy = json.loads(
        sb.session(OWNER, REGION).client("kms").get_key_policy(KeyId=key, PolicyName="default")["Policy"]
    )
    assert not any(key_policy.is_amishare(s) for s in policy["Statement"])


@pytest.mark.slow
def test_copies_wait_for_the_concurrent_copy_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/aws-facts.md section 4: a destination already at its concurrent AMI copy limit gets its copy later.
    The copy in flight takes 15 s on the sandbox's clock, moved on by 15 s once the transfer's copy was refused
    (the transfer's retries wait on their own clock: 1 s, then doubling)."""
    skipped = [0.0]
    with Sandbox(copy_seconds_per_gib=0.1, ami_copy_limit=1, clock=lambda: time.monotonic() + skipped[0]) as sb:
        sb.reset()
        sb.create_key(OWNER, REGION, alias="amishare-share")
        sb.create_role(TARGET, "AmiShareRole", trusted_account=OWNER)
        sb.create_key(TARGET, REGION, alias="mine")
        image = sb.seed_image(OWNER, REGION, "golden", volumes_gib=[8], kms_key="aws/ebs")
        busy = sb.seed_image(TARGET, REGION, "busy", volumes_gib=[150], kms_key=None)
        ec2 = sb.session(TARGET, REGION).client("ec2")
        ec2.copy_image(SourceImageId=busy, SourceRegion=REGION, Name="in-flight")  # 15 s: the limit is taken
        (tmp_path / "amishare.toml").write_text(
            f'[defaults]\nregion = "{REGION}"\nshare_key = "alias/amishare-share"\nrole_name = "AmiShareRole"\n'
            f'endpoint_url = "{sb.endpoint_url}"\njournal = "{tmp_path / "j.sqlite3"}"\n'
            f'[accounts.dev]\nid = "{TARGET}"\nkeys = {{ {REGION} = "alias/mine" }}\n'
        )
        for name, value in sb.credentials(OWNER).items():
            monkeypatch.setenv(name, value)

        def refused() -> list[Any]:
            return [c for c in sb.calls() if c.action == "CopyImage" and c.error == "ResourceLimitExceeded"]

        def finish_the_busy_copy_once_refused() -> None:
            deadline = time.monotonic() + 60
            while not refused() and time.monotonic() < deadline:
                time.sleep(0.05)
            skipped[0] += 15.0

        mover = threading.Thread(target=finish_the_busy_copy_once_refused, daemon=True)
        mover.start()
        result = _transfer(api.settings(cwd=tmp_path), image, OWNER, ["dev"]).result
        mover.join(timeout=60)
        assert result is not None and result.status == "succeeded", [r.error for r in result.failures]
        assert refused(), "the first copy must have met the limit"
        assert len(_owned(sb, TARGET, REGION, Filters=[{"Name": "tag:amishare:run", "Values": [result.run_id]}])) == 1


@pytest.mark.slow
def test_revocations_of_a_staged_image_are_one_batch_per_region(fleet: Any) -> None:
    """The revoker counts the revocations the plan expects of a staging image (named ``@stage...`` in the plan,
    by its id when they run): when the last asks, one call per gate serves all of them."""
    sb, image, settings = fleet
    sb.clear_calls()
    outcome = _transfer(settings, image, OWNER, ["dev", "qa", "prod"], regions=[REGION, REGION2])
    assert outcome.result is not None and outcome.result.status == "succeeded"
    for region in (REGION, REGION2):
        revoking = [c for c in sb.calls() if c.region == region and "amishare-step/RevokeDestination" in c.user_agent]
        # one key policy write for the three; the image's gates once (none when the staging copy was deleted first)
        assert [c.action for c in revoking].count("PutKeyPolicy") == 1
        assert [c.action for c in revoking].count("ModifyImageAttribute") <= 1


@pytest.mark.slow
def test_a_second_transfer_reuses_the_copies_the_destinations_already_own(fleet: Any) -> None:
    """A destination that owns a copy of this source image (lineage tag) keeps it: the next transfer plans
    nothing for it (no copy, no gate), says so, and copies only to the destinations that own none."""
    sb, image, settings = fleet
    first = _transfer(settings, image, OWNER, ["dev"], regions=[REGION])
    assert first.result is not None and first.result.status == "succeeded"
    (made,) = _owned(sb, TARGET, REGION)
    second = _transfer(settings, image, OWNER, ["dev", "qa"], regions=[REGION])
    result = second.result
    assert result is not None and result.status == "succeeded", [r.error for r in result.failures]
    assert [i["ImageId"] for i in _owned(sb, TARGET, REGION)] == [made["ImageId"]]  # no second copy
    assert len(_owned(sb, OTHER, REGION)) == 1
    assert not [a for a in second.plan.actions if a.account == TARGET]  # nothing planned for dev
    assert any(a.key == f"copy:{image}:{OTHER}:{REGION}" for a in second.plan.actions)
    assert "dev already owns its copy in us-east-1: not copied again" in second.plan.notes


def test_a_transfer_run_again_changes_nothing_and_says_so(fleet: Any) -> None:
    """Converge: once every destination owns its copy and its parameter names it, the same transfer plans no
    action (no staging copy, no gate, no wait) and makes no mutating call; a parameter deleted since is
    published again, and that alone."""
    sb, image, settings = fleet
    first = _transfer(settings, image, OWNER, ["dev", "qa"], regions=[REGION, REGION2], ssm_parameter="/golden/al2023")
    assert first.result is not None and first.result.status == "succeeded"
    before = len(sb.calls())
    again = _transfer(settings, image, OWNER, ["dev", "qa"], regions=[REGION, REGION2], ssm_parameter="/golden/al2023")
    assert again.plan.actions == () and again.result is None  # nothing to apply
    assert not [c for c in sb.calls()[before:] if c.mutating]
    from amishare.render.plan import plan_text

    expected = f"No changes: dev ({TARGET}), qa ({OTHER}) already own their copies, as the distribution settings ask."
    assert expected in plan_text(again.plan)
    sb.session(OTHER, REGION2).client("ssm").delete_parameter(Name="/golden/al2023")
    healed = _transfer(settings, image, OWNER, ["dev", "qa"], regions=[REGION, REGION2], ssm_parameter="/golden/al2023")
    assert [a.key for a in healed.plan.actions] == [f"parameter:{image}:{OTHER}:{REGION2}"]
    assert healed.result is not None and healed.result.status == "succeeded"
    (copy,) = _owned(sb, OTHER, REGION2)
    value = sb.session(OTHER, REGION2).client("ssm").get_parameter(Name="/golden/al2023")["Parameter"]["Value"]
    assert value == copy["ImageId"]


@pytest.mark.slow
def test_an_image_of_the_same_name_that_is_not_a_copy_is_left_alone(fleet: Any) -> None:
    sb, image, settings = fleet
    name = sb.session(OWNER, REGION).client("ec2").describe_images(ImageIds=[image])["Images"][0]["Name"]
    squatter = sb.seed_image(TARGET, REGION, f"{name}-from-{image}", kms_key=None)
    result = _transfer(settings, image, OWNER, ["dev"], regions=[REGION]).result
    assert result is not None and result.status == "partial"
    (failure,) = [r for r in result.failures if r.key.startswith("copy:")]
    assert f"already exists in {TARGET} in {REGION} ({squatter}) and is not a copy of {image}" in (failure.error or "")
    assert [i["ImageId"] for i in _owned(sb, TARGET, REGION)] == [squatter]


@pytest.mark.slow
def test_resume_after_a_fixed_failure_ends_like_a_clean_run(fleet: Any) -> None:
    """A copy that failed (a key prod may describe but not use) is made again by resume once the key policy is
    fixed: new staging copy, gates for prod only, a fresh copy, then revocation and clean-up."""
    sb, image, settings = fleet
    foreign = sb.create_key(FOREIGN, REGION, policy=_foreign_key_policy(["kms:DescribeKey"]))
    settings = _with_keys(settings, THIRD, {REGION: foreign, REGION2: "alias/mine"})
    first = _transfer(settings, image, OWNER, ["dev", "prod"], regions=[REGION, REGION2])
    assert first.result is not None and first.result.status == "partial"
    run_id = first.result.run_id
    (dev_copy,) = _owned(sb, TARGET, REGION)
    # the cause, fixed: prod may now use the key for its copy
    usable = ["kms:DescribeKey", "kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
    sb.session(FOREIGN, REGION).client("kms").put_key_policy(
        KeyId=foreign, PolicyName="default", Policy=json.dumps(_foreign_key_policy(usable))
    )
    outcome = api.resume(settings, run_id)
    result = outcome.result
    assert result is not None and result.status == "succeeded", [(r.key, r.error) for r in result.failures]
    from amishare.render.transfer import destination_rows

    rows = {(r["account"], r["region"]): r for r in destination_rows(result)}
    assert len(rows) == 4 and {r["state"] for r in rows.values()} == {"available"}
    (prod_copy,) = _owned(sb, THIRD, REGION)  # the failed copy is gone, one new copy in its place
    assert prod_copy["State"] == "available" and rows[(THIRD, REGION)]["image_id"] == prod_copy["ImageId"]
    assert {m["Ebs"]["KmsKeyId"] for m in prod_copy["BlockDeviceMappings"]} == {foreign}
    assert [i["ImageId"] for i in _owned(sb, TARGET, REGION)] == [dev_copy["ImageId"]]  # dev's part not redone
    for region in (REGION, REGION2):  # cleaned up as a clean run would be
        assert _owned(sb, OWNER, region, Filters=[{"Name": f"tag:{TAG_STAGING}", "Values": ["true"]}]) == []
        kms = sb.session(OWNER, region).client("kms")
        policy = json.loads(kms.get_key_policy(KeyId="alias/amishare-share", PolicyName="default")["Policy"])
        assert not any(key_policy.is_amishare(s) for s in policy["Statement"])
    states = {r.key: r.state for r in result.results}
    assert states[f"copy:{image}:{THIRD}:{REGION}"] == "superseded"
    assert states[f"copy:{image}:{THIRD}:{REGION}~2"] == "succeeded"
    assert f"copy:{image}:{TARGET}:{REGION}~2" not in states  # only the failed destination is made again
    assert api.resume(settings, run_id).result.status == "succeeded"  # type: ignore[union-attr]  # nothing left


@pytest.mark.slow
def test_the_live_view_gets_each_copy_s_image_and_progress_long_before_it_is_done(
    fleet: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from amishare.aws.steps import poller
    from amishare.cli.progress import ProgressView

    sb, _, settings = fleet
    sb.settings.copy_seconds_per_gib = 0.25  # an 8 GiB snapshot: 2 s
    image = sb.seed_image(OWNER, REGION, "slow", volumes_gib=[8], kms_key="aws/ebs")
    monkeypatch.setattr(poller, "PROGRESS_FIRST_LOOK", 0.3)  # on AWS 5 s, against copies of minutes
    view = ProgressView(live=True, quiet=False)
    seen: list[tuple[str, str, str, str]] = []  # (row's image, row's progress, image state, image progress)

    def poll(account: str | None, region: str, images: list[dict[str, Any]]) -> None:
        view.poll(account, region, images)
        row = view.rows.get((account or "", region))
        if row is not None and account == TARGET:
            seen.extend((row.image_id, row.progress, i["State"], str(i.get("Progress", ""))) for i in images)

    def confirm(plan: Any) -> bool:
        view.track(plan)
        return True

    outcome = _transfer(
        settings,
        image,
        OWNER,
        ["dev"],
        regions=[REGION],
        on_event=view.event,
        on_poll=poll,
        progress=True,
        confirm=confirm,
    )
    assert outcome.result is not None and outcome.result.status == "succeeded"
    (made,) = _owned(sb, TARGET, REGION)
    pending = [s for s in seen if s[2] == "pending"]
    assert pending, seen  # looked at while copying, not only once it was done
    assert {image_id for image_id, _, _, _ in pending} == {made["ImageId"]}  # the id is there from the start
    # the view shows the copy's progress early in the copy (first look), not only when it should be about done
    assert any(int(progress.rstrip("%") or 100) <= 50 and progress == shown for _, shown, _, progress in pending), seen


@pytest.mark.slow
def test_key_access_by_grant_leaves_the_policy_alone_and_no_grant_behind(fleet: Any) -> None:
    sb, image, settings = fleet
    kms = sb.session(OWNER, REGION).client("kms")
    key = kms.describe_key(KeyId="alias/amishare-share")["KeyMetadata"]["Arn"]
    before = kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]
    planned = _transfer(settings, image, OWNER, ["dev", "qa"], regions=[REGION], key_access="grant", dry_run=True)
    kinds = [a.kind.value for a in planned.plan.actions]
    assert kinds.count("CreateGrant") == 2 and "PutKeyPolicy" not in kinds
    sb.clear_calls()
    outcome = _transfer(settings, image, OWNER, ["dev", "qa"], regions=[REGION], key_access="grant")
    assert outcome.result is not None and outcome.result.status == "succeeded", [
        r.error for r in outcome.result.failures
    ]
    grants = [c for c in sb.calls() if c.action == "CreateGrant"]
    assert len(grants) == 2 and not [c for c in sb.calls() if c.action == "PutKeyPolicy"]
    assert kms.list_grants(KeyId=key)["Grants"] == []  # each destination's grant revoked with its access
    assert kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"] == before
    assert len(_owned(sb, TARGET, REGION)) == 1 and len(_owned(sb, OTHER, REGION)) == 1
    with pytest.raises(UsageError, match="Auto Scaling statement lives in the key policy"):
        _transfer(settings, image, OWNER, ["dev"], key_access="grant", keep_share=True, grant_autoscaling=True)


@pytest.mark.slow  # ~6 s: read-backs of 2 s
def test_a_revocation_another_run_undoes_on_purpose_is_left_to_it_and_says_so(
    fleet: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the transfer's revocation of dev reads its key policy edit back, another run of the same journal
    (sharing its key lock) shares the key with dev again: the revocation leaves dev's key access to that run,
    and the run's record says so on the step (aws/steps/key_edits.py)."""
    from amishare.aws.steps import key_edits
    from amishare.aws.steps.revoker import LEFT_TO_A_RUN
    from amishare.engine.locks import FileKeyLocks

    sb, image, settings = fleet
    monkeypatch.setattr(key_edits, "KEY_VERIFY_AFTER", (2.0, 2.0))  # read back 2 s after each write
    key = sb.session(OWNER, REGION).client("kms").describe_key(KeyId="alias/amishare-share")["KeyMetadata"]["Arn"]
    ran: list[api.Outcome] = []
    transfer = threading.Thread(target=lambda: ran.append(_transfer(settings, image, OWNER, ["dev"], regions=[REGION])))
    transfer.start()
    deadline = time.monotonic() + 60
    while len([c for c in sb.calls() if c.action == "PutKeyPolicy" and c.status < 300]) < 2:  # the share, the revoke
        assert time.monotonic() < deadline and transfer.is_alive(), "the transfer did not write its key policy twice"
        time.sleep(0.01)
    other_run = FileKeyLocks(Path(settings.config.path).parent / "journal.sqlite3.keylocks")
    share = key_edits.KeyEdit(key, REGION, add=key_policy.KeyAccess(accounts=frozenset({TARGET})))
    key_edits.edit_key_access(settings.sessions(), None, share, locks=other_run, verify_after=0.0)
    transfer.join(timeout=60)
    (outcome,) = ran
    assert outcome.result is not None
    (record,) = api.runs(settings)
    revoked = next(a for a in api.run(settings, record.run_id).actions if a.kind == "RevokeDestination")
    assert revoked.state == "succeeded"
    assert revoked.output["key_access"] == LEFT_TO_A_RUN
    policy = json.loads(
        sb.session(OWNER, REGION).client("kms").get_key_policy(KeyId=key, PolicyName="default")["Policy"]
    )
    assert TARGET in key_policy.granted(policy).accounts  # the other run's, to close
