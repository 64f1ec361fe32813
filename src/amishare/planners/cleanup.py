"""Cleanup of old images, safely (pure): what happens to each image and why, and the plan that does it.

An image is kept when anything could still need it (docs/cleanup.md):

* it is in use: an instance (any state but terminated), a launch template version, an SSM parameter or an Auto
  Scaling launch configuration refers to it, in the owner's account or, through the configured roles, in an
  account it is shared with; or it was launched within ``--unused-for`` (``LastLaunchedTime``);
* it is among the ``--keep-last`` newest of its family (its name without the trailing version or date);
* it is protected (deregistration protection), managed by AWS Backup, or not available;
* it is the source of a re-encrypted copy (tagged ``amishare:source-image``) that is still shared: ``revoke``
  and ``show`` of the source follow it to that copy;
* it is shared, unless ``--include-shared`` (then its shares are revoked first, key access included, and its
  use in every account it is shared with must be readable; a key statement or grant amishare did not write that
  still admits one of those accounts is named in a warning, with the fix: amishare never edits them);
* it is younger than ``--older-than``.

The rest is deprecated, disabled or deregistered with its snapshots (a snapshot another image uses is kept:
``DeleteAssociatedSnapshots`` skips it). Nothing here reads AWS or the clock.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from amishare.engine.action import Action
from amishare.engine.kinds.cleanup import DeregisterImage, DisableImage
from amishare.engine.kinds.distribution import DeprecateImage
from amishare.engine.plan import Plan
from amishare.model import (
    TAG_SOURCE_IMAGE,
    ImageInfo,
    KeyInfo,
    Observation,
    RoleRef,
    Target,
    TargetKind,
    account_target,
)
from amishare.planners.revoke import plan_revoke
from amishare.policy.access import account_root, grant_name, via_ec2
from amishare.policy.evaluate import Caller, Request, statement_matches
from amishare.policy.key_policy import is_amishare

ACTIONS = ("deprecate", "disable", "deregister")
BACKUP_TAG = "aws:backup:source-resource"  # AWS Backup tags the images it makes
# A family is the name without its trailing version, date or timestamp: golden-al2023-2026.11.22 -> golden-al2023.
_VERSION_TAIL = re.compile(r"[-_. ]+v?\d[\d.:\-_TZ]*$")
# What amishare appends to the copies it names: a re-encrypted copy, a transfer's copy.
_AMISHARE_TAIL = re.compile(r"(-amishare-[0-9a-f]{8}|-from-ami-[0-9a-f]{8,17})+$")
DEPRECATE_SOON = 60.0  # seconds: a deprecation time must lie in the future


@dataclass(frozen=True)
class Rules:
    """What to clean and how (``amishare cleanup`` flags)."""

    action: str  # deprecate | disable | deregister
    name: str | None = None  # a glob on the image name
    tag: tuple[str, str] | None = None
    older_than: float | None = None  # seconds
    keep_last: int = 0
    unused_for: float | None = None  # seconds since LastLaunchedTime
    include_shared: bool = False


@dataclass(frozen=True)
class Use:
    """Something that refers to an image."""

    account: str
    kind: str  # ec2:Instance | ec2:LaunchTemplate | ssm:Parameter | autoscaling:LaunchConfiguration
    arn: str


@dataclass(frozen=True)
class Candidate:
    """An image of the audited account that the name or tag picks, and what was read about it."""

    image: ImageInfo
    created: dt.datetime
    protection: str = "disabled"  # DeregistrationProtection
    last_launched: dt.datetime | None = None
    deprecated_at: dt.datetime | None = None
    uses: tuple[Use, ...] = ()
    unseen: tuple[str, ...] = ()  # accounts it is shared with whose use could not be read (no role), with why
    copies: tuple[ImageInfo, ...] = ()  # its re-encrypted copies (amishare:source-image), with their permissions

    @property
    def backup(self) -> bool:
        return BACKUP_TAG in self.image.tags or self.image.description.startswith(
            "This image is created by the AWS Backup"
        )

    @property
    def shared(self) -> bool:
        return _is_shared(self.image)


def _is_shared(image: ImageInfo) -> bool:
    """Whether any gate of ``image`` is open to someone: launch permission, or a snapshot's permission."""
    launch = image.launch
    return bool(launch.accounts or launch.organizations or launch.ous or launch.public) or any(
        s.shared_with or s.public for s in image.snapshots
    )


@dataclass(frozen=True)
class Decision:
    """What happens to one image (keep, or the rules' action) and why; its snapshots' fate."""

    image: ImageInfo
    verdict: str  # keep | deprecate | disable | deregister
    reasons: tuple[str, ...]
    family: str
    snapshots_deleted: tuple[str, ...] = ()
    snapshots_kept: tuple[str, ...] = ()  # another image uses them
    revoke: bool = False  # its shares are revoked first (--include-shared)

    @property
    def kept(self) -> bool:
        return self.verdict == "keep"


