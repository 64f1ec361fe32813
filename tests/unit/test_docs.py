"""The docs that restate code stay in step with it."""

from __future__ import annotations

import re
from pathlib import Path

from amishare.actions import PERMISSIONS
from amishare.aws.observe import READ_PERMISSIONS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_iam_page_lists_the_permissions_the_code_declares() -> None:
    text = (DOCS / "iam.md").read_text()
    read = text.split("<!-- permissions:read -->", 1)[1].split("##", 1)[0]
    assert re.findall(r"`([a-z0-9]+:[A-Za-z*]+)`", read) == list(READ_PERMISSIONS)
    table = text.split("<!-- permissions:actions -->", 1)[1]
    rows = {
        m.group(1): re.findall(r"`([a-z0-9]+:[A-Za-z*]+)`", m.group(2))
        for m in re.finditer(r"^\| (\w+) \| (.+) \|$", table, re.MULTILINE)
        if m.group(1) != "action"
    }
    assert rows == {kind.value: list(perms) for kind, perms in PERMISSIONS.items()}
