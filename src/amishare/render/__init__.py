"""Renderers (pure): plans, results, gate reports and runs as text or as JSON documents.

The JSON documents carry a ``schema`` name with a version; fields are only ever added within a
version (docs/output.md describes them).
"""

from __future__ import annotations

from typing import Any

from amishare.checks.audit import SEVERITIES, AuditReport
from amishare.checks.doctor import Diagnosis
from amishare.checks.gates import GateReport
from amishare.checks.shared_with_me import SharedImage
from amishare.checks.verify import Verification
from amishare.engine.executor import SUPERSEDED, RunResult
from amishare.engine.journal import RunRecord
from amishare.engine.kinds.copies import AwaitImage, CopyToDestination, StageImage
from amishare.engine.plan import Plan
from amishare.errors import AmiShareError

PLAN_SCHEMA = "amishare.plan/1"
RUN_SCHEMA = "amishare.run/1"
GATES_SCHEMA = "amishare.gates/1"
RUNS_SCHEMA = "amishare.runs/1"


GROUP_ABOVE = 40  # a plan longer than this shows per-destination actions grouped by kind and region
PER_DESTINATION = {"CopyToDestination", "AwaitImage", "RevokeDestination", "CreateGrant"}


def plan_text(plan: Plan) -> str:
    targets = ", ".join(str(t) for t in plan.targets[:10])
    if len(plan.targets) > 10:
        targets += f" and {len(plan.targets) - 10} more"
    if plan.command == "cleanup":
        lines = [
            f"amishare cleanup in account {plan.account}:",
            "",
            *_decision_lines(plan.extra.get("decisions", [])),
            "",
        ]
    else:
        lines = [f"amishare {plan.command} {plan.image_id} in account {plan.account}, {plan.region}: {targets}", ""]
    lines += [f"  note: {n}" for n in plan.notes]
    lines += [f"  WARNING: {w}" for w in plan.warnings]
    if plan.notes or plan.warnings:
        lines.append("")
    if not plan.actions:
        verb = "open" if plan.command == "share" else "closed"
        done = "every image is kept" if plan.command == "cleanup" else f"every gate is already {verb} for {targets}"
        lines.append(f"No changes: {done}.")
        return "\n".join(lines)
    width = max(len(a.kind.value) for a in plan.actions)
    many = len(plan.actions) > GROUP_ABOVE
    shown: set[tuple[str, str]] = set()
    for action in plan.actions:
        group = (action.kind.value, action.region)
        if many and action.kind.value in PER_DESTINATION:
            if group in shown:
                continue
            shown.add(group)
            count = sum(1 for a in plan.actions if (a.kind.value, a.region) == group)
            lines.append(
                f"  {action.symbol} {action.kind.value:<{width}}  x{count} in {action.region}, e.g. {action.summary}"
            )
            continue
        lines.append(f"  {action.symbol} {action.kind.value:<{width}}  {action.summary}")
    changes = sum(1 for a in plan.actions if a.symbol != "…")
    lines += [
        "",
        f"Plan: {len(plan.actions)} action(s), {changes} change(s). "
        f"IAM permissions used: {', '.join(plan.permissions())}",
    ]
    return "\n".join(lines)


def _decision_lines(decisions: list[dict[str, Any]]) -> list[str]:
    if not decisions:
        return ["  no image matches"]
    lines = []
    for d in decisions:
        where = f"{d['image_id']} ({d['name']}) {d['account']} {d['region']}"
        lines.append(f"  {d['verdict'].upper():<10} {where}")
        lines += [f"             {reason}" for reason in d["reasons"]]
        if d["snapshots_kept"]:
            lines.append(f"             snapshots kept (another image uses them): {', '.join(d['snapshots_kept'])}")
    kept = sum(1 for d in decisions if d["verdict"] == "keep")
    lines.append(f"  {len(decisions)} image(s) match: {kept} kept, {len(decisions) - kept} to change")
    return lines


def plan_json(plan: Plan) -> dict[str, Any]:
    return {"schema": PLAN_SCHEMA, "plan": plan.to_dict()}


