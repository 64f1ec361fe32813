"""The manifest (issue 17): the example loads into the model; every bad manifest is refused before any AWS call
with a ConfigError naming the file, the key and the fix; the published JSON Schema is the loader's own."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest

from amishare.errors import ConfigError
from amishare.generate import manifest_schema
from amishare.model import Target, TargetKind
from amishare.planners.manifest import (
    BySsmParameter,
    Defaults,
    DistributionSpec,
    ImageFamily,
    LaunchTemplate,
    Manifest,
    Mode,
    Retention,
    Safety,
    TargetGroup,
    TargetRef,
    load_manifest,
)
from tests.support.manifests import EXAMPLE, OU, REGIONS, example_config

DOCS = Path(__file__).resolve().parents[2] / "docs"
IMAGE = "[[image]] 1 (al2023-base) "


def _load(tmp_path: Path, text: str, name: str = "manifest.toml") -> Manifest:
    path = tmp_path / name
    path.write_text(text)
    return load_manifest(path, example_config(), REGIONS)


def _account(account: str, label: str = "") -> Target:
    return Target(TargetKind.ACCOUNT, account, label)


def test_the_example_loads_into_the_model(tmp_path: Path) -> None:
    dev, qa = _account("222222222222", "dev"), _account("444444444444", "qa")
    expected = Manifest(
        path=str(tmp_path / "manifest.toml"),
        defaults=Defaults(source=_account("111111111111", "build"), regions=("us-east-1", "eu-west-1")),
        targets={
            "prod": TargetGroup("prod", ous=(Target(TargetKind.OU, OU),), exclude=(_account("210987654321"),)),
            "nonprod": TargetGroup("nonprod", accounts=(dev, qa, _account("333333333333"))),
        },
        images=(
            ImageFamily(
                family="al2023-base",
                select=BySsmParameter("/golden/al2023/latest"),
                versions=2,
                distribute=(
                    DistributionSpec(
                        to=(TargetRef("nonprod", group="nonprod"),), mode=Mode.SHARE, regions=("us-east-1", "eu-west-1")
                    ),
                    DistributionSpec(
                        to=(TargetRef("prod", group="prod"),),
                        mode=Mode.TRANSFER,
                        regions=("us-east-1", "eu-west-1", "ap-southeast-2"),
                        ssm_parameter="/platform/ami/al2023",
                        launch_template=LaunchTemplate("web", set_default=True),
                        deprecate_after="180d",
                        tags={"team": "platform"},
                    ),
                ),
            ),
        ),
        retention=Retention(deprecate_after="30d", deregister_after="180d"),
        safety=Safety(prune=False, max_removals=25),
    )
    loaded = _load(tmp_path, EXAMPLE)
    assert loaded == expected
    assert loaded.regions == ("us-east-1", "eu-west-1", "ap-southeast-2")
    assert [str(t) for t in loaded.named_targets()] == [
        "dev (222222222222)",
        "qa (444444444444)",
        "333333333333",
        "ou-ab12-prod0001",
    ]
    settings = loaded.images[0].distribute[1].settings()  # what the existing planners take
    assert (settings.launch_template, settings.set_default, settings.deprecate_after) == ("web", True, 180 * 86400)


def test_defaults_fill_what_a_manifest_leaves_out(tmp_path: Path) -> None:
    minimal = (
        'version = 1\n[[image]]\nfamily = "app"\nselect = { id = "ami-0123456789abcdef0" }\n'
        '[[image.distribute]]\nto = ["222222222222", "arn:aws:organizations::111111111111:organization/o-abcdefghij"]\n'
        'mode = "share"\nregions = ["us-west-2"]\n'
    )
    loaded = _load(tmp_path, minimal)
    assert loaded.defaults == Defaults() and loaded.targets == {}
    assert (loaded.images[0].versions, loaded.safety, loaded.retention) == (1, Safety(False, 25), Retention())
    assert [r.target for r in loaded.images[0].distribute[0].to] == [
        _account("222222222222", "dev"),
        Target(TargetKind.ORGANIZATION, "arn:aws:organizations::111111111111:organization/o-abcdefghij"),
    ]


SECOND_IMAGE = (
    '\n[[image]]\nfamily = "al2023-base"\nselect = { name = "golden-*" }\n'
    '[[image.distribute]]\nto = ["dev"]\nmode = "share"\n'
)

# (id, text replaced in the example, its replacement, the key path the error names, words of the fix, whether the
# JSON Schema refuses it too: form and spelling, not references)
BAD: list[tuple[str, str, str, str, str, bool]] = [
    (
        "unknown key",
        '  mode = "share"',
        '  mdoe = "share"',
        f"{IMAGE}.distribute[1].mdoe",
        "did you mean 'mode'?",
        True,
    ),
    ("unknown section", "[safety]", "[safty]", "safty", "did you mean 'safety'?", True),
    (
        "unquoted account id",
        '"333333333333"]',
        "333333333333]",
        "[targets] nonprod.accounts[3] = 333333333333",
        'quoted string, "333333333333"',
        True,
    ),
    (
        "unquoted account id in to",
        'to = ["nonprod"]',
        'to = ["nonprod", 55555555555]',
        f"{IMAGE}.distribute[1].to[2] = 55555555555",
        'quoted string, "055555555555"',
        True,
    ),
    ("unquoted source", 'source = "build"', "source = 111111111111", "[defaults] source", "quoted string", True),
    (
        "unknown account name",
        '"dev", "qa"',
        '"deev", "qa"',
        "[targets] nonprod.accounts[1]",
        "did you mean 'dev'?",
        False,
    ),
    (
        "unknown target",
        'to = ["prod"]',
        'to = ["produ"]',
        f"{IMAGE}.distribute[2].to[1]",
        "did you mean 'prod'?",
        False,
    ),
    (
        "region typo",
        '"ap-southeast-2"]',
        '"ap-sotheast-2"]',
        f"{IMAGE}.distribute[2].regions[3]",
        "did you mean 'ap-southeast-2'?",
        False,
    ),
    (
        "malformed region",
        '"eu-west-1"]\n[targets]',
        '"eu-west"]\n[targets]',
        "[defaults] regions[2]",
        '"us-east-1"',
        True,
    ),
    ("region listed twice", '"eu-west-1", "ap', '"us-east-1", "ap', f"{IMAGE}.distribute[2].regions[2]", "twice", True),
    (
        "duplicate family",
        "max_removals = 25",
        "max_removals = 25" + SECOND_IMAGE,
        "[[image]] 2 (al2023-base) .family",
        "also the family of [[image]] 1",
        False,
    ),
    ("versions = 0", "versions = 2", "versions = 0", f"{IMAGE}.versions = 0", "at least 1", True),
    ("bad duration", '"180d"', '"180 days"', f"{IMAGE}.distribute[2].deprecate_after", 'like "30d"', True),
    ("no target", 'to = ["nonprod"]', "to = []", f"{IMAGE}.distribute[1].to", "at least 1 target", True),
    ("to missing", 'to = ["nonprod"]', "", f"{IMAGE}.distribute[1].to", 'is missing: add to = ["nonprod"]', True),
    ("mode misspelt", '"transfer"', '"transfr"', f"{IMAGE}.distribute[2].mode", "did you mean 'transfer'?", True),
    (
        "two select ways",
        '{ ssm_parameter = "/golden/al2023/latest" }',
        '{ ssm_parameter = "/golden/al2023/latest", name = "golden-*" }',
        f"{IMAGE}.select",
        "exactly one way",
        True,
    ),
    ("no select way", '{ ssm_parameter = "/golden/al2023/latest" }', "{}", f"{IMAGE}.select", "exactly one way", True),
    ("version = 2", "version = 1", "version = 2", "version = 2", "write version = 1", True),
    ("version as a float", "version = 1", "version = 1.0", "version = 1.0", "write version = 1", False),
    ("version missing", "version = 1", "", "version", "is missing: add version = 1", True),
    (
        "max_removals negative",
        "max_removals = 25",
        "max_removals = -1",
        "[safety] max_removals = -1",
        "at least 0",
        True,
    ),
    ("prune as a word", "prune = false", 'prune = "no"', "[safety] prune", "true or false", True),
    (
        "bad SSM parameter name",
        '"/platform/ami/al2023"',
        '"/platform/ami al2023"',
        f"{IMAGE}.distribute[2].ssm_parameter",
        "not an SSM parameter name",
        True,
    ),
    (
        "reserved SSM parameter name",
        '"/platform/ami/al2023"',
        '"/aws/ami"',
        f"{IMAGE}.distribute[2].ssm_parameter",
        "not beginning with aws",
        False,
    ),
    (
        "bad tag",
        '{ team = "platform" }',
        '{ "aws:team" = "platform" }',
        f"{IMAGE}.distribute[2].tags.aws:team",
        "not beginning with aws:",
        True,
    ),
    ("bad OU ARN (the issue's o-abc)", "o-abcdefghij", "o-abc", "[targets] prod.ous[1]", "is not an OU ARN", True),
    (
        "launch_template unknown key",
        "set_default = true",
        "default = true",
        f"{IMAGE}.distribute[2].launch_template.default",
        "did you mean 'set_default'?",
        True,
    ),
    (
        "launch_template without name",
        'name = "web", ',
        "",
        f"{IMAGE}.distribute[2].launch_template.name",
        "is missing: add name",
        True,
    ),
    (
        "bad family name",
        '"al2023-base"',
        '"al2023 base"',
        "[[image]] 1 (al2023 base) .family",
        "not a valid family name",
        True,
    ),
    ("group named as an account", "prod    = {", "dev = {", "[targets] dev", "rename the group", False),
    (
        "group naming nobody",
        'accounts = ["dev", "qa", "333333333333"]',
        'exclude = ["dev"]',
        "[targets] nonprod",
        "names nobody",
        False,
    ),
    (
        "target reached two ways",
        'to = ["nonprod"]',
        'to = ["nonprod", "prod"]',
        f"{IMAGE}.distribute[2].to",
        "one way per region",
        False,
    ),
    (
        "retention out of order",
        'deregister_after = "180d"',
        'deregister_after = "10d"',
        "[retention] deregister_after",
        "at least as long",
        False,
    ),
    (
        "no regions anywhere",
        'regions = ["us-east-1", "eu-west-1"]\n',
        "",
        f"{IMAGE}.distribute[1].regions",
        "[defaults] names none",
        False,
    ),
]


def _bad(old: str, new: str) -> str:
    assert old in EXAMPLE, old
    return EXAMPLE.replace(old, new, 1)


@pytest.mark.parametrize(("old", "new", "key", "fix"), [row[1:5] for row in BAD], ids=[row[0] for row in BAD])
def test_a_bad_manifest_names_the_file_the_key_and_the_fix(
    tmp_path: Path, old: str, new: str, key: str, fix: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        _load(tmp_path, _bad(old, new))
    message = str(raised.value)
    assert raised.value.exit_code == 3
    line = next((line for line in message.splitlines() if key in line), "")
    assert line.lstrip().startswith(f"{tmp_path / 'manifest.toml'}: {key}"), message
    assert fix in line, message


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    text = _bad("versions = 2", "versions = 0").replace('"transfer"', '"transfr"').replace('"qa"', '"qq"')
    with pytest.raises(ConfigError) as raised:
        _load(tmp_path, text)
    lines = str(raised.value).splitlines()
    assert lines[0] == f"{tmp_path / 'manifest.toml'}: 3 problems"
    assert [line.split(": ", 2)[1] for line in lines[1:]] == [
        '[targets] nonprod.accounts[2] = "qq"',
        f"{IMAGE}.versions = 0",
        f'{IMAGE}.distribute[2].mode = "transfr"',
    ]


def test_yaml_is_refused_and_says_why(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"manifest\.yaml: a manifest is TOML, not YAML: .* octal") as raised:
        _load(tmp_path, "version: 1\n", name="manifest.yaml")
    assert "manifest.toml" in str(raised.value)  # the fix: the same name, as TOML


def test_a_missing_file_and_bad_toml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist: check -f"):
        load_manifest(tmp_path / "nope.toml", example_config())
    with pytest.raises(ConfigError, match=r'not valid TOML .*an account id is a quoted string, e\.g\. "012345678901"'):
        _load(tmp_path, _bad('"333333333333"]', "012345678901]"))


def test_regions_are_checked_by_form_alone_without_known_regions(tmp_path: Path) -> None:
    path = tmp_path / "manifest.toml"
    path.write_text(_bad('"ap-southeast-2"]', '"ap-sotheast-2"]'))
    assert load_manifest(path, example_config()).regions[-1] == "ap-sotheast-2"


# The JSON Schema --------------------------------------------------------------------------------------------------


def test_the_published_schema_is_the_loaders_own() -> None:
    text = (DOCS / "manifest.schema.json").read_text()
    assert text == manifest_schema.render(), (
        "docs/manifest.schema.json is stale: python -m amishare.generate.manifest_schema > docs/manifest.schema.json"
    )
    jsonschema.Draft7Validator.check_schema(json.loads(text))


def _schema_errors(text: str) -> list[str]:
    validator = jsonschema.Draft7Validator(manifest_schema.manifest_schema())
    return [error.message for error in validator.iter_errors(tomllib.loads(text))]


def test_the_example_validates_against_the_schema() -> None:
    assert _schema_errors(EXAMPLE) == []


@pytest.mark.parametrize(("old", "new"), [row[1:3] for row in BAD if row[5]], ids=[row[0] for row in BAD if row[5]])
def test_the_schema_refuses_what_is_wrong_in_form(old: str, new: str) -> None:
    assert _schema_errors(_bad(old, new))


def _properties(schema: object) -> set[str]:
    if isinstance(schema, dict):
        return set(schema.get("properties", {})) | {k for v in schema.values() for k in _properties(v)}
    if isinstance(schema, list):
        return {k for v in schema for k in _properties(v)}
    return set()


def test_the_manifest_page_explains_every_key() -> None:
    page = (DOCS / "manifest.md").read_text()
    keys = _properties(manifest_schema.manifest_schema())
    assert {"version", "select", "set_default", "max_removals", "exclude"} <= keys
    assert {k for k in keys if f"`{k}`" not in page and f"[{k}]" not in page} == set()  # a key, or a [section]
