"""``amishare engine package --out FILE.zip``: what it prints, an --out it cannot write refused before any work
(exit 2), a bundle Lambda would refuse refused (exit 9) with the previous file left as it was. The real bundle,
built by this command and run from its extraction, is tests/integration/test_lambda_bundle.py.

``amishare engine template --out DIR --manifest FILE``: the stack and a README whose commands run as printed (the
bundle it asks for carries the manifest and the runner's config), what it cannot write refused (exit 2), a bad
manifest refused (exit 3) with nothing written and no AWS library loaded."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from amishare.cli.main import cli
from amishare.generate import lambda_bundle
from tests.support.manifests import CONFIG, EXAMPLE


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


# ------------------------------------------------------------------------------------------- engine template
@pytest.fixture
def deployed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with issue 17's manifest and its amishare.toml (with this machine's profile and journal), the
    current directory as a user runs the commands from."""
    (tmp_path / "amishare.toml").write_text(
        CONFIG + '[defaults]\nregion = "eu-west-1"\nrole_name = "AmiShareRole"\nprofile = "build"\n'
        'journal = "journal.sqlite3"\n'
    )
    (tmp_path / "manifest.toml").write_text(EXAMPLE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _template(*args: str) -> Result:
    return CliRunner().invoke(cli, ["engine", "template", "--manifest", "manifest.toml", *args])


def test_template_writes_the_stack_and_a_readme_whose_commands_run_as_printed(small: None, deployed: Path) -> None:
    result = _template("--out", "stack", "--config", "amishare.toml", "--bundle-bucket", "my-artifacts")
    assert result.exit_code == 0, result.output
    assert result.output == (
        "Wrote stack/engine.json (9 resources; triggers: ParameterAl2023Base, Reconcile) and stack/README.md "
        "(how to deploy it)\n"
    )
    stack = json.loads((deployed / "stack" / "engine.json").read_text())
    assert stack["Parameters"]["CodeBucket"]["Default"] == "my-artifacts"
    readme = (deployed / "stack" / "README.md").read_text()
    commands = [" ".join(c.split()) for c in re.findall(r"^    (\S.*?)(?<!\\)$", readme.replace("\\\n", ""), re.M)]
    assert commands == [
        "amishare --config amishare.toml engine package --manifest manifest.toml --out amishare-engine.zip",
        "aws s3 cp amishare-engine.zip s3://my-artifacts/amishare-engine.zip --region eu-west-1",
        "aws cloudformation deploy --template-file stack/engine.json --stack-name amishare-engine --capabilities "
        "CAPABILITY_NAMED_IAM --s3-bucket my-artifacts --region eu-west-1 --parameter-overrides "
        "CodeBucket=my-artifacts CodeKey=amishare-engine.zip",
        "aws cloudformation describe-stacks --stack-name amishare-engine --region eu-west-1 --query "
        "\"Stacks[0].Outputs[?OutputKey=='JournalUrl'].OutputValue\" --output text",
    ]
    # the first, amishare's own, run as printed: the bundle carries the manifest and the config the runner reads
    built = CliRunner().invoke(cli, shlex.split(commands[0])[1:])
    assert built.exit_code == 0, built.output
    assert "Manifest: manifest.toml (as amishare.manifest.toml, amishare.toml)" in built.output
    with zipfile.ZipFile(deployed / "amishare-engine.zip") as archive:
        assert archive.read("amishare.manifest.toml") == EXAMPLE.encode()
        carried = tomllib.loads(archive.read("amishare.toml").decode())
    assert carried["defaults"] == {"region": "eu-west-1", "role_name": "AmiShareRole"}  # no profile, no journal
    assert carried["accounts"]["dev"] == {"id": "222222222222"}


def test_template_without_a_bucket_prints_how_to_make_one(deployed: Path) -> None:
    assert _template("--out", "stack", "--config", "amishare.toml").exit_code == 0
    readme = (deployed / "stack" / "README.md").read_text()
    assert "    BUCKET=amishare-engine-$(aws sts get-caller-identity --query Account --output text)\n" in readme
    assert '    aws s3 mb "s3://$BUCKET" --region eu-west-1\n' in readme
    assert 'aws s3 cp amishare-engine.zip "s3://$BUCKET/amishare-engine.zip"' in readme
    assert 'CodeBucket="$BUCKET"' in readme and "$BUCKET" in readme.split("--s3-bucket ", 1)[1].split()[0]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--out", "manifest.toml"), "--out manifest.toml is a file: give a directory"),
        (("--out", "stack", "--budget", "900"), "--budget 900: a slice's budget is 1 to 840 seconds"),
        (("--out", "stack", "--schedule", "every day"), "--schedule 'every day': an EventBridge schedule expression"),
    ],
)
def test_template_refuses_what_it_cannot_write_with_exit_2(deployed: Path, args: tuple[str, ...], words: str) -> None:
    result = _template(*args, "--config", "amishare.toml")
    assert result.exit_code == 2 and f"error: {words}" in result.output, result.output
    assert not (deployed / "stack").exists()


