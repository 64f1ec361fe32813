"""The Lambda bundle as Lambda uses it: built by ``amishare engine package``, extracted, and its handler run by a
Python that sees only the bundle and the standard library (``-S -I``: no site-packages, no PYTHONPATH), as
Lambda's runtime runs ``amishare.api.runner.lambda_handler`` from /var/task: the handler loads, every module it
loads comes from the bundle or the standard library, and it plans a family's run against the local AWS with
the bundle's own botocore."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from amishare import api
from tests.integration.test_journal_backends import URL
from tests.integration.test_runner import engine  # noqa: F401 (the fixture)
from tests.support.world import OWNER, REGION

# Run by ``python -S -I -c``: the bundle first on sys.path, as /var/task is on Lambda's; then one request
_HANDLER = """
import json, sys
bundle = sys.argv[1]
sys.path.insert(0, bundle)
import amishare.api.runner as runner
from amishare.errors import UsageError
try:
    answer = runner.lambda_handler(json.loads(sys.argv[2]), None)
except UsageError as error:
    answer = {"UsageError": str(error)}
elsewhere = sorted(
    name for name, module in list(sys.modules.items())
    if getattr(module, "__file__", None) and not module.__file__.startswith(tuple(p for p in sys.path if p))
)
print(json.dumps({"answer": answer, "path": sys.path, "elsewhere": elsewhere,
                  "botocore": sys.modules["botocore"].__file__}))
"""


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``amishare engine package`` run as a user runs it, its zip extracted as Lambda extracts it."""
    folder = tmp_path_factory.mktemp("engine")
    built = subprocess.run(
        [sys.executable, "-m", "amishare", "engine", "package", "--out", str(folder / "amishare-engine.zip")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    assert "Handler: amishare.api.runner.lambda_handler" in built.stdout
    assert "Runtime: python3.11 or python3.12" in built.stdout
    with zipfile.ZipFile(folder / "amishare-engine.zip") as archive:
        archive.extractall(folder / "task")
    return folder / "task"


def _handle(bundle: Path, request: dict[str, Any], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-S", "-I", "-c", _HANDLER, str(bundle), json.dumps(request)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["path"][0] == str(bundle)
    assert not [p for p in result["path"] if "site-packages" in p], result["path"]  # the venv is not visible
    assert result["elsewhere"] == [], "modules loaded from outside the bundle and the standard library"
    assert result["botocore"].startswith(str(bundle))
    return result


@pytest.mark.slow
def test_the_handler_loads_from_the_bundle_alone(bundle: Path, tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "AWS_REGION": REGION, "AMISHARE_JOURNAL": URL}
    env["PYTHONPATH"] = str(Path(api.__file__).parents[2])  # this amishare's sources: -I leaves them out
    answer = _handle(bundle, {"action": "nope"}, tmp_path, env)["answer"]
    assert answer == {"UsageError": "unknown request 'nope': the runner serves plan, slice, left, report, hand-over"}


@pytest.mark.slow
def test_the_bundle_s_handler_plans_a_family_s_run_against_the_local_aws(bundle: Path, engine: Any) -> None:  # noqa: F811
    sb, folder, settings = engine
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(folder), **sb.credentials(OWNER)}
    request = {"action": "plan", "manifest": str(folder / "estate.toml"), "family": "base", "trigger": "e-1"}
    answer = _handle(bundle, request, folder, env)["answer"]
    assert answer["status"] == "paused" and answer["run_id"], answer
    recorded = api.runs(settings)  # in the table, seen from this process
    assert [run.run_id for run in recorded] == [answer["run_id"]]