def result_text(result: RunResult) -> str:
    lines = [f"run {result.run_id}: {result.status}"]
    lines += [f"  note: {n}" for n in result.plan.notes]
    lines += [f"  WARNING: {w}" for w in result.plan.warnings]
    for action, outcome in zip(result.plan.actions, result.results, strict=True):
        mark = {"succeeded": "ok  ", "failed": "FAIL", "skipped": "skip"}[outcome.state]
        detail = (
            f" -> {outcome.output['image_id']}"
            if outcome.output.get("image_id") and action.kind.value in ("ReEncryptImage",)
            else ""
        )
        lines.append(f"  {mark} {action.kind.value}: {action.summary}{detail}")
        if outcome.error:
            lines.append(f"       {outcome.error}")
    subject = result.subject_image
    if subject and result.plan.command == "share" and result.status == "succeeded":
        lines.append(f"Shared {subject} with {', '.join(str(t) for t in result.plan.targets)}.")
    if result.status != "succeeded":
        lines.append(f"See `amishare runs show {result.run_id}`; run the same command again to retry what failed.")
    return "\n".join(lines)


def result_json(result: RunResult) -> dict[str, Any]:
    return {"schema": RUN_SCHEMA, "plan": result.plan.to_dict(), **result.to_dict()}


def gates_text(reports: list[GateReport]) -> str:
    if not reports:
        return "Not shared with anyone (name targets with --to to check them)."
    lines: list[str] = []
    current = None
    for row in reports:
        if row.image_id != current:
            current = row.image_id
            lines += ([""] if lines else []) + [f"{row.image_id}:"]
        verdict = "can copy" if row.can_copy else "can launch, not copy" if row.can_launch else "cannot use it"
        lines.append(f"  {row.target}: {verdict}")
        for name, gate in (("launch", row.launch), ("snapshots", row.snapshots), ("key", row.key)):
            lines.append(f"    {name:<9} {gate.state:<7} {gate.reason}")
    return "\n".join(lines)


def gates_json(reports: list[GateReport]) -> dict[str, Any]:
    return {"schema": GATES_SCHEMA, "gates": [r.to_dict() for r in reports]}


def runs_text(runs: list[RunRecord]) -> str:
    if not runs:
        return "No runs recorded yet."
    lines = [f"{'run':<24} {'command':<8} {'status':<12} {'image':<22} {'account':<13} region"]
    lines += [f"{r.run_id:<24} {r.command:<8} {r.status:<12} {r.image_id:<22} {r.account:<13} {r.region}" for r in runs]
    return "\n".join(lines)


def run_text(run: RunRecord) -> str:
    lines = [
        f"run {run.run_id}: {run.command} {run.image_id} in {run.account} {run.region}: {run.status}",
        f"  started {run.created_at}" + (f", finished {run.finished_at}" if run.finished_at else ""),
    ]
    summaries = {a["key"]: a["summary"] for a in run.plan.get("actions", [])}
    for action in run.actions:
        lines.append(f"  {action.state:<10} {action.kind}: {summaries.get(action.key, action.key)}")
        if action.error:
            lines.append(f"             {action.error}")
        if action.output:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(action.output.items()) if not isinstance(v, list | dict))
            if shown:
                lines.append(f"             {shown}")
    return "\n".join(lines)


def runs_json(runs: list[RunRecord]) -> dict[str, Any]:
    return {"schema": RUNS_SCHEMA, "runs": [_run_dict(r) for r in runs]}


def run_json(run: RunRecord) -> dict[str, Any]:
    return {"schema": RUNS_SCHEMA, "runs": [_run_dict(run)]}


def _run_dict(run: RunRecord) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "command": run.command,
        "account": run.account,
        "region": run.region,
        "image_id": run.image_id,
        "status": run.status,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
        "plan": run.plan,
        "actions": [
            {
                "key": a.key,
                "kind": a.kind,
                "state": a.state,
                "started_at": a.started_at,
                "finished_at": a.finished_at,
                "error": a.error,
                "output": a.output,
            }
            for a in run.actions
        ],
    }


