"""What refuses a transfer before anything changes (pure): the image, the destinations' keys, roles and launch
templates as the preflight found them. Every problem is listed with its fix, so one run shows them all."""

from __future__ import annotations

from amishare.errors import PlanRefused
from amishare.model import KeyInfo
from amishare.planners.transfer_spec import Destination, TransferObservation, TransferSpec

MAX_PROBLEMS_SHOWN = 25  # a refusal lists this many problems, then how many more


def check_transfer(obs: TransferObservation, spec: TransferSpec) -> list[tuple[str, str]]:
    """Refuse what cannot work; return the (account, region) copies that will use a default key."""
    if obs.image.state != "available":
        raise PlanRefused(
            f"image {obs.image.image_id} is {obs.image.state}: only an available image can be transferred"
        )
    if not spec.destinations:
        raise PlanRefused("no destination: name at least one with --to")
    if any(d.account == spec.source.account for d in spec.destinations):
        raise PlanRefused(f"account {spec.source.account} is the source: it cannot also be a destination")
    missing = [(d.account, r) for d in spec.destinations for r in spec.regions if not spec.dest_key_for(d, r)]
    if missing and not spec.allow_default_key:
        shown = ", ".join(f"{a} in {r}" for a, r in missing[:6]) + (" ..." if len(missing) > 6 else "")
        raise PlanRefused(
            f"no destination key for {shown}: a copy without an explicit key is encrypted with the destination "
            "account's default EBS key, often aws/ebs, which can never be shared onward. Give each account a key "
            'per region (keys = { <region> = "alias/..." } under [accounts.NAME]) or --dest-key, or pass '
            "--allow-default-key to accept the default"
        )
    problems = [p for d in spec.destinations for p in preflight_problems(obs, spec, d)]
    if problems:
        listed = problems[:MAX_PROBLEMS_SHOWN] + [f"... and {len(problems) - MAX_PROBLEMS_SHOWN} more"] * (
            len(problems) > MAX_PROBLEMS_SHOWN
        )
        raise PlanRefused(
            f"{len(problems)} problem(s) in the destinations; nothing was changed. Fix them, then run again:\n  "
            + "\n  ".join(listed)
        )
    return missing


def preflight_problems(obs: TransferObservation, spec: TransferSpec, dest: Destination) -> list[str]:
    """Why ``dest`` cannot receive its copies, each with its fix (empty: it can)."""
    check = obs.destinations.get(dest.account)
    if check is None:  # not checked (a plan made without the preflight)
        return []
    who = f"{dest.label} ({dest.account})" if dest.label else dest.account
    if check.role_error is not None:
        role = dest.role.role_arn if dest.role else "its role"
        return [
            f"{who}: cannot assume {role}: {check.role_error}. Fix the role's name ([accounts.NAME] role, "
            f"or role_name under [defaults]) or its trust policy (it must trust account {obs.caller_account})"
        ]
    problems = []
    for region in spec.regions:
        ref = spec.dest_key_for(dest, region)
        if region in check.key_errors:
            problems.append(
                f"{who} in {region}: key {ref}: {check.key_errors[region]}. Create it, or fix keys.{region} "
                "under its [accounts.NAME] (or --dest-key)"
            )
        elif region in check.keys:
            why = unusable_key(check.keys[region], region)
            if why:
                problems.append(f"{who} in {region}: key {ref} {why}")
        if region in check.template_errors:
            template = spec.distribution.template_for(dest)
            problems.append(
                f"{who} in {region}: launch template {template}: {check.template_errors[region]}. Create it there "
                "first, or name another (--launch-template, or launch_template under its [accounts.NAME])"
            )
    return problems


def unusable_key(key: KeyInfo, region: str) -> str | None:
    """Why a destination's copies cannot be encrypted with ``key`` in ``region`` (None: they can)."""
    if key.aws_managed:
        return (
            "is AWS managed (aws/ebs): a copy encrypted with it can never be shared onward; give a customer managed key"
        )
    if key.region != region:
        return f"is a key of {key.region}: KMS keys are regional; give the key of {region}"
    if key.state != "Enabled":
        return f"is {key.state}: enable it (or cancel its deletion), or give another key"
    if key.spec != "SYMMETRIC_DEFAULT" or key.usage != "ENCRYPT_DECRYPT":
        return f"is {key.spec} for {key.usage}: EBS encrypts with symmetric encryption keys only"
    return None
