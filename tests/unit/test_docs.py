"""The docs that restate code stay in step with it."""

from __future__ import annotations

from pathlib import Path

from amishare.engine.kinds import KINDS
from amishare.engine.permissions import READ_PERMISSIONS
from amishare.generate import iam_doc

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_iam_page_lists_the_permissions_the_code_declares() -> None:
    text = (DOCS / "iam.md").read_text()
    assert text == iam_doc.render(), "docs/iam.md is stale: python -m amishare.iamdoc > docs/iam.md"
    read = text.split("<!-- permissions:read -->", 1)[1].split("##", 1)[0]
    for permission in READ_PERMISSIONS:
        assert f"`{permission}`" in read
    for kind, cls in KINDS.items():
        section = text.split(f"### {kind.value}\n", 1)[1].split("###", 1)[0]
        for needed in cls.needs:
            assert f"`{needed.action}`" in section
