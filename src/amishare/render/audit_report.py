"""The audit as files (pure): CSV of the findings, and one self-contained HTML report.

The HTML report needs nothing but a browser: styles inline, no script, no external resource. Its picture
is a matrix of images (rows) x principals (columns), each cell coloured by how many of the three gates
(launch permission, snapshot permission, key access) are open for that principal, with the gates in its
tooltip; then the findings, most severe first.
"""

from __future__ import annotations

import csv
import io
import json
from html import escape
from typing import Any

from amishare.checks.audit import SEVERITIES, AuditReport, Cell

CSV_FIELDS = ("severity", "code", "account", "region", "image", "resource", "principal", "detail", "fix")
_COLOURS = {3: "#1b7f3b", 2: "#e0a800", 1: "#f3c892", 0: "#eeeeee"}
_SEVERITY_COLOURS = {"critical": "#b00020", "high": "#d9480f", "medium": "#e0a800", "low": "#5c7cfa"}


def audit_csv(report: AuditReport) -> str:
    """The findings as CSV, one row each (``CSV_FIELDS``)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for finding in report.findings:
        writer.writerow(finding.to_dict())
    return out.getvalue()


def audit_html(report: AuditReport, title: str = "amishare audit") -> str:
    """The self-contained HTML report: the matrix of images x principals, then the findings."""
    counts = " ".join(
        f'<span class="badge" style="background:{_SEVERITY_COLOURS[s]}">{report.count(s)} {s}</span>'
        for s in SEVERITIES
    )
    scanned = ", ".join(f"{n} {what}" for what, n in report.scanned.items())
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>Scanned {escape(scanned)}. Findings: {counts}</p>",
        *(f'<p class="error">Not read: {escape(e)}</p>' for e in report.errors),
        "<h2>Who can use what</h2>",
        "<p>Each cell: how many of the gates that apply (launch permission, snapshot permission, key access) are "
        "open for that principal. <b>3/3</b>: it can launch and copy; fewer: some of it is open, which is either "
        "deliberate (launch only) or a share that does not work. A red frame: a finding is about that principal "
        "(see below). Hover a cell for its gates.</p>",
        _legend(),
        _matrix(report),
        "<h2>Findings</h2>",
        _findings(report),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _legend() -> str:
    cells = "".join(
        f'<span class="cell" style="background:{_COLOURS[n]};color:{"#fff" if n == 3 else "#222"}">{label}</span>'
        for n, label in ((3, "all open"), (2, "two open"), (1, "one open"), (0, "none"))
    )
    return f'<p class="legend">{cells}</p>'


def _matrix(report: AuditReport) -> str:
    shared = {k: row for k, row in report.matrix.items() if row}
    if not shared:
        return "<p>No image is shared with anyone.</p>"
    principals = [p for p in report.principals if any(p in row for row in shared.values())]
    head = "".join(f'<th class="principal"><div>{escape(_short(p))}</div></th>' for p in principals)
    flagged = _flagged(report)
    rows = []
    for (account, image_id), row in sorted(shared.items(), key=lambda kv: (kv[0][0], report.images[kv[0]].region)):
        image = report.images[(account, image_id)]
        where = " · ".join(escape(x) for x in (image_id, account, image.region))
        label = f"{escape(image.name or image_id)}<br><small>{where}</small>"
        cells = "".join(_cell(row.get(p), (account, image_id, p) in flagged) for p in principals)
        rows.append(f'<tr><th class="image">{label}</th>{cells}</tr>')
    hidden = len(report.matrix) - len(shared)
    note = f"<p>{hidden} image(s) shared with no one are not shown.</p>" if hidden else ""
    table = f'<table class="matrix"><thead><tr><th></th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    return table + note


def _flagged(report: AuditReport) -> set[tuple[str, str, str]]:
    """(account, image, principal) of every cell a finding is about: the image itself, or its snapshots or keys."""
    out = set()
    for (account, image_id), image in report.images.items():
        resources = {image_id, *(s.snapshot_id for s in image.snapshots), *image.key_arns}
        for finding in report.findings:
            if finding.account == account and finding.principal and (finding.image or finding.resource) in resources:
                out.add((account, image_id, finding.principal))
    return out


def _short(principal: str) -> str:
    return principal.rsplit("/", 1)[-1] if principal.startswith("arn:") else principal


def _cell(cell: Cell | None, flagged: bool) -> str:
    if cell is None:
        return '<td class="none"></td>'
    shade = _COLOURS[round(3 * cell.open / cell.of) if cell.of else 0]
    ink = "#fff" if cell.open == cell.of and cell.of else "#222"
    tip = f"launch: {cell.launch}; snapshots: {cell.snapshots}; key: {cell.key}" + ("; see findings" if flagged else "")
    mark = ' class="flagged"' if flagged else ""
    return f'<td{mark} style="background:{shade};color:{ink}" title="{escape(tip)}">{cell.open}/{cell.of}</td>'


def _findings(report: AuditReport) -> str:
    if not report.findings:
        return "<p>No finding.</p>"
    rows = []
    for f in report.findings:
        where = " · ".join(escape(x) for x in (f.account, f.region, f.image or f.resource) if x)
        rows.append(
            "<tr>"
            f'<td><span class="badge" style="background:{_SEVERITY_COLOURS[f.severity]}">{f.severity}</span></td>'
            f"<td><code>{escape(f.code)}</code></td><td>{where}</td><td>{escape(f.principal)}</td>"
            f'<td>{escape(f.detail)}<div class="fix">fix: <code>{escape(f.fix)}</code></div></td>'
            "</tr>"
        )
    head = "<tr><th>severity</th><th>code</th><th>where</th><th>principal</th><th>what, and the fix</th></tr>"
    return f'<table class="findings"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


_STYLE = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:24px 0 8px}
.badge{display:inline-block;color:#fff;border-radius:10px;padding:1px 8px;font-size:12px;margin-right:4px}
.legend .cell{display:inline-block;padding:2px 10px;margin-right:6px;border-radius:3px;font-size:12px}
table{border-collapse:collapse}
.matrix td{width:44px;height:26px;text-align:center;border:1px solid #fff;font-size:12px}
.matrix td.none{background:#fafafa}
.matrix td.flagged{outline:2px solid #b00020;outline-offset:-3px;font-weight:700}
.matrix th.image{text-align:left;font-weight:600;padding:4px 10px 4px 0;white-space:nowrap}
.matrix th.image small{font-weight:400;color:#666}
.matrix th.principal{height:130px;vertical-align:bottom;padding:0}
.matrix th.principal div{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:400;font-size:12px;
  padding:4px 0;margin:0 auto}
.findings td,.findings th{border-bottom:1px solid #e5e5e5;padding:6px 8px;text-align:left;vertical-align:top}
.findings .fix{color:#555;margin-top:2px}.error{color:#b00020}
code{font-size:12px;background:#f4f4f4;padding:0 3px;border-radius:3px}
"""


REPORT_SUFFIXES = (".html", ".htm", ".csv", ".json")  # the formats --report writes, by the file's extension


def report_for(path: str, report: AuditReport, document: dict[str, Any]) -> str:
    """The report in the format ``path``'s extension names (.html, .csv, .json)."""
    if path.endswith((".html", ".htm")):
        return audit_html(report)
    if path.endswith(".csv"):
        return audit_csv(report)
    return json.dumps(document, indent=2) + "\n"
