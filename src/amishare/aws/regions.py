"""The regions EC2 has, read from botocore's bundled endpoint data without importing boto3 or botocore.

For commands that make no AWS call and should not pay for (or be able to make) one, such as ``amishare manifest
validate``: ``session.known_regions`` asks a boto3 session for the same list (a test keeps the two equal).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any

ENDPOINTS = ("endpoints.json", "endpoints.json.gz")  # botocore/data/, plain or (in some releases) compressed


@cache
def known_regions() -> tuple[str, ...]:
    """Every region of every partition where EC2 has a regional endpoint, sorted; empty when botocore's data
    cannot be found (then a region is checked by its form alone)."""
    data = _endpoints()
    found = {
        name
        for partition in data.get("partitions", [])
        for name in partition.get("services", {}).get("ec2", {}).get("endpoints", {})
        if name in partition.get("regions", {})
    }
    return tuple(sorted(found))


def _endpoints() -> dict[str, Any]:
    spec = importlib.util.find_spec("botocore")  # finds the package without importing it
    if spec is None or spec.origin is None:
        return {}
    folder = Path(spec.origin).parent / "data"
    for name in ENDPOINTS:
        path = folder / name
        if path.is_file():
            raw = path.read_bytes()
            loaded: dict[str, Any] = json.loads(gzip.decompress(raw) if name.endswith(".gz") else raw)
            return loaded
    return {}
