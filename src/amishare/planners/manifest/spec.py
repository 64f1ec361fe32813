"""Every key of a manifest: its reader, its meaning and an example, table by table, and the rules between
keys of one table. ``load.py`` reads a manifest with these tables; ``generate/manifest_schema.py`` publishes
them as the JSON Schema ``amishare.manifest/1``: one definition for both.
"""

from __future__ import annotations

from typing import Any

from amishare.model import TargetKind, duration_seconds
from amishare.planners.manifest.model import (
    VERSION,
    ById,
    ByName,
    BySsmParameter,
    ByTags,
    Defaults,
    DistributionSpec,
    ImageFamily,
    LaunchTemplate,
    Mode,
    Retention,
    Safety,
    Select,
    TargetGroup,
)
from amishare.planners.manifest.values import (
    Context,
    Invalid,
    Key,
    Problem,
    Reader,
    account,
    arn,
    choice,
    duration,
    each,
    flag,
    image_id,
    image_name,
    launch_template_name,
    name,
    region,
    ssm_parameter,
    table,
    tags,
    target_ref,
    whole,
)

REGIONS_EXAMPLE = 'regions = ["us-east-1", "eu-west-1"]'


def _version(value: Any, context: Context) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value != VERSION:
        raise Invalid.of(
            value,
            f"this amishare reads manifests of version {VERSION} (amishare.manifest/{VERSION}): write version = "
            f"{VERSION}, or upgrade amishare for a newer manifest",
        )
    return VERSION


VERSION_KEY = Key(
    Reader(_version, {"const": VERSION}),
    "The manifest's schema version: 1.",
    f"version = {VERSION} at the top of the file",
    required=True,
)

DEFAULTS = table(
    {
        "source": Key(
            account,
            "The account that owns every family's images: an [accounts.NAME] of amishare.toml, or a 12-digit id "
            "(absent: the account of amishare's credentials).",
            'source = "build"',
        ),
        "regions": Key(
            each(region, REGIONS_EXAMPLE, what="region"),
            "The regions of every distribution that names none.",
            REGIONS_EXAMPLE,
        ),
    },
    lambda values, context: Defaults(**values),
    '[defaults] with source = "build"',
)

ACCOUNTS_EXAMPLE = 'accounts = ["dev", "333333333333"]'


def _group(values: dict[str, Any], context: Context) -> dict[str, Any]:
    if not ({"accounts", "ous", "organizations"} & values.keys()):
        raise Invalid([Problem((), 'names nobody: add accounts = ["dev"], ous = ["arn:...:ou/..."] or organizations')])
    listed = {t.value for t in values.get("accounts", ())}
    both = [t for t in values.get("exclude", ()) if t.value in listed]
    if both:
        raise Invalid.of(both[0].value, "is both in accounts and in exclude: remove it from one").under("exclude")
    return values


GROUP = table(
    {
        "accounts": Key(
            each(account, ACCOUNTS_EXAMPLE, what="account"),
            "Accounts, each an [accounts.NAME] of amishare.toml or a 12-digit id (quoted).",
            ACCOUNTS_EXAMPLE,
        ),
        "ous": Key(
            each(
                arn(TargetKind.OU),
                'ous = ["arn:aws:organizations::111111111111:ou/o-abcdefghij/ou-ab12-prod0001"]',
                what="OU ARN",
            ),
            "OUs by ARN: their active member accounts, nested OUs included, found on every plan.",
            'ous = ["arn:aws:organizations::<management account>:ou/o-.../ou-..."]',
        ),
        "organizations": Key(
            each(
                arn(TargetKind.ORGANIZATION),
                'organizations = ["arn:aws:organizations::111111111111:organization/o-abcdefghij"]',
                what="organization ARN",
            ),
            "Organizations by ARN: every active member account, found on every plan.",
            'organizations = ["arn:aws:organizations::<management account>:organization/o-..."]',
        ),
        "exclude": Key(
            each(account, 'exclude = ["210987654321"]', what="account"),
            "Accounts left out of the group's OUs and organizations (names or quoted ids).",
            'exclude = ["210987654321"]',
        ),
    },
    _group,
    '{ accounts = ["dev", "qa"] }',
)


