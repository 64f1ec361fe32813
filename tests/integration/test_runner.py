"""The serverless runner's entry, called in-process as the engine's Lambda would be, against the local AWS with
the journal in DynamoDB: a trigger plans a manifest's family and records the run; slices apply it until it is
done; the estate then equals what `amishare apply` leaves; a duplicated trigger starts no second run; a trigger
when nothing differs starts none."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from amishare import api
from amishare.api.converge import ConvergeRequest, plan_manifest
from amishare.api.runner import handle
from amishare.errors import UsageError
from amishare.sandbox import Sandbox
from tests.integration.test_journal_backends import URL, create_table
from tests.support.manifests import build_manifest, distribute, family
from tests.support.world import OTHER, OWNER, REGION, REGION2, TARGET, two_destinations

MANIFEST = build_manifest(
    family(
        "base",
        {"ssm_parameter": "/golden/base"},
        distribute([TARGET]),
        distribute([OTHER], "transfer", ssm_parameter="/platform/base"),
    ),
    source=OWNER,
    regions=[REGION, REGION2],
)


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    with Sandbox(copy_seconds_per_gib=0.1) as sb:
        sb.reset()
        create_table(sb)
        two_destinations(sb, tmp_path, URL)
        image = sb.seed_image(OWNER, REGION, "base-1", volumes_gib=[8], kms_key="alias/amishare-share")
        sb.session(OWNER, REGION).client("ssm").put_parameter(
            Name="/golden/base", Value=image, Type="String", DataType="aws:ec2:image"
        )
        (tmp_path / "estate.toml").write_text(MANIFEST)
        for name, value in sb.credentials(OWNER).items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        yield sb, tmp_path, api.settings(cwd=tmp_path)


@pytest.mark.slow
def test_a_trigger_plans_the_family_and_slices_apply_it_until_it_converges(engine: Any) -> None:
    _, folder, settings = engine
    planned = handle(
        {"action": "plan", "manifest": str(folder / "estate.toml"), "family": "base", "trigger": "e-1"}, settings
    )
    assert planned["status"] == "paused" and planned["run_id"]
    assert planned["chunks"] == sorted([f"chunk:{REGION}:0", f"chunk:{REGION2}:0"])
    assert handle({"action": "plan", "manifest": str(folder / "estate.toml"), "trigger": "e-1"}, settings) == {
        "status": "duplicate",
        "run_id": planned["run_id"],
        "wake_in": None,
        "chunks": [],
    }
    slices, answer = 0, planned
    while answer["status"] == "paused":
        assert slices < 60, "the run does not end"
        time.sleep(min(answer["wake_in"] or 0.0, 1.0))  # the state machine's Wait state
        answer = handle({"action": "slice", "run_id": planned["run_id"], "budget": 0.5, "iteration": slices}, settings)
        slices += 1
        assert answer["iteration"] == slices
    assert answer["status"] == "succeeded" and answer["run_id"] == planned["run_id"]
    assert slices >= 2  # slices of 0.5 s, copies of 0.8 s one after the other: never one slice
    assert plan_manifest(settings, ConvergeRequest(str(folder / "estate.toml"))).plan.actions == ()
    again = handle({"action": "plan", "manifest": str(folder / "estate.toml"), "trigger": "e-2"}, settings)
    assert again == {"status": "nothing-to-do", "run_id": None, "wake_in": None, "chunks": []}
    runs = api.runs(settings)
    assert [r.run_id for r in runs] == [planned["run_id"]]  # one run for three triggers


def test_the_runner_refuses_a_journal_only_one_machine_sees(engine: Any, tmp_path: Path) -> None:
    _, folder, _ = engine
    local = api.settings(api.Flags(journal_path=str(tmp_path / "journal.sqlite3")), cwd=folder)
    with pytest.raises(UsageError, match="a journal every runner sees"):
        handle({"action": "slice", "run_id": "x"}, local)


def _loop(settings: api.Settings, run_id: str, phase: str, limit: int = 60) -> dict[str, Any]:
    """Slices of one phase until it is done: what a loop of the state machine does (its Wait a short sleep)."""
    answer: dict[str, Any] = {"status": "paused", "wake_in": 0.0, "iteration": 0}
    while answer["status"] in ("paused", "busy"):
        assert answer["iteration"] < limit, f"phase {phase} does not end"
        time.sleep(min(answer["wake_in"] or 0.0, 0.5))
        request = {"action": "slice", "run_id": run_id, "phase": phase, "budget": 2.0, "iteration": answer["iteration"]}
        answer = handle(request, settings)
    return answer


@pytest.mark.slow
def test_a_run_driven_phase_by_phase_with_its_chunks_at_once_converges_and_reports(engine: Any) -> None:
    sb, folder, settings = engine
    planned = handle({"action": "plan", "manifest": str(folder / "estate.toml"), "trigger": "e-9"}, settings)
    run_id = planned["run_id"]
    with pytest.raises(UsageError, match="earlier phase that has not finished"):
        handle({"action": "slice", "run_id": run_id, "phase": "finish", "budget": 1.0}, settings)
    assert _loop(settings, run_id, "prepare")["status"] == "done"
    assert handle({"action": "left", "run_id": run_id}, settings)["chunks"] == planned["chunks"]
    with ThreadPoolExecutor(max_workers=2) as pool:  # the Map: the chunks at once, each under its own lease
        ends = list(pool.map(lambda chunk: _loop(settings, run_id, chunk), planned["chunks"]))
    assert [e["status"] for e in ends] == ["done", "done"] and {e["outcome"] for e in ends} == {"succeeded"}
    assert handle({"action": "left", "run_id": run_id}, settings)["chunks"] == []
    assert api.runs(settings)[0].status == "paused"  # the run's verdict is the report's
    _loop(settings, run_id, "finish")
    report = handle({"action": "report", "run_id": run_id}, settings)
    assert report["status"] == "succeeded" and set(report["counts"]) == {"succeeded"}
    assert api.runs(settings)[0].status == "succeeded"
    assert plan_manifest(settings, ConvergeRequest(str(folder / "estate.toml"))).plan.actions == ()
    copies = sb.session(OTHER, REGION2).client("ec2").describe_images(Owners=["self"])["Images"]
    assert len(copies) == 1  # one copy per destination and region: no chunk made another's


def test_a_phase_the_run_does_not_have_is_named_with_the_ones_it_has(engine: Any) -> None:
    _, folder, settings = engine
    planned = handle({"action": "plan", "manifest": str(folder / "estate.toml")}, settings)
    with pytest.raises(UsageError, match=r"no phase 'chunk:mars:0': its phases are prepare, chunk:"):
        handle({"action": "slice", "run_id": planned["run_id"], "phase": "chunk:mars:0"}, settings)


def test_an_image_event_starts_a_run_for_the_family_that_selects_it_and_none_for_amishare_s_own_copies(
    engine: Any,
) -> None:
    sb, folder, settings = engine
    (folder / "named.toml").write_text(
        MANIFEST.replace('select = { ssm_parameter = "/golden/base" }', 'select = { name = "web-*" }').replace(
            'family = "base"', 'family = "web"'
        )
    )
    newest = sb.seed_image(OWNER, REGION, "web-2", volumes_gib=[8], kms_key="alias/amishare-share")
    staging = sb.seed_image(
        OWNER,
        REGION,
        "web-3-amishare-staging",
        volumes_gib=[8],
        kms_key="alias/amishare-share",
        tags={"amishare:managed": "true", "amishare:staging": "true", "amishare:source-image": newest},
    )
    manifest = str(folder / "named.toml")
    ours = handle({"action": "plan", "input": {"manifest": manifest, "image": staging, "region": REGION}}, settings)
    assert ours == {**ours, "status": "nothing-to-do", "run_id": None}  # amishare's own copy starts nothing
    other = sb.seed_image(OWNER, REGION, "db-1", volumes_gib=[8], kms_key="alias/amishare-share")
    unrelated = handle({"action": "plan", "input": {"manifest": manifest, "image": other, "region": REGION}}, settings)
    assert unrelated["status"] == "nothing-to-do"  # no family selects it
    planned = handle({"action": "plan", "input": {"manifest": manifest, "image": newest, "region": REGION}}, settings)
    assert planned["status"] == "paused"
    record = api.run(settings, planned["run_id"])
    assert newest in json.dumps(record.plan) and staging not in json.dumps(record.plan)  # the version, not the copy


def test_the_scheduled_reconcile_publishes_the_drift_it_found_before_converging_it(engine: Any) -> None:
    sb, folder, settings = engine
    topic = sb.session(OWNER, REGION).client("sns").create_topic(Name="amishare-drift")["TopicArn"]
    request = {"manifest": str(folder / "estate.toml"), "trigger": "s-1", "schedule": "2026-12-02T06:00:00Z"}
    planned = handle({"action": "plan", "input": {**request, "drift_topic": topic}}, settings)
    assert planned["status"] == "paused" and planned["drift_published"] == topic
    (message,) = sb.published(topic)
    document = json.loads(message["message"])
    assert document["schema"] == "amishare.drift/1" and document["drifted"]
    assert len(document["findings"]) == planned["drift"] > 0