def family(name: str) -> str:
    """The family of an image name: the name without its trailing version, date or timestamp."""
    stripped = _VERSION_TAIL.sub("", _AMISHARE_TAIL.sub("", name))
    return stripped if any(c.isalpha() for c in stripped) else name  # a name that is all version is its own family


def matches(image: ImageInfo, rules: Rules) -> bool:
    """Whether ``image`` is picked by the rules' name glob and tag."""
    if rules.name is not None and not fnmatch.fnmatchcase(image.name, rules.name):
        return False
    return not (rules.tag is not None and image.tags.get(rules.tag[0]) != rules.tag[1])


def decide(
    candidates: list[Candidate], rules: Rules, now: dt.datetime, snapshot_users: dict[str, set[str]]
) -> list[Decision]:
    """A decision per candidate. ``snapshot_users``: snapshot id -> every image of the account using it."""
    newest = _newest(candidates, rules.keep_last)
    decisions = []
    for candidate in sorted(candidates, key=lambda c: (family(c.image.name), c.created, c.image.image_id)):
        reasons = _keep_reasons(candidate, rules, now, newest)
        name = family(candidate.image.name)
        if reasons:
            decisions.append(Decision(candidate.image, "keep", tuple(reasons), name))
            continue
        deleted, kept = _snapshots(candidate.image, snapshot_users) if rules.action == "deregister" else ((), ())
        why = _why(candidate, rules, now)
        decisions.append(Decision(candidate.image, rules.action, why, name, deleted, kept, revoke=candidate.shared))
    return decisions


def _newest(candidates: list[Candidate], keep_last: int) -> set[str]:
    families: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        families.setdefault(family(candidate.image.name), []).append(candidate)
    kept: set[str] = set()
    for members in families.values():
        members.sort(key=lambda c: (c.created, c.image.image_id), reverse=True)
        kept |= {c.image.image_id for c in members[:keep_last]}
    return kept


@dataclass(frozen=True)
class _Judged:
    """One candidate, judged by the rules at ``now`` (``newest``: the images among the newest of their family)."""

    candidate: Candidate
    rules: Rules
    now: dt.datetime
    newest: set[str]

    @property
    def image(self) -> ImageInfo:
        return self.candidate.image


def _protected(j: _Judged) -> str | None:
    protection = j.candidate.protection
    return f"protected: deregistration protection is {protection}" if protection != "disabled" else None


def _backup(j: _Judged) -> str | None:
    return "managed by AWS Backup (delete it through its backup plan)" if j.candidate.backup else None


def _not_available(j: _Judged) -> str | None:
    state = j.image.state
    cleanable = state == "available" or (state == "disabled" and j.rules.action == "deregister")
    return None if cleanable else f"it is {state}"


def _among_newest(j: _Judged) -> str | None:
    if j.image.image_id not in j.newest:
        return None
    return f"among the {j.rules.keep_last} newest of its family {family(j.image.name)}"


def _too_young(j: _Judged) -> str | None:
    older_than, created = j.rules.older_than, j.candidate.created
    if older_than is None or j.now - created >= dt.timedelta(seconds=older_than):
        return None
    return f"created {created:%Y-%m-%d}, less than {_days(older_than)} ago"


def _in_use(j: _Judged) -> str | None:
    uses = j.candidate.uses
    return "in use: " + ", ".join(f"{u.kind} {u.arn}" for u in uses[:5]) if uses else None


def _launched_recently(j: _Judged) -> str | None:
    unused_for, launched = j.rules.unused_for, j.candidate.last_launched
    if unused_for is None or launched is None or j.now - launched >= dt.timedelta(seconds=unused_for):
        return None
    return f"launched {launched:%Y-%m-%d}, within {_days(unused_for)}"


def _shared(j: _Judged) -> str | None:
    if not j.candidate.shared:
        return None
    if not j.rules.include_shared:
        return f"shared with {_shared_with(j.image)} (--include-shared to revoke and clean it)"
    if j.candidate.unseen:
        return f"shared with accounts whose use amishare cannot read: {', '.join(j.candidate.unseen)}"
    return None


def _source_of_shared_copy(j: _Judged) -> str | None:
    shared = [c for c in j.candidate.copies if _is_shared(c)]
    if not shared:
        return None
    copies = "; ".join(f"{c.image_id} with {_shared_with(c)}" for c in shared)
    return (
        f"the source of its re-encrypted {'copy' if len(shared) == 1 else 'copies'} ({TAG_SOURCE_IMAGE}) still shared: "
        f"{copies}; revoke first (`amishare revoke {j.image.image_id} --from ACCOUNT --region {j.image.region}` "
        "follows it to the copy), or clean the copy too"
    )


