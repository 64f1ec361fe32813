"""A transfer's result, destination by destination (pure): each destination's new image and key, or why its copy
failed and the fix; as text, as JSON (``amishare.run/1`` with its ``destinations``) and as the message sent when it
finishes."""

from __future__ import annotations

from typing import Any

from amishare.engine.executor import SUPERSEDED, ActionResult, RunResult
from amishare.engine.kinds.copies import AwaitImage, CopyToDestination, StageImage
from amishare.render.plan import result_json


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
        rows.append(_row(action, copy, wait))
    return rows


def _row(action: CopyToDestination, copy: ActionResult | None, wait: ActionResult | None) -> dict[str, Any]:
    """A destination's row, from its copy and the wait on it (either may not have run)."""
    failed = next((r for r in (copy, wait) if r is not None and r.state != "succeeded"), None)
    image_id = copy.output.get("image_id") if copy is not None else None
    return {
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
    """The transfer's destinations: each one's image and key, or its failure and the fix."""
    rows = destination_rows(result)
    ok = sum(1 for r in rows if r["state"] == "available")
    lines = [f"run {result.run_id}: {result.status}: {ok} of {len(rows)} copies owned by their destinations"]
    lines += [f"  note: {n}" for n in result.plan.notes]
    width = max((len(r["account"]) for r in rows), default=12)
    for row in rows:
        if row["state"] == "available":
            kept = f"  already its copy (run {row['reused_from']}): kept" if row["reused_from"] else ""
            lines.append(f"  {row['account']:<{width}} {row['region']:<14} {row['image_id']}  ({row['key']}){kept}")
        elif row["state"] == "pending":
            lines.append(f"  {row['account']:<{width}} {row['region']:<14} pending: the next slice goes on")
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
    if result.paused:
        lines.append(f"Paused: its budget is spent; `amishare resume {result.run_id}` goes on.")
    elif result.status != "succeeded":
        lines.append(f"Fix the causes, then `amishare resume {result.run_id}` finishes the run.")
    return "\n".join(lines)


def transfer_json(result: RunResult) -> dict[str, Any]:
    """``amishare.run/1`` with each destination's row."""
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
