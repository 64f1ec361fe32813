"""``amishare manifest validate`` as a user types it: a summary and exit 0, or every problem and exit 3; no AWS
library is even loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from amishare.aws import regions, session
from amishare.cli.main import cli
from tests.support.manifests import CONFIG, EXAMPLE


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "amishare.toml").write_text(CONFIG)
    (tmp_path / "manifest.toml").write_text(EXAMPLE)
    return tmp_path


def _validate(files: Path, *args: str, manifest: str = "manifest.toml") -> Result:
    return CliRunner().invoke(
        cli, ["manifest", "validate", "-f", str(files / manifest), "--config", str(files / "amishare.toml"), *args]
    )


def test_a_valid_manifest_prints_its_summary(files: Path) -> None:
    result = _validate(files)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"{files / 'manifest.toml'}: valid (amishare.manifest/1); no AWS call was made"
    assert lines[1] == "source: build (111111111111)"
    assert lines[2].startswith(
        "1 family, 2 distributions, 2 target groups (4 targets named: 3 accounts, 1 OU), 3 regions"
    )
    assert "  transfer  to prod     in us-east-1, eu-west-1, ap-southeast-2" in lines
    assert "  nonprod  dev (222222222222), qa (444444444444), 333333333333" in lines


def test_json_is_the_summary_document(files: Path) -> None:
    result = _validate(files, "--output", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["schema"], document["manifest_schema"], document["valid"]) == (
        "amishare.manifest-summary/1",
        "amishare.manifest/1",
        True,
    )
    assert document["counts"] == {"families": 1, "distributions": 2, "target_groups": 2, "targets": 4, "regions": 3}
    transfer = document["families"][0]["distribute"][1]
    assert transfer["launch_template"] == {"name": "web", "set_default": True}
    assert document["targets"]["prod"]["exclude"] == [{"kind": "account", "value": "210987654321", "label": ""}]


def test_a_bad_manifest_exits_3_naming_each_problem(files: Path) -> None:
    (files / "bad.toml").write_text(
        EXAMPLE.replace('"transfer"', '"transfr"').replace('"eu-west-1", "ap', '"eu-wset-1", "ap')
    )
    result = _validate(files, manifest="bad.toml")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {files / 'bad.toml'}: 2 problems",
        f'  {files / "bad.toml"}: [[image]] 1 (al2023-base) .distribute[2].mode = "transfr": must be "share" or '
        "\"transfer\": did you mean 'transfer'?",
        f'  {files / "bad.toml"}: [[image]] 1 (al2023-base) .distribute[2].regions[2] = "eu-wset-1": is not a known '
        "AWS region: did you mean 'eu-west-1'?",
    ]
    as_json = _validate(files, "--output", "json", manifest="bad.toml")
    error = json.loads(as_json.stdout)["error"]
    assert (as_json.exit_code, error["code"], error["exit"]) == (3, "ConfigError", 3)


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("manifest.yaml", "version: 1\n", "a manifest is TOML, not YAML"),
        ("absent.toml", None, "does not exist: check -f"),
        ("unquoted.toml", EXAMPLE.replace('"333333333333"]', "333333333333]"), 'quoted string, "333333333333"'),
    ],
)
def test_what_cannot_be_a_manifest_exits_3(files: Path, name: str, text: str | None, words: str) -> None:
    if text is not None:
        (files / name).write_text(text)
    result = _validate(files, manifest=name)
    assert result.exit_code == 3 and words in result.stderr, result.output


def test_validate_loads_no_aws_library(files: Path) -> None:
    """Stronger than an empty call log: without boto3 or botocore loaded, no session can exist and no call can
    be made, whatever the environment's credentials and endpoint say."""
    probe = (
        "import sys\nfrom amishare.cli.main import main\n"
        f"sys.argv = ['amishare', 'manifest', 'validate', '-f', {str(files / 'manifest.toml')!r}, "
        f"'--config', {str(files / 'amishare.toml')!r}]\n"
        "code = None\ntry:\n    main()\nexcept SystemExit as exit:\n    code = exit.code\n"
        "print('exit', code, sorted({m.split('.')[0] for m in sys.modules} & {'boto3', 'botocore', 'moto'}))\n"
    )
    environment = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    shown = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env={**os.environ, **environment}
    ).stdout
    assert "valid (amishare.manifest/1)" in shown
    assert shown.splitlines()[-1] == "exit 0 []", shown


def test_the_regions_read_without_boto3_are_the_regions_boto3_knows() -> None:
    assert regions.known_regions() == tuple(session.known_regions())
    assert "us-east-1" in regions.known_regions()