def destination_rows(result: RunResult) -> list[dict[str, Any]]:
    """One row per destination and region of a transfer: its new image, its key, or why it failed."""
    rows = []
    by_key = {r.key: r for r in result.results}
    waits = {a.depends_on[0]: a.key for a in result.plan.actions if isinstance(a, AwaitImage) and a.depends_on}
    for action in result.plan.actions:
        if not isinstance(action, CopyToDestination):
            continue
        copy = by_key.get(action.key)
        wait = by_key.get(waits.get(action.key, ""))
        if any(r is not None and r.state == SUPERSEDED for r in (copy, wait)):
            continue  # a later attempt of the run made this copy again: its row is that attempt's
        failed = next((r for r in (copy, wait) if r is not None and r.state != "succeeded"), None)
        image_id = copy.output.get("image_id") if copy is not None else None
        rows.append(
            {
                "account": action.account,
                "region": action.region,
                "image_id": image_id,
                "key": action.kms_key,
                "state": "available" if failed is None else failed.state,
                "error": failed.error if failed else None,
                "fix": fix_for(failed.error) if failed and failed.error else None,
                # the destination already owned this copy (an earlier run made it): kept, not copied again
                "reused_from": copy.output.get("made_by") if copy is not None and copy.output.get("reused") else None,
            }
        )
    return rows


def fix_for(error: str) -> str:
    """What to do about a failure, from its message."""
    if "AssumeRole" in error:
        return (
            "create the role in the destination account, trusting the caller's account (with the external id "
            "when one is configured), or fix role/external_id under [accounts.NAME]"
        )
    if "Given key ID is not accessible" in error or "KMS" in error:
        return (
            "make the destination key usable by the role through EC2 in that region (key policy: kms:CreateGrant, "
            "kms:Decrypt, kms:DescribeKey, kms:GenerateDataKeyWithoutPlaintext, kms:ReEncrypt*), and give its "
            "ARN or alias under keys = { <region> = ... }"
        )
    if "did not succeed" in error:
        return "fix the step it waited for (listed above), then `amishare resume RUN_ID`"
    if "RequestLimitExceeded" in error or "Throttl" in error:
        return "AWS throttled the calls: `amishare resume RUN_ID` retries, or lower --max-parallel"
    return "see `amishare runs show RUN_ID`, fix the cause, then `amishare resume RUN_ID`"


def transfer_text(result: RunResult) -> str:
    rows = destination_rows(result)
    ok = sum(1 for r in rows if r["state"] == "available")
    lines = [f"run {result.run_id}: {result.status}: {ok} of {len(rows)} copies owned by their destinations"]
    lines += [f"  note: {n}" for n in result.plan.notes]
    width = max((len(r["account"]) for r in rows), default=12)
    for row in rows:
        if row["state"] == "available":
            kept = f"  already its copy (run {row['reused_from']}): kept" if row["reused_from"] else ""
            lines.append(f"  {row['account']:<{width}} {row['region']:<14} {row['image_id']}  ({row['key']}){kept}")
        else:
            lines.append(f"  {row['account']:<{width}} {row['region']:<14} FAILED: {row['error']}")
            lines.append(f"  {'':<{width}} {'':<14} fix: {row['fix']}")
    others = [
        (a, r)
        for a, r in zip(result.plan.actions, result.results, strict=True)
        if r.state == "failed" and a.kind.value not in ("CopyToDestination", "AwaitImage")
    ]
    for action, outcome in others:
        lines.append(f"  FAILED {action.kind.value} ({action.region}): {outcome.error}")
    if result.status != "succeeded":
        lines.append(f"Fix the causes, then `amishare resume {result.run_id}` finishes the run.")
    return "\n".join(lines)


def transfer_json(result: RunResult) -> dict[str, Any]:
    return {**result_json(result), "destinations": destination_rows(result)}