def _already_done(j: _Judged) -> str | None:
    deprecated_at = j.candidate.deprecated_at
    if j.rules.action == "deprecate" and deprecated_at is not None:
        return f"already deprecated ({deprecated_at:%Y-%m-%d})"
    if j.rules.action == "disable" and j.image.state == "disabled":
        return "already disabled"
    return None


# Why an image is kept: each rule names its reason, or None when it does not keep the image (docs/cleanup.md).
KEEP_RULES: tuple[Callable[[_Judged], str | None], ...] = (
    _protected,
    _backup,
    _not_available,
    _among_newest,
    _too_young,
    _in_use,
    _launched_recently,
    _shared,
    _source_of_shared_copy,
    _already_done,
)


def _keep_reasons(candidate: Candidate, rules: Rules, now: dt.datetime, newest: set[str]) -> list[str]:
    judged = _Judged(candidate, rules, now, newest)
    return [reason for rule in KEEP_RULES if (reason := rule(judged)) is not None]


def _why(candidate: Candidate, rules: Rules, now: dt.datetime) -> tuple[str, ...]:
    age = (now - candidate.created).days
    why = [f"{age} days old"]
    if rules.unused_for is not None:
        why.append(
            "never launched" if candidate.last_launched is None else f"last launched {candidate.last_launched:%Y-%m-%d}"
        )
    if rules.keep_last:
        why.append(f"older than the {rules.keep_last} newest of its family")
    if candidate.shared:
        why.append(f"its shares with {_shared_with(candidate.image)} are revoked first")
    return tuple(why)


def _shared_with(image: ImageInfo) -> str:
    names = [*sorted(image.launch.accounts), *(a.rsplit("/", 1)[-1] for a in sorted(image.launch.organizations))]
    names += [a.rsplit("/", 1)[-1] for a in sorted(image.launch.ous)] + ["public"] * image.launch.public
    names += sorted({a for s in image.snapshots for a in s.shared_with} - set(names))
    return ", ".join(names) or "no one"