def _groups(value: Any, context: Context) -> dict[str, TargetGroup]:
    if not isinstance(value, dict):
        raise Invalid.of(value, 'must be a table of named groups: [targets] then nonprod = { accounts = ["dev"] }')
    found: dict[str, TargetGroup] = {}
    problems: list[Problem] = []
    for group_name, raw in value.items():
        try:
            found[_group_name(group_name, context)] = TargetGroup(group_name, **GROUP.read(raw, context))
        except Invalid as exc:
            problems += exc.under(group_name).problems
    if problems:
        raise Invalid(problems)
    return found


GROUP_NAME = name("group name", 'nonprod = { accounts = ["dev"] }')


def _group_name(group_name: str, context: Context) -> str:
    GROUP_NAME.read(group_name, context)
    if context.config.account_named(group_name) is not None:
        raise Invalid(
            [
                Problem(
                    (),
                    "is also an [accounts.NAME] of amishare.toml: a name in to = [...] must mean one thing; "
                    "rename the group",
                )
            ]
        )
    return group_name


TARGETS = Reader(
    _groups,
    {
        "type": "object",
        "propertyNames": GROUP_NAME.schema,
        "additionalProperties": {"description": "A named group of targets.", **GROUP.schema},
    },
)

SELECT_WAYS = ("ssm_parameter", "name", "tags", "id")
SELECT_EXAMPLE = 'select = { ssm_parameter = "/golden/al2023/latest" }'


SELECT_MAKERS = {"ssm_parameter": BySsmParameter, "name": ByName, "tags": ByTags, "id": ById}


def _select(values: dict[str, Any], context: Context) -> Select:
    if len(values) != 1:
        ways = ", ".join(SELECT_WAYS)
        given = ", ".join(sorted(values))
        found = f"found {len(values)}: {given}; keep one" if values else f"add one, {SELECT_EXAMPLE}"
        raise Invalid([Problem((), f"must give exactly one way of {ways} ({found})")])
    ((way, value),) = values.items()
    made: Select = SELECT_MAKERS[way](value)
    return made


SELECT = table(
    {
        "ssm_parameter": Key(
            ssm_parameter,
            "The image an SSM parameter of the source names (e.g. the pipeline's latest).",
            SELECT_EXAMPLE,
        ),
        "name": Key(image_name, "The newest image of the source whose name matches (* and ?).", 'name = "golden-*"'),
        "tags": Key(tags(at_least=1), "The newest image of the source carrying every tag.", 'tags = { os = "al2023" }'),
        "id": Key(image_id, "That image and no other.", 'id = "ami-0123456789abcdef0"'),
    },
    _select,
    SELECT_EXAMPLE,
)
SELECT_SCHEMA = {**SELECT.schema, "minProperties": 1, "maxProperties": 1}

LAUNCH_TEMPLATE_EXAMPLE = 'launch_template = { name = "web", set_default = true }'
LAUNCH_TEMPLATE = table(
    {
        "name": Key(
            launch_template_name,
            "The launch template (name or lt- id) each target account gets a new version of, with the image.",
            'name = "web"',
            required=True,
        ),
        "set_default": Key(flag("set_default"), "Make that version the template's default.", "set_default = true"),
    },
    lambda values, context: LaunchTemplate(**values),
    LAUNCH_TEMPLATE_EXAMPLE,
)


def _distribution(values: dict[str, Any], context: Context) -> DistributionSpec:
    regions = values.pop("regions", None) or context.default_regions
    if regions == ():
        raise Invalid([Problem(("regions",), f"is missing, and [defaults] names none: add {REGIONS_EXAMPLE}")])
    return DistributionSpec(regions=regions or (), mode=Mode(values.pop("mode")), **values)