def notification(result: RunResult) -> tuple[str, str]:
    """Subject and body of the message sent when a transfer finishes."""
    plan = result.plan
    rows = destination_rows(result)
    ok = sum(1 for r in rows if r["state"] == "available")
    subject = f"amishare transfer of {plan.image_id}: {result.status} ({ok}/{len(rows)} copies)"
    keys = sorted({str(a.kms_key) for a in plan.actions if isinstance(a, StageImage)})
    lines = [
        f"Run {result.run_id}: {result.status}.",
        f"Source: account {plan.account}, image {plan.image_id} ({plan.region}).",
        f"Staging keys: {', '.join(keys) or 'none (the image was shared as it is)'}.",
        "",
        "Destinations:",
    ]
    for row in rows:
        if row["state"] == "available":
            lines.append(f"  {row['account']} {row['region']}: {row['image_id']} encrypted with {row['key']}")
        else:
            lines.append(f"  {row['account']} {row['region']}: FAILED: {row['error']} (fix: {row['fix']})")
    return subject, "\n".join(lines)


VERIFY_SCHEMA = "amishare.verify/1"
DOCTOR_SCHEMA = "amishare.doctor/1"
AUDIT_SCHEMA = "amishare.audit/1"


def verify_text(results: list[Verification]) -> str:
    if not results:
        return "no image matched"
    lines = []
    for result in results:
        image = result.image
        volumes = sum(1 for m in image.mappings if m.snapshot_id)
        if result.ok:
            keys = ", ".join(image.key_arns) or "-"
            lines.append(f"{image.image_id} ({image.name}): ok: {volumes} EBS volume(s), encrypted with {keys}")
            continue
        lines.append(f"{image.image_id} ({image.name}): {len(result.findings)} problem(s)")
        for finding in result.findings:
            lines.append(f"  {finding.code}: {finding.detail}")
            lines.append(f"    fix: {finding.fix}")
    failed = sum(1 for r in results if not r.ok)
    lines.append(f"{len(results) - failed} of {len(results)} image(s) pass")
    return "\n".join(lines)


def audit_text(report: AuditReport) -> str:
    scanned = ", ".join(f"{n} {what}" for what, n in report.scanned.items())
    lines = [f"scanned {scanned}"]
    lines += [f"not read: {e}" for e in report.errors]
    if not report.findings:
        lines.append("no finding")
        return "\n".join(lines)
    lines.append(", ".join(f"{report.count(s)} {s}" for s in SEVERITIES if report.count(s)))
    for finding in report.findings:
        where = " ".join(x for x in (finding.account, finding.region, finding.image or finding.resource) if x)
        who = f" -> {finding.principal}" if finding.principal else ""
        lines.append(f"{finding.severity.upper():<8} {finding.code} {where}{who}")
        lines.append(f"  {finding.detail}")
        lines.append(f"  fix: {finding.fix}")
    return "\n".join(lines)


def audit_json(report: AuditReport) -> dict[str, Any]:
    return {
        "schema": AUDIT_SCHEMA,
        "scanned": dict(report.scanned),
        "errors": list(report.errors),
        "counts": {s: report.count(s) for s in SEVERITIES},
        "findings": [f.to_dict() for f in report.findings],
        "principals": list(report.principals),
        "matrix": [
            {
                "account": account,
                "region": report.images[(account, image_id)].region,
                "image": image_id,
                "name": report.images[(account, image_id)].name,
                "principals": {p: vars(cell) for p, cell in row.items()},
            }
            for (account, image_id), row in sorted(report.matrix.items())
        ],
    }


def doctor_text(result: Diagnosis, needs: tuple[str, ...]) -> str:
    view = "the owner's and the target's view" if result.target_view else f"the owner's view: {result.target_note}"
    lines = [f"{result.image_id} for account {result.account} in {result.region} ({view}):"]
    for name, capability in result.capabilities.items():
        asked = "" if name in needs else " (not asked)"
        lines.append(f"  {name:<19} {'ok' if capability.ok else 'NO'}{asked}")
        for cause in capability.causes:
            label = "warning " if cause.warning else ""
            lines.append(f"    {label}{cause.code}: {cause.detail}")
            lines.append(f"      fix: {cause.fix}")
    works = result.works(needs)
    lines.append(f"{'works' if works else 'does not work'}: {', '.join(needs)}")
    return "\n".join(lines)


def doctor_json(result: Diagnosis, needs: tuple[str, ...]) -> dict[str, Any]:
    return {"schema": DOCTOR_SCHEMA, **result.to_dict(), "needs": list(needs), "ok": result.works(needs)}


