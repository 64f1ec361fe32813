"""A plan and the result of applying it, as text or as JSON documents (``amishare.plan/1``, ``amishare.run/1``);
a cleanup's plan shows its decision for each image."""

from __future__ import annotations

from typing import Any

from amishare.engine.executor import RunResult
from amishare.engine.plan import Plan

PLAN_SCHEMA = "amishare.plan/1"
RUN_SCHEMA = "amishare.run/1"


GROUP_ABOVE = 40  # a plan longer than this shows per-destination actions grouped by kind and region
PER_DESTINATION = {"CopyToDestination", "AwaitImage", "RevokeDestination", "CreateGrant"}


def plan_text(plan: Plan) -> str:
    """The plan as a human reads it: what it is about, its notes and warnings, each action, what it costs."""
    targets = ", ".join(str(t) for t in plan.targets[:10])
    if len(plan.targets) > 10:
        targets += f" and {len(plan.targets) - 10} more"
    lines = _heading(plan, targets)
    lines += [f"  note: {n}" for n in plan.notes]
    lines += [f"  WARNING: {w}" for w in plan.warnings]
    if plan.notes or plan.warnings:
        lines.append("")
    if not plan.actions:
        lines.append(f"No changes: {_nothing_to_do(plan.command, targets)}.")
        return "\n".join(lines)
    lines += _action_lines(plan)
    changes = sum(1 for a in plan.actions if a.symbol != "…")
    lines += [
        "",
        f"Plan: {len(plan.actions)} action(s), {changes} change(s). "
        f"IAM permissions used: {', '.join(plan.permissions())}",
    ]
    return "\n".join(lines)


def _heading(plan: Plan, targets: str) -> list[str]:
    """What the plan is about: its image and targets, or a cleanup's decision for each image."""
    if plan.command == "cleanup":
        return [
            f"amishare cleanup in account {plan.account}:",
            "",
            *_decision_lines(plan.extra.get("decisions", [])),
            "",
        ]
    if plan.command == "apply":  # a manifest's plan (api/converge.py)
        return [f"amishare plan of {plan.extra.get('manifest')} in account {plan.account} ({plan.region}):", ""]
    return [f"amishare {plan.command} {plan.image_id} in account {plan.account}, {plan.region}: {targets}", ""]


NOTHING_TO_DO = {
    "share": "every gate is already open for {targets}",
    "revoke": "every gate is already closed for {targets}",
    "transfer": "{targets} already own their copies, as the distribution settings ask",
    "cleanup": "every image is kept",
    "apply": "the estate is as the manifest declares",
}


def _nothing_to_do(command: str, targets: str) -> str:
    """Why a plan of ``command`` is empty, in words."""
    return NOTHING_TO_DO.get(command, "nothing differs from what is asked").format(targets=targets)


def _action_lines(plan: Plan) -> list[str]:
    """One line per action; in a long plan, one per kind and region of the per-destination actions."""
    width = max(len(a.kind.value) for a in plan.actions)
    many = len(plan.actions) > GROUP_ABOVE
    shown: set[tuple[str, str]] = set()
    lines = []
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
    return lines


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


def confirm_question(plan: Plan) -> str:
    """What the confirmation prompt asks: for a cleanup, what it removes, counted ("Deregister 2 images, delete
    4 snapshots?"); otherwise whether to apply the plan shown above."""
    if plan.command != "cleanup":
        return "Apply these changes?"
    changed = [d for d in plan.extra.get("decisions", []) if d["verdict"] != "keep"]
    revoked = sum(1 for d in changed if d["revoke_shares"])
    parts = [f"revoke the shares of {_count(revoked, 'image')}"] if revoked else []
    for verdict in ("deprecate", "disable", "deregister"):
        images = sum(1 for d in changed if d["verdict"] == verdict)
        if images:
            parts.append(f"{verdict} {_count(images, 'image')}")
    snapshots = sum(len(d["snapshots_deleted"]) for d in changed)
    if snapshots:
        parts.append(f"delete {_count(snapshots, 'snapshot')}")
    question = ", ".join(parts) or "apply these changes"
    return question[0].upper() + question[1:] + "?"


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def plan_json(plan: Plan) -> dict[str, Any]:
    """``amishare.plan/1``: the plan."""
    return {"schema": PLAN_SCHEMA, "plan": plan.to_dict()}


def result_text(result: RunResult, *, each: bool = True) -> str:
    """Each action's outcome (only those that did not succeed when not ``each``: the progress lines already said
    each one), its error when it failed, and what to do next."""
    lines = [f"run {result.run_id}: {result.status}"]
    lines += [f"  note: {n}" for n in result.plan.notes]
    lines += [f"  WARNING: {w}" for w in result.plan.warnings]
    for action, outcome in zip(result.plan.actions, result.results, strict=True):
        if not each and outcome.state == "succeeded":
            continue
        mark = {"succeeded": "ok  ", "failed": "FAIL", "skipped": "skip", "pending": "... "}.get(outcome.state, "    ")
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
    if result.paused:
        wake = f" (in {result.wake_in:.0f} s or later)" if result.wake_in else ""
        lines.append(f"Paused: its budget is spent; `amishare resume {result.run_id}` goes on{wake}.")
    elif result.status != "succeeded":
        lines.append(f"See `amishare runs show {result.run_id}`; run the same command again to retry what failed.")
    return "\n".join(lines)


def result_json(result: RunResult) -> dict[str, Any]:
    """``amishare.run/1``: the plan and its outcome, action by action."""
    return {"schema": RUN_SCHEMA, "plan": result.plan.to_dict(), **result.to_dict()}
