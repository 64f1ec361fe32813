"""Readers of a manifest's values: each checks one kind of value, says what is wrong and how to fix it, and
carries the JSON Schema of what it accepts, so the loader and the published schema cannot disagree.

A ``Reader`` turns a TOML value into a model value or raises ``Invalid`` with one ``Problem`` per wrong value
(a list's items and a table's keys are all checked, not only the first). The checks reuse ``inputs`` (SSM
parameter and launch template names, tags, image ids) and ``model`` (account ids, ARNs, regions, durations).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from amishare import inputs
from amishare.config import Config
from amishare.errors import UsageError
from amishare.model import ACCOUNT_ID, IMAGE_ID, ORG_ARN, OU_ARN, REGION, Target, TargetKind
from amishare.planners.manifest.model import TargetRef

T = TypeVar("T")
Segment = str | int  # a table key, or a list index (from 0; shown from 1)
NO_VALUE = object()  # a problem about a key that is missing, or a whole table

# A family's and a target group's name: what later shows in plans, tags and journals.
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")
# EC2 API Reference, "RegisterImage": a name of 3 to 128 of letters, digits, ( ) [ ] space . / - ' @ _; a
# name filter adds the wildcards * and ?.
IMAGE_NAME_GLOB = re.compile(r"^[A-Za-z0-9()\[\] ./\-'@_*?]{1,128}$")
DURATION = re.compile(r"^(\d+|(\d+d)?(\d+h)?(\d+m)?(\d+s)?)$")  # model.duration_seconds' forms
TAG_KEY = re.compile(r"^(?![aA][wW][sS]:).{1,128}$")  # inputs.tag: 1 to 128 characters, not beginning with aws:


@dataclass(frozen=True)
class Problem:
    """One wrong value: where (key path from the manifest's top), what is wrong and the fix, and the value."""

    path: tuple[Segment, ...]
    message: str
    value: Any = NO_VALUE


class Invalid(Exception):
    """One or more problems of a value (a list or a table reports every wrong item or key)."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in self.problems))

    @classmethod
    def of(cls, value: Any, message: str) -> Invalid:
        """A problem of ``value`` itself (its path is added by the tables and lists it sits in)."""
        return cls([Problem((), message, value)])

    def under(self, *segments: Segment) -> Invalid:
        """The same problems, each one ``segments`` deeper."""
        return Invalid(replace(p, path=(*segments, *p.path)) for p in self.problems)


@dataclass(frozen=True)
class Context:
    """What a value is checked against: amishare.toml's accounts, the regions botocore knows (empty: any region
    of the right form), the ``[targets]`` groups, and ``[defaults] regions`` (None: unknown, as they are wrong)."""

    config: Config
    known_regions: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    default_regions: tuple[str, ...] | None = ()


@dataclass(frozen=True)
class Reader(Generic[T]):
    """Reads one kind of value (``read``), and the JSON Schema of the values it accepts."""

    read: Callable[[Any, Context], T]
    schema: dict[str, Any] = field(default_factory=dict)


def did_you_mean(word: str, options: Collection[str]) -> str:
    """``did you mean 'x'?`` when an option is close to ``word``, else the options."""
    close = _closest(word, options)
    return f"did you mean {close!r}?" if close else f"known: {', '.join(sorted(options)) or '(none)'}"


def _closest(word: str, options: Collection[str]) -> str | None:
    close = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.6)
    return close[0] if close else None


def _string(value: Any, what: str, example: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid.of(value, f"must be {what} in quotes, e.g. {example}")
    return value


def whole(minimum: int, example: str) -> Reader[int]:
    """A whole number of at least ``minimum``."""

    def read(value: Any, context: Context) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise Invalid.of(value, f"must be a whole number of at least {minimum}, e.g. {example}")
        return value

    return Reader(read, {"type": "integer", "minimum": minimum})


def flag(key: str) -> Reader[bool]:
    """``true`` or ``false``."""

    def read(value: Any, context: Context) -> bool:
        if not isinstance(value, bool):
            raise Invalid.of(value, f"must be true or false (no quotes), e.g. {key} = true")
        return value

    return Reader(read, {"type": "boolean"})


def choice(options: tuple[str, ...], key: str) -> Reader[str]:
    """One of ``options``; a near miss is named."""

    def read(value: Any, context: Context) -> str:
        if value in options:
            return str(value)
        spelled = " or ".join(f'"{o}"' for o in options)
        hint = f": {did_you_mean(value, options)}" if isinstance(value, str) else f', e.g. {key} = "{options[0]}"'
        raise Invalid.of(value, f"must be {spelled}{hint}")

    return Reader(read, {"type": "string", "enum": list(options)})


def _region(value: Any, context: Context) -> str:
    text = _string(value, "an AWS region", 'regions = ["us-east-1"]')
    if not REGION.match(text):
        raise Invalid.of(value, 'is not an AWS region: write it like "us-east-1"')
    if context.known_regions and text not in context.known_regions:
        raise Invalid.of(value, f"is not a known AWS region: {did_you_mean(text, context.known_regions)}")
    return text


region: Reader[str] = Reader(_region, {"type": "string", "pattern": REGION.pattern})


def _duration(value: Any, context: Context) -> str:
    text = _string(value, "a duration", 'deprecate_after = "180d"')
    try:
        inputs.duration(text)
    except UsageError:
        raise Invalid.of(value, 'is not a duration longer than zero: write it like "30d", "24h" or "1d12h"') from None
    return text


duration: Reader[str] = Reader(_duration, {"type": "string", "pattern": DURATION.pattern, "minLength": 1})


def _checked(check: Callable[[str], object], what: str, fix: str) -> Callable[[Any, Context], str]:
    """A reader of strings that ``check`` (one of ``inputs``' validators) accepts."""

    def read(value: Any, context: Context) -> str:
        text = _string(value, what, fix)
        try:
            check(text)
        except UsageError:
            raise Invalid.of(value, f"is not {what}: {fix}") from None
        return text

    return read


ssm_parameter: Reader[str] = Reader(
    _checked(
        inputs.ssm_parameter,
        "an SSM parameter name",
        'letters, digits, . - _ and / for a path, not beginning with aws or ssm, e.g. "/platform/ami/al2023"',
    ),
    {"type": "string", "pattern": inputs.SSM_NAME.pattern, "maxLength": 2048},
)
launch_template_name: Reader[str] = Reader(
    _checked(
        inputs.launch_template,
        "a launch template name or id",
        'a name of 3 to 128 letters, digits and ( ) . - / _ (e.g. "web"), or an id (lt- and 17 hex digits)',
    ),
    {"type": "string", "pattern": f"{inputs.LAUNCH_TEMPLATE_NAME.pattern}|{inputs.LAUNCH_TEMPLATE_ID.pattern}"},
)
image_id: Reader[str] = Reader(
    _checked(inputs.image_id, "an AMI id", 'ami- and 8 or 17 hex digits, e.g. "ami-0123456789abcdef0"'),
    {"type": "string", "pattern": IMAGE_ID.pattern},
)
image_name: Reader[str] = Reader(
    _checked(
        lambda v: _match(IMAGE_NAME_GLOB, v),
        "an image name pattern",
        '1 to 128 letters, digits, ( ) [ ] space . / - \' @ _ and the wildcards * and ?, e.g. "golden-al2023-*"',
    ),
    {"type": "string", "pattern": IMAGE_NAME_GLOB.pattern},
)


def _match(pattern: re.Pattern[str], value: str) -> None:
    if not pattern.match(value):
        raise UsageError(value)


def name(what: str, example: str) -> Reader[str]:
    """A family's or group's name: a letter, then letters, digits, ``.``, ``_`` and ``-`` (64 at most)."""

    def read(value: Any, context: Context) -> str:
        text = _string(value, what, example)
        if not NAME.match(text):
            raise Invalid.of(value, f"is not a valid {what}: a letter, then letters, digits, . _ and - (64 at most)")
        return text

    return Reader(read, {"type": "string", "pattern": NAME.pattern})


def tags(*, at_least: int) -> Reader[dict[str, str]]:
    """A table of tags, ``{ KEY = "VALUE" }`` (AWS: keys of 1 to 128 characters not beginning with aws:, values of
    at most 256)."""

    def read(value: Any, context: Context) -> dict[str, str]:
        if not isinstance(value, dict) or len(value) < at_least:
            some = "a table" if not at_least else "a table of at least one tag"
            raise Invalid.of(value, f'must be {some} of KEY = "VALUE", e.g. {{ team = "platform" }}')
        problems: list[Problem] = []
        for key, item in value.items():
            try:
                _tag(key, item)
            except Invalid as exc:
                problems += exc.under(key).problems
        if problems:
            raise Invalid(problems)
        return dict(value)

    schema = {
        "type": "object",
        "minProperties": at_least,
        "propertyNames": {"pattern": TAG_KEY.pattern},
        "additionalProperties": {"type": "string", "maxLength": 256},
    }
    return Reader(read, schema)


def _tag(key: str, value: Any) -> None:
    if not isinstance(value, str):
        raise Invalid.of(value, f'must be a string in quotes, e.g. {key} = "platform"')
    try:
        inputs.tag(f"{key}={value}")
    except UsageError:
        raise Invalid.of(
            value, "is not a tag: a key of 1 to 128 characters, not beginning with aws:, and a value of at most 256"
        ) from None


def each(item: Reader[T], example: str, *, at_least: int = 1, what: str = "item") -> Reader[tuple[T, ...]]:
    """A list of ``item``, every item checked; an item listed twice is refused."""

    def read(value: Any, context: Context) -> tuple[T, ...]:
        if not isinstance(value, list) or len(value) < at_least:
            raise Invalid.of(value, f"must be a list of at least {at_least} {what}, e.g. {example}")
        found: list[T] = []
        problems: list[Problem] = []
        for index, raw in enumerate(value):
            try:
                found.append(_once(item.read(raw, context), found, raw))
            except Invalid as exc:
                problems += exc.under(index).problems
        if problems:
            raise Invalid(problems)
        return tuple(found)

    return Reader(read, {"type": "array", "items": item.schema, "minItems": at_least, "uniqueItems": True})


def _once(read: T, found: list[T], raw: Any) -> T:
    if read in found:
        raise Invalid.of(raw, "is listed twice: remove one")
    return read


# Account ids, ARNs and names -------------------------------------------------------------------------------

ACCOUNT_SCHEMA = {"type": "string", "minLength": 1}


def _unquoted(value: Any) -> Invalid | None:
    """An account id written as a TOML integer: it must be a string (a leading zero would be lost)."""
    if isinstance(value, int) and not isinstance(value, bool):
        quoted = f'"{value}"' if len(str(value)) == 12 else f'"{value:012d}" if it lost its leading zeros'
        return Invalid.of(
            value,
            f"is a number: write an account id as a quoted string, {quoted} (unquoted, TOML reads it as an "
            "integer, and an id with a leading zero is lost or refused)",
        )
    return None


def _account(value: Any, context: Context) -> Target:
    problem = _unquoted(value)
    if problem is not None:
        raise problem
    text = _string(value, "an account name or id", '"dev" or "222222222222"')
    if ACCOUNT_ID.match(text):
        named = context.config.account_by_id(text)
        return Target(TargetKind.ACCOUNT, text, named.name if named else "")
    named = context.config.account_named(text)
    if named is not None:
        return Target(TargetKind.ACCOUNT, named.id, named.name)
    raise Invalid.of(
        value, f"is not an account id (12 digits) nor an [accounts.NAME] of amishare.toml: {_names(text, context)}"
    )


def _names(text: str, context: Context) -> str:
    if not context.config.accounts:
        return "add an [accounts.NAME] section with its id to amishare.toml, or give the 12-digit id"
    return did_you_mean(text, [*context.config.accounts, *context.groups])


account: Reader[Target] = Reader(_account, ACCOUNT_SCHEMA)


def arn(kind: TargetKind) -> Reader[Target]:
    """An OU ARN (``TargetKind.OU``) or an organization ARN (``TargetKind.ORGANIZATION``)."""
    pattern, form = (
        (OU_ARN, "arn:aws:organizations::<management account>:ou/o-<10 to 32>/ou-<4 to 32>-<8 to 32>")
        if kind is TargetKind.OU
        else (ORG_ARN, "arn:aws:organizations::<management account>:organization/o-<10 to 32>")
    )

    def read(value: Any, context: Context) -> Target:
        text = _string(value, f"an {kind.value} ARN", f'"{form}"')
        if not pattern.match(text):
            raise Invalid.of(
                value,
                f"is not an {'OU' if kind is TargetKind.OU else 'organization'} ARN: write {form} (letters lower case)",
            )
        return Target(kind, text)

    return Reader(read, {"type": "string", "pattern": pattern.pattern})


def _target_ref(value: Any, context: Context) -> TargetRef:
    problem = _unquoted(value)
    if problem is not None:
        raise problem
    text = _string(value, "a target", '"nonprod", "dev", "222222222222" or an OU ARN')
    if text in context.groups:
        return TargetRef(text, group=text)
    if text.startswith("arn:"):
        kind = TargetKind.OU if ":ou/" in text else TargetKind.ORGANIZATION
        return TargetRef(text, target=arn(kind).read(value, context))
    try:
        return TargetRef(text, target=_account(value, context))
    except Invalid:
        raise Invalid.of(
            value,
            "is not a [targets] group, an [accounts.NAME] of amishare.toml, an account id (12 digits), an OU ARN nor "
            f"an organization ARN: {_names(text, context)}",
        ) from None


target_ref: Reader[TargetRef] = Reader(_target_ref, ACCOUNT_SCHEMA)


# Tables ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """One key of a table: how its value is read, what it means (the schema's description and the docs), an
    example (the fix when it is missing), and whether it must be there."""

    reader: Reader[Any]
    doc: str
    example: str
    required: bool = False

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of the key's value, with its meaning as the description editors show."""
        return {"description": self.doc, **self.reader.schema}


def table(keys: dict[str, Key], build: Callable[[dict[str, Any], Context], T], example: str) -> Reader[T]:
    """A TOML table of ``keys``: every key checked (an unknown one with a did-you-mean, a missing required one
    with its example), then ``build`` makes the value (it may raise ``Invalid`` for rules between keys)."""

    def read(value: Any, context: Context) -> T:
        if not isinstance(value, dict):
            raise Invalid.of(value, f"must be a table, e.g. {example}")
        values: dict[str, Any] = {}
        problems = key_problems(list(value), keys, "is not a key here")
        for key in [k for k in value if k in keys]:
            try:
                values[key] = keys[key].reader.read(value[key], context)
            except Invalid as exc:
                problems += exc.under(key).problems
        if problems:
            raise Invalid(sorted(problems, key=lambda p: _order(p, list(value))))
        return build(values, context)

    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {k: s.schema() for k, s in keys.items()},
    }
    required = [k for k, s in keys.items() if s.required]
    return Reader(read, {**schema, "required": required} if required else schema)


def key_problems(written: list[str], keys: dict[str, Key], unknown: str) -> list[Problem]:
    """Each key of ``written`` that is not one of ``keys`` (``unknown``, with a did-you-mean), and each required
    key missing, unless an unknown key is its misspelling (that one problem is enough)."""
    meant = {k: _closest(k, keys) for k in written if k not in keys}
    problems = [Problem((k,), f"{unknown}: {did_you_mean(k, keys)}") for k in meant]
    missing = [k for k, key in keys.items() if key.required and k not in written and k not in meant.values()]
    return problems + [Problem((k,), f"is missing: add {keys[k].example}") for k in missing]


def _order(problem: Problem, written: list[str]) -> int:
    """Problems in the order the keys are written (a missing key last)."""
    first = problem.path[0] if problem.path else ""
    return written.index(first) if first in written else len(written)