def verify_json(results: list[Verification]) -> dict[str, Any]:
    return {
        "schema": VERIFY_SCHEMA,
        "ok": all(r.ok for r in results),
        "images": [
            {
                "image_id": r.image.image_id,
                "name": r.image.name,
                "region": r.image.region,
                "expected_key": r.expected_key,
                "ok": r.ok,
                "volumes": [
                    {"device": m.device, "snapshot_id": m.snapshot_id, "encrypted": m.encrypted, "key": m.key_arn}
                    for m in r.image.mappings
                ],
                "findings": [
                    {"code": f.code, "device": f.device, "detail": f.detail, "fix": f.fix} for f in r.findings
                ],
            }
            for r in results
        ],
    }


def error_json(error: AmiShareError) -> dict[str, Any]:
    """``{"code", "message", "exit"}``: the AWS error code when AWS answered, else the kind of error."""
    code = getattr(error, "code", "") or type(error).__name__
    return {"code": code, "message": str(error), "exit": error.exit_code}


# The main list of a document, in that order.
TABLE_LISTS = ("rows", "findings", "destinations", "gates", "images", "runs", "results", "actions")


def _capability_rows(capabilities: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name, verdict in capabilities.items():
        causes = verdict["causes"] or [{"code": "", "detail": ""}]
        rows += [{"capability": name, "ok": verdict["ok"], "code": c["code"], "detail": c["detail"]} for c in causes]
    return rows


def table_text(document: dict[str, Any]) -> str:
    """``--output table``: the document's main list (gates, runs, images, destinations, actions) as an aligned
    table of its plain fields, one row per item."""
    plan = document.get("plan")
    places = [document, plan] if isinstance(plan, dict) else [document]
    if isinstance(document.get("capabilities"), dict):  # doctor: one row per capability and cause
        places = [{"rows": _capability_rows(document["capabilities"])}]
    rows = next((p[k] for k in TABLE_LISTS for p in places if isinstance(p.get(k), list) and p[k]), None)
    if not rows or not isinstance(rows[0], dict):
        return "(nothing)"
    if len(rows) == 1 and isinstance(rows[0].get("actions"), list) and rows[0]["actions"]:
        rows = rows[0]["actions"]  # one run (runs show): its actions
    rows = [_flat(row) for row in rows]
    columns = [k for k, v in rows[0].items() if v is None or isinstance(v, str | int | float | bool)]
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """Nested objects of plain fields as ``parent.child`` columns (a gate's ``target.value``)."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items() if not isinstance(v, dict | list)})
        else:
            flat[key] = value
    return flat


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


SHARED_SCHEMA = "amishare.shared-with-me/1"


def shared_text(state: str, images: list[SharedImage]) -> str:
    lines = []
    if state == "enabled":
        lines.append("note: Allowed AMIs is enabled here: images its criteria do not allow are hidden from this list")
    if not images:
        lines.append("No image is shared with this account in this region.")
    for shared in images:
        facts = shared.facts
        flags = [f for f, on in (("public", facts.public), ("deprecated", shared.deprecated)) if on]
        lines.append(f"{facts.image_id} {facts.name} from {facts.owner}" + (f" ({', '.join(flags)})" if flags else ""))
        lines.append(f"  launch: {shared.launch}")
        lines.append(f"  copy:   {shared.copy}")
    return "\n".join(lines)


def shared_json(state: str, images: list[SharedImage]) -> dict[str, Any]:
    return {
        "schema": SHARED_SCHEMA,
        "allowed_amis": state,
        "images": [
            {
                "image_id": s.facts.image_id,
                "name": s.facts.name,
                "owner": s.facts.owner,
                "region": s.facts.region,
                "state": s.facts.state,
                "shared": "public" if s.facts.public else "explicitly",
                "deprecated": s.deprecated,
                "allowed": s.facts.allowed,
                "encrypted": bool(s.facts.keys),
                "snapshots_visible": f"{len(s.facts.visible_snapshots)}/{len(s.facts.snapshots)}",
                "can_launch": s.can_launch,
                "can_copy": s.can_copy,
                "launch": s.launch,
                "copy": s.copy,
            }
            for s in images
        ],
    }
