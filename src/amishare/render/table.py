"""``--output table`` (pure): any JSON document's main list as an aligned text table."""

from __future__ import annotations

from typing import Any

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
    rows = _main_rows(document)
    if rows is None:
        return "(nothing)"
    return _aligned([_flat(row) for row in rows])


def _main_rows(document: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The first non-empty list of ``TABLE_LISTS`` in the document or its plan (None: there is none)."""
    plan = document.get("plan")
    places = [document, plan] if isinstance(plan, dict) else [document]
    if isinstance(document.get("capabilities"), dict):  # doctor: one row per capability and cause
        places = [{"rows": _capability_rows(document["capabilities"])}]
    rows = next((p[k] for k in TABLE_LISTS for p in places if isinstance(p.get(k), list) and p[k]), None)
    if not rows or not isinstance(rows[0], dict):
        return None
    if len(rows) == 1 and isinstance(rows[0].get("actions"), list) and rows[0]["actions"]:
        return list(rows[0]["actions"])  # one run (runs show): its actions
    return list(rows)


def _aligned(rows: list[dict[str, Any]]) -> str:
    """The plain fields of the first row as columns, every row's values left-aligned under them."""
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