def _snapshots(image: ImageInfo, users: dict[str, set[str]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    deleted: list[str] = []
    kept: list[str] = []
    for snapshot in image.snapshots:
        others = users.get(snapshot.snapshot_id, set()) - {image.image_id}
        (kept if others else deleted).append(snapshot.snapshot_id)
    return tuple(deleted), tuple(kept)


def _days(seconds: float) -> str:
    days = seconds / 86400
    return f"{days:g} days" if days >= 1 else f"{seconds / 3600:g} hours"


# ------------------------------------------------------------------------------------ the plan
@dataclass(frozen=True)
class AccountRegionFacts:
    """What the planner needs of one account and region: its candidates' decisions and keys."""

    account: str
    region: str
    decisions: tuple[Decision, ...]
    keys: dict[str, KeyInfo] = field(default_factory=dict)  # keys of the images whose shares are revoked
    others: tuple[ImageInfo, ...] = ()  # the account's other images in the region (key access still needed)
    role: RoleRef | None = None  # how amishare reads and acts in the account (None: the caller's credentials)
    recycle_bin_days: int | None = None  # an EC2_IMAGE retention rule applies


def plan_cleanup(facts: list[AccountRegionFacts], rules: Rules, caller: str) -> Plan:
    """Revocations first (--include-shared), then the action on each image that is not kept."""
    actions: list[Action] = []
    notes: list[str] = []
    warnings: list[str] = []
    for where in facts:
        actions += _account_region(where, rules, notes)
        warnings += [w for d in where.decisions if d.revoke and not d.kept for w in still_admitted(where, d.image)]
        if where.recycle_bin_days and rules.action == "deregister":
            notes.append(
                f"{where.account} {where.region}: a Recycle Bin rule keeps deregistered images "
                f"{where.recycle_bin_days} days (they still count toward the AMI quota, and can be restored)"
            )
    first = next(iter(facts), None)
    return Plan(
        command="cleanup",
        account=caller,
        region=first.region if first else "",
        image_id="",
        targets=(),
        actions=tuple(actions),
        subject="",
        notes=tuple(notes),
        warnings=tuple(warnings),
        extra={"decisions": [_decision_dict(w, d) for w in facts for d in w.decisions], "rules": vars(rules)},
    )


def _account_region(where: AccountRegionFacts, rules: Rules, notes: list[str]) -> list[Action]:
    cleaned = {d.image.image_id for d in where.decisions if not d.kept}
    others = tuple(i for i in where.others if i.image_id not in cleaned)  # their access goes with them
    actions: list[Action] = []
    acting: dict[str, Any] = {
        "account": where.account,
        "region": where.region,
        "role": where.role,
    }
    for decision in where.decisions:
        if decision.kept:
            continue
        first: tuple[str, ...] = ()
        if decision.revoke:
            revoking = _revoke(where, decision.image, others)
            actions += [replace(a, role=where.role) for a in revoking.actions]
            notes += [f"{decision.image.image_id}: {n}" for n in revoking.notes]
            first = tuple(a.key for a in revoking.actions)
        image = decision.image.image_id
        if decision.verdict == "deregister":
            actions.append(
                DeregisterImage(
                    key=f"deregister:{where.account}:{where.region}:{image}",
                    image=image,
                    snapshots=decision.snapshots_deleted,
                    kept_snapshots=decision.snapshots_kept,
                    depends_on=first,
                    **acting,
                )
            )
        elif decision.verdict == "disable":
            actions.append(
                DisableImage(
                    key=f"disable:{where.account}:{where.region}:{image}", image=image, depends_on=first, **acting
                )
            )
        else:
            actions.append(
                DeprecateImage(
                    key=f"deprecate:{where.account}:{where.region}:{image}",
                    image=image,
                    after_seconds=DEPRECATE_SOON,
                    depends_on=first,
                    **acting,
                )
            )
    return actions


def _revoke(where: AccountRegionFacts, image: ImageInfo, others: tuple[ImageInfo, ...]) -> Plan:
    targets: list[Target] = image.launch.targets()
    targets += [account_target(a) for s in image.snapshots for a in sorted(s.shared_with)]
    unique = tuple(dict.fromkeys(t for t in targets if t.kind is not TargetKind.PUBLIC or image.launch.public))
    obs = Observation(where.account, where.region, image, dict(where.keys), siblings=others)
    return plan_revoke(obs, unique)


# What EC2 asks of a key for an account that launches or copies an image encrypted with it (policy/access.py).
_KEY_USE = ("kms:Decrypt", "kms:CreateGrant", "kms:ReEncryptFrom", "kms:GenerateDataKeyWithoutPlaintext")


def still_admitted(where: AccountRegionFacts, image: ImageInfo) -> list[str]:
    """A warning for each key statement or grant amishare did not write that still lets an account ``image``'s
    shares are revoked from use one of its keys: the revocation removes amishare's own access only (it never edits
    what it did not write), so that account keeps the key for every other image on it. Each names the fix."""
    accounts = sorted(image.launch.accounts | {a for s in image.snapshots for a in s.shared_with})
    found: list[str] = []
    for arn in image.key_arns:
        key = where.keys.get(arn)
        if key is None or key.aws_managed or key.policy is None:
            continue
        for account in accounts:
            found += [
                f"{image.image_id}: statement {sid} of key {key.display} (not amishare's: amishare never edits it) "
                f"still admits {account} after the revocation; remove {account} from it: "
                f"aws kms get-key-policy --key-id {key.arn} --policy-name default --region {key.region}, "
                f"then with {account} taken out of {sid}: aws kms put-key-policy --key-id {key.arn} "
                f"--policy-name default --policy file://policy.json --region {key.region}"
                for sid in _admitting(key, account, where.region)
            ]
            found += [
                f"{image.image_id}: grant {grant.name or grant.grant_id} on key {key.display} (not amishare's) still "
                f"admits {account} after the revocation; retire it: aws kms revoke-grant --key-id {key.arn} "
                f"--grant-id {grant.grant_id} --region {key.region}"
                for grant in key.grants
                if (grant.grantee == account or grant.grantee.startswith(f"arn:aws:iam::{account}:"))
                and not (grant.name or "").startswith(grant_name(account))
            ]
    return found


def _admitting(key: KeyInfo, account: str, region: str) -> list[str]:
    """The Sids of the statements amishare did not write that let ``account`` use ``key`` through EC2."""
    caller = Caller(account, account_root(account))
    context = {"kms:ViaService": via_ec2(region), "kms:CallerAccount": account}
    statements = (key.policy or {}).get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    return [
        str(statement.get("Sid") or "(no Sid)")
        for statement in statements
        if isinstance(statement, dict)
        and statement.get("Effect") == "Allow"
        and not is_amishare(statement)
        and any(statement_matches(statement, Request(caller, use, key.arn, context)) for use in _KEY_USE)
    ]


def _decision_dict(where: AccountRegionFacts, decision: Decision) -> dict[str, object]:
    return {
        "account": where.account,
        "region": where.region,
        "image_id": decision.image.image_id,
        "name": decision.image.name,
        "family": decision.family,
        "verdict": decision.verdict,
        "reasons": list(decision.reasons),
        "snapshots_deleted": list(decision.snapshots_deleted),
        "snapshots_kept": list(decision.snapshots_kept),
        "revoke_shares": decision.revoke,
    }