TO_EXAMPLE = 'to = ["nonprod"]'
DISTRIBUTE = table(
    {
        "to": Key(
            each(target_ref, TO_EXAMPLE, what="target"),
            "Who gets the image: [targets] group names, account names or quoted ids, OU or organization ARNs.",
            TO_EXAMPLE,
            required=True,
        ),
        "mode": Key(
            choice(tuple(m.value for m in Mode), "mode"),
            "share: the three gates opened in every region (the source's own regional copy where needed); "
            "transfer: each target owns a copy under its own key.",
            'mode = "share" (or "transfer")',
            required=True,
        ),
        "regions": Key(
            each(region, REGIONS_EXAMPLE, what="region"), "Its regions (absent: [defaults] regions).", REGIONS_EXAMPLE
        ),
        "ssm_parameter": Key(
            ssm_parameter,
            "An SSM parameter in each target account, kept pointing at the newest version.",
            'ssm_parameter = "/platform/ami/al2023"',
        ),
        "launch_template": Key(
            LAUNCH_TEMPLATE, "A launch template each target account gets a version of.", LAUNCH_TEMPLATE_EXAMPLE
        ),
        "deprecate_after": Key(
            duration, "Deprecate each distributed image this long after it arrives.", 'deprecate_after = "180d"'
        ),
        "tags": Key(tags(at_least=0), "Tags on what it makes in each target account.", 'tags = { team = "platform" }'),
    },
    _distribution,
    '[[image.distribute]] with to = ["nonprod"] and mode = "share"',
)


def _image(values: dict[str, Any], context: Context) -> ImageFamily:
    return ImageFamily(values["family"], values["select"], values.get("versions", 1), values["distribute"])


IMAGE = table(
    {
        "family": Key(
            name("family name", 'family = "al2023-base"'),
            "The stable name of the family and of everything amishare makes for it.",
            'family = "al2023-base"',
            required=True,
        ),
        "select": Key(
            Reader(SELECT.read, SELECT_SCHEMA),
            "How the family's versions are found: exactly one of ssm_parameter, name, tags or id.",
            SELECT_EXAMPLE,
            required=True,
        ),
        "versions": Key(
            whole(1, "versions = 2"),
            "How many of the newest versions stay distributed (default 1); older ones are withdrawn.",
            "versions = 2",
        ),
        "distribute": Key(
            each(
                DISTRIBUTE, '[[image.distribute]] with to = ["nonprod"] and mode = "share"', what="[[image.distribute]]"
            ),
            "Where and how the family goes: one [[image.distribute]] per way.",
            '[[image.distribute]] with to = ["nonprod"] and mode = "share"',
            required=True,
        ),
    },
    _image,
    "[[image]] with family, select and [[image.distribute]]",
)


def _retention(values: dict[str, Any], context: Context) -> Retention:
    deprecate, deregister = values.get("deprecate_after"), values.get("deregister_after")
    if deprecate and deregister and (duration_seconds(deregister) or 0) < (duration_seconds(deprecate) or 0):
        raise Invalid.of(deregister, f'comes before deprecate_after = "{deprecate}": make it at least as long').under(
            "deregister_after"
        )
    return Retention(**values)


RETENTION = table(
    {
        "deprecate_after": Key(
            duration,
            "Deprecate what amishare distributed and no longer needs, this long after it stopped being needed.",
            'deprecate_after = "30d"',
        ),
        "deregister_after": Key(
            duration,
            "Deregister it (its snapshots with it) this long after it stopped being needed.",
            'deregister_after = "180d"',
        ),
    },
    _retention,
    '[retention] with deprecate_after = "30d"',
)

SAFETY = table(
    {
        "prune": Key(
            flag("prune"),
            "Apply planned removals (default false: they are shown, applied only with --allow-destroy).",
            "prune = false",
        ),
        "max_removals": Key(
            whole(0, "max_removals = 25"),
            "A plan removing more access than this is refused before any call (default 25).",
            "max_removals = 25",
        ),
    },
    lambda values, context: Safety(**values),
    "[safety] with max_removals = 25",
)

IMAGE_EXAMPLE = "[[image]] with family, select and [[image.distribute]]"

# The top level, in the order the loader reads it: [defaults] and [targets] before the images that use them.
DOCUMENT: dict[str, Key] = {
    "version": VERSION_KEY,
    "defaults": Key(DEFAULTS, "What every family shares unless it says otherwise.", "[defaults]"),
    "targets": Key(TARGETS, "Named groups of targets, expanded on every plan.", "[targets]"),
    "image": Key(
        each(IMAGE, IMAGE_EXAMPLE, what="[[image]]"),
        "The image families, one [[image]] each.",
        IMAGE_EXAMPLE,
        required=True,
    ),
    "retention": Key(RETENTION, "What becomes of what amishare distributed and no longer needs.", "[retention]"),
    "safety": Key(SAFETY, "Bounds on removals.", "[safety]"),
}
