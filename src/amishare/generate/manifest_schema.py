"""docs/manifest.schema.json: the JSON Schema of a manifest (``amishare.manifest/1``), so editors can check one.

Made from the very tables the loader reads a manifest with (``planners/manifest/spec.py``): a key added there
is in the schema at once. The schema checks form and spelling; ``amishare manifest validate`` also checks the
references (target groups, amishare.toml's accounts, known regions) and the rules between keys.
Regenerate with ``python -m amishare.generate.manifest_schema > docs/manifest.schema.json``.
"""

from __future__ import annotations

import json
from typing import Any

from amishare.planners.manifest.model import MANIFEST_SCHEMA
from amishare.planners.manifest.spec import DOCUMENT

# draft-07: the dialect editors read most widely (the schema uses nothing later drafts added)
JSON_SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"


def manifest_schema() -> dict[str, Any]:
    """The JSON Schema (draft-07) of ``amishare.manifest/1``, each key with its meaning as description."""
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": MANIFEST_SCHEMA,
        "description": "amishare's manifest of desired state: which image families go to which accounts, OUs and "
        "organizations, in which regions, shared or transferred (docs/manifest.md).",
        "type": "object",
        "additionalProperties": False,
        "required": [key for key, spec in DOCUMENT.items() if spec.required],
        "properties": {key: spec.schema() for key, spec in DOCUMENT.items()},
    }


def render() -> str:
    """docs/manifest.schema.json's text."""
    return json.dumps(manifest_schema(), indent=2) + "\n"


if __name__ == "__main__":
    print(render(), end="")  # noqa: T201
