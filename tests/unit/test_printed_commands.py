"""Every ``amishare`` command a doctor cause or an audit finding prints as its fix parses with the CLI's own
parser (issue 19: printed fixes that do not run). Each fix text is produced for real, one scenario per code,
and every code of doctor's ``CODES`` and audit's ``CODES`` must be produced, so a new code is covered too."""

from __future__ import annotations

import datetime as dt
import re
import shlex
from collections.abc import Iterable
from typing import Any

import click
import pytest

from amishare.checks.audit import CODES as AUDIT_CODES
from amishare.checks.audit import AccountRegion, Allowlist, audit
from amishare.checks.doctor import diagnose
from amishare.checks.doctor.cause import CODES as DOCTOR_CODES
from amishare.checks.doctor.facts import DoctorFacts, TargetView
from amishare.checks.verify import verify
from amishare.cli.main import COMMANDS, cli
from amishare.model import ImageInfo, KeyInfo, LaunchPermissions, MappingInfo, SnapshotInfo
from amishare.policy.key_policy import KeyAccess, statements_for

OWNER, A, B, C = "111111111111", "222222222222", "333333333333", "444444444444"
REGION, OTHER_REGION = "us-east-1", "us-west-2"
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
KEY = f"arn:aws:kms:{REGION}:{OWNER}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ADMIN = {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OWNER}:root"}, "Action": "kms:*"}
QUOTED = re.compile(r"`(amishare [^`]+)`")
# the placeholders fix texts print, as values of the shape the command's arguments check
PLACEHOLDERS = {"IMAGE": "ami-0123456789abcdef0", "COPY": "ami-0fedcba9876543210", "ACCOUNT": A, "OWNER": OWNER}
ANY_COMMAND = re.compile(r"\bamishare (" + "|".join(re.escape(name) for name in COMMANDS) + r")\b")


def _key(*statements: dict[str, Any], state: str = "Enabled", manager: str = "CUSTOMER") -> KeyInfo:
    policy = {"Version": "2012-10-17", "Statement": [ADMIN, *statements]}
    return KeyInfo(KEY, OWNER, REGION, manager, state=state, policy=policy)


def _image(
    key: str | None = KEY, launch: LaunchPermissions | None = None, shared: frozenset[str] = frozenset({A})
) -> ImageInfo:
    snapshot = SnapshotInfo("snap-0123456789abcdef0", 8, key, shared_with=shared)
    launch = LaunchPermissions(accounts=frozenset({A})) if launch is None else launch
    return ImageInfo("ami-0123456789abcdef0", "golden", OWNER, REGION, "available", (snapshot,), launch)


def _facts(
    image: ImageInfo | None = None, key: KeyInfo | None = None, state: str = "available", **extra: Any
) -> DoctorFacts:
    image = _image() if image is None and state == "available" else image
    keys = {KEY: key if key is not None else _key(*statements_for(REGION, KeyAccess(accounts=frozenset({A}))))}
    return DoctorFacts("ami-0123456789abcdef0", A, REGION, state, image, keys, **extra)


