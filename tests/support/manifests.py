"""The manifest of issue 17's example (its OU ARN's organization id made valid: o- and 10 to 32 characters) and
an amishare.toml that names its accounts, for the manifest's unit and command-line tests; and a builder of the
smaller manifests other tests write (``build_manifest``, ``family``, ``distribute``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from amishare import config

OU = "arn:aws:organizations::111111111111:ou/o-abcdefghij/ou-ab12-prod0001"
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2")  # the known regions the unit tests pass

EXAMPLE = f"""\
version = 1
[defaults]
source = "build"                       # an [accounts.NAME] of amishare.toml, or an account id
regions = ["us-east-1", "eu-west-1"]
[targets]                              # named groups, expanded on every plan
prod    = {{ ous = ["{OU}"], exclude = ["210987654321"] }}
nonprod = {{ accounts = ["dev", "qa", "333333333333"] }}
[[image]]
family = "al2023-base"                 # the stable name of everything below
select = {{ ssm_parameter = "/golden/al2023/latest" }}   # or {{ name = "golden-al2023-*" }} (newest),
                                       # {{ tags = {{ os = "al2023" }} }} (newest), {{ id = "ami-..." }}
versions = 2                           # the newest 2 stay distributed; older ones are withdrawn
  [[image.distribute]]
  to = ["nonprod"]                     # group names, account names or ids, OU or organization ARNs
  mode = "share"                       # the three gates, in every region
  [[image.distribute]]
  to = ["prod"]
  mode = "transfer"                    # each target owns a copy under its own key
  regions = ["us-east-1", "eu-west-1", "ap-southeast-2"]
  ssm_parameter = "/platform/ami/al2023"
  launch_template = {{ name = "web", set_default = true }}
  deprecate_after = "180d"
  tags = {{ team = "platform" }}
[retention]                            # what amishare distributed and no longer needs
deprecate_after = "30d"
deregister_after = "180d"
[safety]
prune = false                          # removals are planned and shown, applied only with prune or --allow-destroy
max_removals = 25                      # a plan removing more access than this is refused before any call
"""

CONFIG = """\
[accounts.build]
id = "111111111111"
[accounts.dev]
id = "222222222222"
[accounts.qa]
id = "444444444444"
"""


def example_config() -> config.Config:
    """The amishare.toml above, as the loader reads it."""
    import tomllib

    return config.parse(tomllib.loads(CONFIG), Path("amishare.toml"))


# ------------------------------------------------------------------------------------------------ a manifest built
# The manifests of the engine's, the runner's and the command line's tests differ only in their families: built here
# from the parts that differ, in the manifest's own layout (docs/manifest.md).
def toml_value(value: object) -> str:
    """``value`` (a string, a number, a boolean, a list or a table of them) as a TOML inline value."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def distribute(to: Iterable[str], mode: str = "share", **settings: object) -> str:
    """One ``[[image.distribute]]`` of a family: its targets, its mode, and any other setting of it."""
    lines = ["  [[image.distribute]]", f"  to = {toml_value(list(to))}", f'  mode = "{mode}"']
    return "\n".join(lines + [f"  {key} = {toml_value(value)}" for key, value in settings.items()])


def family(name: str, select: dict[str, object], *distributions: str, **settings: object) -> str:
    """One ``[[image]]``: its name, how its version is selected, its settings, then its distributions."""
    lines = ["[[image]]", f'family = "{name}"', f"select = {toml_value(select)}"]
    lines += [f"{key} = {toml_value(value)}" for key, value in settings.items()]
    return "\n".join(lines + list(distributions))


def build_manifest(*families: str, source: str, regions: Iterable[str], tail: str = "") -> str:
    """A manifest of ``families``, with its defaults (and ``tail``: tables after the families)."""
    head = f'version = 1\n[defaults]\nsource = "{source}"\nregions = {toml_value(list(regions))}\n'
    return head + "\n".join(families) + "\n" + tail
