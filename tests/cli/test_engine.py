"""``amishare engine package --out FILE.zip``: what it prints, an --out it cannot write refused before any work
(exit 2), a bundle Lambda would refuse refused (exit 9) with the previous file left as it was. The real bundle,
built by this command and run from its extraction, is tests/integration/test_lambda_bundle.py."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from amishare.cli.main import cli
from amishare.generate import lambda_bundle


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundle's files stood in for by one small file: the command's own behaviour, in milliseconds."""
    monkeypatch.setattr(lambda_bundle, "contents", lambda found: {"amishare/__init__.py": b"X = 1\n" * 1000})


def test_package_says_what_it_wrote_and_what_to_configure(small: None, tmp_path: Path) -> None:
    out = tmp_path / "amishare-engine.zip"
    out.write_bytes(b"an older bundle")
    result = CliRunner().invoke(cli, ["engine", "package", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"Wrote {out}: 0.0 MB zipped, 0.0 MB unzipped (1 files; Lambda takes 50 MB zipped")
    assert lines[1].startswith("Distributions: amishare ") and " boto3 " in lines[1] and "click" not in lines[1]
    assert lines[2].startswith("Left out: click, ") and "rich" in lines[2]
    assert lines[3:5] == [
        "Handler: amishare.api.runner.lambda_handler",
        "Runtime: python3.11 or python3.12 (pure Python: x86_64 or arm64)",
    ]
    assert lines[5].startswith("CodeSha256: ") and len(lines) == 6
    with zipfile.ZipFile(out) as archive:  # replaced
        assert archive.namelist() == ["amishare/__init__.py"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "missing/engine.zip",
            "--out {tmp}/missing/engine.zip: the directory {tmp}/missing does not exist: create it "
            "(mkdir -p {tmp}/missing)",
        ),
        (".", "--out {tmp}/. is a directory: give a file name in it"),
        ("engine.tar.gz", "--out {tmp}/engine.tar.gz: the bundle is a zip: end the file name with .zip"),
    ],
)
def test_an_out_that_cannot_be_the_bundle_is_refused_before_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, message: str
) -> None:
    monkeypatch.setattr(lambda_bundle, "build", lambda out: pytest.fail("built"))
    result = CliRunner().invoke(cli, ["engine", "package", "--out", f"{tmp_path}/{name}"])
    assert result.exit_code == 2, result.output
    assert f"error: {message.format(tmp=tmp_path)}" in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_bundle_over_lambda_s_limit_exits_9_and_leaves_the_previous_one(
    small: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lambda_bundle, "MAX_ZIPPED", 100)
    out = tmp_path / "amishare-engine.zip"
    out.write_bytes(b"an older bundle")
    result = CliRunner().invoke(cli, ["engine", "package", "--out", str(out)])
    assert result.exit_code == 9, result.output
    assert "bytes zipped and 6,000 unzipped; Lambda takes at most 100 zipped" in result.output
    assert out.read_bytes() == b"an older bundle" and list(tmp_path.iterdir()) == [out]