DOCTOR_SCENARIOS: list[DoctorFacts] = [
    _facts(state="missing", elsewhere=(OTHER_REGION,)),
    _facts(state="missing"),
    _facts(state="deregistered", image=_image()),
    _facts(state="pending", image=_image()),
    _facts(state="failed", image=_image()),
    _facts(state="disabled", image=_image()),
    _facts(key=_key(manager="AWS")),
    _facts(deprecation_time="2026-01-01T00:00:00Z"),
    _facts(image=_image(launch=LaunchPermissions(), shared=frozenset())),
    _facts(key=_key()),
    _facts(
        key=_key(
            {
                "Sid": "OtherRegion",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                "Action": ["kms:Decrypt", "kms:CreateGrant", "kms:DescribeKey", "kms:ReEncrypt*"],
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:ViaService": f"ec2.{OTHER_REGION}.amazonaws.com"}},
            }
        )
    ),
    _facts(key=_key({"Sid": "NoOne", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"})),
    _facts(key=_key(state="Disabled")),
    _facts(target=TargetView(sees_image=True, dest_key_ref="alias/mine")),
    _facts(target=TargetView(sees_image=False, allowed_state="enabled", image_allowed=False)),
    _facts(
        key=_key({"Sid": "Gone", "Effect": "Allow", "Principal": {"AWS": "AROAABCDEFGHIJKLMNOP"}, "Action": "kms:*"})
    ),
    _facts(target=TargetView(sees_image=True, refused={"launch": "UnauthorizedOperation"})),
]


def _audit_fixes() -> Iterable[tuple[str, str]]:
    public = SnapshotInfo("snap-000000000000000a1", 8, None, public=True)
    encrypted = SnapshotInfo("snap-000000000000000b2", 8, KEY, shared_with=frozenset({B, C}))
    unscoped = {"Sid": "Loose", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{B}:root"}, "Action": "kms:*"}
    images = (
        ImageInfo(
            "ami-000000000000000a1", "open", OWNER, REGION, "available", (public,), LaunchPermissions(public=True)
        ),
        ImageInfo(
            "ami-000000000000000b2",
            "shared",
            OWNER,
            REGION,
            "available",
            (encrypted,),
            LaunchPermissions(accounts=frozenset({A, C})),
        ),
    )
    read = AccountRegion(OWNER, REGION, images, (public, encrypted), {KEY: _key(unscoped)}, "unblocked")
    for finding in audit([read], Allowlist(accounts=frozenset({A}))).findings:
        yield finding.code, finding.fix


def _doctor_fixes() -> Iterable[tuple[str, str]]:
    for facts in DOCTOR_SCENARIOS:
        for capability in diagnose(facts, NOW).capabilities.values():
            for cause in capability.causes:
                yield cause.code, cause.fix


def _commands(fixes: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for code, fix in fixes:
        quoted = QUOTED.findall(fix)
        bare = ANY_COMMAND.findall(QUOTED.sub("", fix))
        assert not bare, f"{code}: an amishare command outside backticks cannot be told from the prose: {fix}"
        out += [(code, command) for command in quoted]
    return out


def _verify_fixes() -> Iterable[tuple[str, str]]:
    """verify's fixes of an unencrypted volume and of one on aws/ebs (the two that print commands)."""
    ebs = KeyInfo(KEY, OWNER, REGION, "AWS", aliases=("alias/aws/ebs",))
    volumes = (
        MappingInfo("/dev/xvda", "snap-0123456789abcdef0", encrypted=False),
        MappingInfo("/dev/xvdb", "snap-0fedcba9876543210", encrypted=True, key_arn=KEY),
    )
    snapshots = (
        SnapshotInfo("snap-0123456789abcdef0", 8, None),
        SnapshotInfo("snap-0fedcba9876543210", 8, KEY),
    )
    image = ImageInfo("ami-0123456789abcdef0", "golden", OWNER, REGION, "available", snapshots, mappings=volumes)
    for finding in verify(image, {KEY: ebs}, shareable=True).findings:
        yield finding.code, finding.fix


def _manifest_texts() -> Iterable[tuple[str, str]]:
    """What drift prints when it finds something (the apply that fixes it)."""
    from amishare.planners.manifest.drift import Finding
    from amishare.render.drift import drift_text

    finding = Finding("base", "missing-share", "ami-0123456789abcdef0", A, REGION, "launch permission")
    yield "DRIFT", drift_text("estate.toml", [], (finding,))


def test_every_doctor_code_and_audit_code_is_produced() -> None:
    assert {code for code, _ in _doctor_fixes()} == set(DOCTOR_CODES)
    assert {code for code, _ in _audit_fixes()} == set(AUDIT_CODES)
    assert {code for code, _ in _verify_fixes()} == {"UNENCRYPTED", "AWS_MANAGED_KEY"}


COMMANDS_PRINTED: list[tuple[str, str]] = sorted(
    set(_commands(_doctor_fixes()))
    | set(_commands(_audit_fixes()))
    | set(_commands(_verify_fixes()))
    | set(_commands(_manifest_texts()))
)


@pytest.mark.parametrize(("code", "command"), COMMANDS_PRINTED, ids=[f"{c}:{s}" for c, s in COMMANDS_PRINTED])
def test_printed_command_parses(code: str, command: str) -> None:
    """``code``'s fix names a command that exists, with options that exist and the arguments it requires."""
    _, name, *args = [PLACEHOLDERS.get(word, word) for word in shlex.split(command)]
    with click.Context(cli) as context:
        command_object = cli.get_command(context, name)
    assert command_object is not None, f"{code}: no command {name!r} in {command!r}"
    try:
        command_object.make_context(name, args, resilient_parsing=False)
    except click.UsageError as exc:
        pytest.fail(f"{code}: {command!r} does not parse: {exc.format_message()}")


def test_printed_commands_include_the_fixed_ones() -> None:
    """The options issue 19 found printed but missing are gone, and the commands replacing them are checked."""
    printed = " ".join(command for _, command in COMMANDS_PRINTED)
    assert "--share-key" not in printed
    assert not re.search(r"amishare share [^,]*--grant-autoscaling", printed)
    assert "--reencrypt-key" in printed and "--grant-autoscaling" in printed
