"""The reports of the checks, as text or as JSON documents: the gates of a share (``show``), the verification of
images (``verify``), the doctor's verdicts, the images shared with this account (``shared-with-me``) and the
audit's findings and matrix (its CSV and HTML files are ``render.audit_report``'s)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from amishare.checks.audit import SEVERITIES, AuditReport
from amishare.checks.doctor import Diagnosis
from amishare.checks.gates import GateReport
from amishare.checks.shared_with_me import SharedImage
from amishare.checks.verify import Verification

GATES_SCHEMA = "amishare.gates/1"
VERIFY_SCHEMA = "amishare.verify/1"
DOCTOR_SCHEMA = "amishare.doctor/1"
AUDIT_SCHEMA = "amishare.audit/1"
SHARED_SCHEMA = "amishare.shared-with-me/1"


def gates_text(reports: list[GateReport]) -> str:
    """The three gates of each image for each target, with the verdict and each gate's reason."""
    if not reports:
        return "Not shared with anyone (name targets with --to to check them)."
    lines: list[str] = []
    current = None
    for row in reports:
        if row.image_id != current:
            current = row.image_id
            state = "" if row.image_state == "available" else f" ({row.image_state}: usable once available)"
            lines += ([""] if lines else []) + [f"{row.image_id}:{state}"]
        verdict = "can copy" if row.can_copy else "can launch, not copy" if row.can_launch else "cannot use it"
        lines.append(f"  {row.target}: {verdict}")
        for name, gate in (("launch", row.launch), ("snapshots", row.snapshots), ("key", row.key)):
            lines.append(f"    {name:<9} {gate.state:<7} {gate.reason}")
    return "\n".join(lines)


def gates_json(reports: list[GateReport]) -> dict[str, Any]:
    """``amishare.gates/1``: the gate reports."""
    return {"schema": GATES_SCHEMA, "gates": [r.to_dict() for r in reports]}


def verify_text(results: list[Verification]) -> str:
    """Each image: ok with its volumes and keys, or each problem found and its fix."""
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


def verify_json(results: list[Verification]) -> dict[str, Any]:
    """``amishare.verify/1``: each image, its volumes and findings."""
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


def doctor_text(result: Diagnosis, needs: tuple[str, ...]) -> str:
    """Each capability's verdict with its causes and fixes, and whether what ``needs`` asks works."""
    view = "the owner's and the target's view" if result.target_view else f"the owner's view: {result.target_note}"
    lines = []
    if result.source_image:
        lines.append(
            f"{result.source_image} is encrypted with aws/ebs, which cannot be shared: its re-encrypted copy "
            f"{result.image_id} is what amishare shares, so the copy is diagnosed"
        )
    lines.append(f"{result.image_id} for account {result.account} in {result.region} ({view}):")
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
    """``amishare.doctor/1``: the diagnosis, what was asked and whether it works."""
    return {"schema": DOCTOR_SCHEMA, **result.to_dict(), "needs": list(needs), "ok": result.works(needs)}


def shared_text(states: str | Mapping[str, str], images: list[SharedImage]) -> str:
    """Each image shared with this account: whence, and whether it can launch and copy it. ``states``: the
    Allowed AMIs state (of each region looked in)."""
    by_region = _by_region(states, images)
    several = len(by_region) > 1
    lines = []
    for region, state in by_region.items():
        if state == "enabled":
            where = f" in {region}" if several else " here"
            lines.append(
                f"note: Allowed AMIs is enabled{where}: images its criteria do not allow are hidden from this list"
            )
    if not images:
        where = f"in {', '.join(by_region)}" if several else "in this region"
        lines.append(f"No image is shared with this account {where}.")
    for shared in images:
        facts = shared.facts
        flags = [f for f, on in (("public", facts.public), ("deprecated", shared.deprecated)) if on]
        where = f" in {facts.region}" if several else ""
        lines.append(
            f"{facts.image_id} {facts.name} from {facts.owner}{where}" + (f" ({', '.join(flags)})" if flags else "")
        )
        lines.append(f"  launch: {shared.launch}")
        lines.append(f"  copy:   {shared.copy}")
    return "\n".join(lines)


def _by_region(states: str | Mapping[str, str], images: list[SharedImage]) -> dict[str, str]:
    """The Allowed AMIs state of each region (one state alone: the images' region, or "")."""
    if isinstance(states, str):
        return {images[0].facts.region if images else "": states}
    return dict(states)


def shared_json(states: str | Mapping[str, str], images: list[SharedImage]) -> dict[str, Any]:
    """``amishare.shared-with-me/1``: the Allowed AMIs state (``mixed`` when the regions differ; each region's in
    ``allowed_amis_by_region``) and each image shared with this account."""
    by_region = _by_region(states, images)
    distinct = set(by_region.values())
    return {
        "schema": SHARED_SCHEMA,
        "allowed_amis": distinct.pop() if len(distinct) == 1 else "mixed",
        "allowed_amis_by_region": {r: s for r, s in by_region.items() if r},
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


def audit_text(report: AuditReport) -> str:
    """What was scanned, what could not be read, then each finding, most severe first, with its fix."""
    scanned = ", ".join(f"{n} {what}" for what, n in report.scanned.items())
    lines = [f"scanned {scanned}"]
    if report.unread:
        accounts = len(report.unread_accounts)
        lines.append(
            f"NOT READ: {accounts} account{'s' if accounts != 1 else ''} asked for could not be read "
            f"({len(report.unread)} account-region{'s' if len(report.unread) != 1 else ''}): the findings below "
            "cover only what was read"
        )
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
    """``amishare.audit/1``: the counts, the findings and the matrix of images x principals."""
    return {
        "schema": AUDIT_SCHEMA,
        "scanned": dict(report.scanned),
        "errors": list(report.errors),
        "unread": [{"account": account, "region": region} for account, region in report.unread],
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


def leave_share_text(left: dict[str, Any]) -> str:
    """``leave-share``'s outcome (its ``amishare.leave-share/1`` document) for people."""
    what = f"{left['image_id']} ({left['name'] or 'no name'}, owner {left['owner']}) in {left['region']}"
    if not left["dropped"]:
        return f"Would remove account {left['account']} from the launch permission of {what}."
    lines = [f"Account {left['account']} left the share of {what}: the owner can share it again."]
    if left["still_visible"]:
        lines.append(
            "It is still visible to this account through its organization, an OU or publicly: only the owner "
            "can remove that."
        )
    return "\n".join(lines)