def test_a_bad_manifest_exits_3_before_anything_is_written_or_built(
    deployed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (deployed / "manifest.toml").write_text(EXAMPLE.replace('mode = "share"', 'mode = "shrae"'))
    result = _template("--out", "stack", "--config", "amishare.toml")
    assert result.exit_code == 3 and 'must be "share" or "transfer": did you mean \'share\'?' in result.output
    assert not (deployed / "stack").exists()
    monkeypatch.setattr(lambda_bundle, "build", lambda *a: pytest.fail("built"))
    packed = CliRunner().invoke(cli, ["engine", "package", "--out", "x.zip", "--manifest", "manifest.toml"])
    assert packed.exit_code == 3 and "mode" in packed.output and not (deployed / "x.zip").exists()


@pytest.mark.slow
def test_template_loads_no_aws_library(deployed: Path) -> None:
    """No boto3 or botocore loaded: no session can exist and no call can be made, even for a bad manifest."""
    (deployed / "bad.toml").write_text(EXAMPLE.replace("version = 1", "version = 2"))
    probe = (
        "import sys\nfrom amishare.cli.main import main\n"
        "results = []\n"
        "for manifest in ('manifest.toml', 'bad.toml'):\n"
        "    sys.argv = ['amishare', 'engine', 'template', '--out', 'stack', '--manifest', manifest, "
        "'--config', 'amishare.toml']\n"
        "    try:\n        main()\n    except SystemExit as exit:\n        results.append(exit.code)\n"
        "print('exits', results, sorted({m.split('.')[0] for m in sys.modules} & {'boto3', 'botocore', 'moto'}))\n"
    )
    environment = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    shown = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=deployed,
        env={**os.environ, **environment, "PYTHONPATH": os.pathsep.join(sys.path)},
    ).stdout
    assert shown.splitlines()[-1] == "exits [0, 3] []", shown


@pytest.mark.parametrize("bucket", [["--bundle-bucket", "my-artifacts"], []], ids=["bucket", "no-bucket"])
def test_the_engine_readme_s_commands_parse_where_they_are_run(small: None, deployed: Path, bucket: list[str]) -> None:
    """Every command of the README `engine template` writes parses, by amishare's and the AWS CLI's own parsers, in
    the folder it is run from (``--template-file`` reads the stack written there)."""
    from tests.unit.test_printed_commands import judge, shell_commands

    assert _template("--out", "stack", "--config", "amishare.toml", *bucket).exit_code == 0
    readme = (deployed / "stack" / "README.md").read_text()
    code = [line[4:] for line in readme.splitlines() if line.startswith("    ")]
    shell = "\n".join(code).replace("\\\n", " ")
    # the shell's part: $BUCKET as the README's BUCKET=... line sets it; the bundle its first command builds
    bucket = "amishare-engine-123456789012"
    shell = shell.replace("\"$BUCKET\"", bucket).replace("$BUCKET", bucket)
    (deployed / "amishare-engine.zip").write_bytes(b"the bundle")
    found = [words for line in shell.splitlines() for words in shell_commands(line) if words]
    assert {tuple(w[:2]) for w in found} >= {("aws", "cloudformation"), ("aws", "s3")}
    for words in found:
        problem = judge(words, False, deployed)
        assert problem is None, f"{' '.join(words)!r} does not parse: {problem}"
