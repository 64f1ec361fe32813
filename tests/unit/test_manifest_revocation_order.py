"""One plan handing two families to the same account through the same key: each revocation of the account's key
access comes after every copy that account makes in that region, whichever family's (planners/manifest/assemble.py)."""

from __future__ import annotations

from amishare.engine.action import Action
from amishare.engine.kinds.copies import AwaitImage
from amishare.engine.kinds.gates import RevokeDestination
from amishare.engine.plan import Plan
from amishare.planners.manifest.assemble import revocations_after_every_copy

SOURCE, X, Y = "111111111111", "222222222222", "333333333333"
KEY = "arn:aws:kms:us-east-1:111111111111:key/k"


def _family(name: str, accounts: tuple[str, ...], region: str = "us-east-1") -> Plan:
    actions: list[Action] = []
    for account in accounts:
        wait = AwaitImage(key=f"{name}:await:{account}:{region}", account=account, region=region, image="@copy")
        actions.append(wait)
        actions.append(
            RevokeDestination(
                key=f"{name}:revoke:{account}:{region}",
                account=SOURCE,
                region=region,
                image="ami-1",
                target=account,
                grant_key_arn=KEY,
                after=(wait.key,),
            )
        )
    return Plan("apply", SOURCE, "us-east-1", "ami-1", (), tuple(actions), "ami-1")


def _after(parts: tuple[Plan, ...]) -> dict[str, tuple[str, ...]]:
    return {a.key: a.after for p in parts for a in p.actions if isinstance(a, RevokeDestination)}


def test_a_revocation_waits_for_every_copy_of_its_account_in_its_region() -> None:
    parts = revocations_after_every_copy(
        (_family("a", (X, Y)), _family("b", (X,)), _family("c", (X,), region="eu-west-1"))
    )
    assert _after(parts) == {
        "a:revoke:222222222222:us-east-1": ("a:await:222222222222:us-east-1", "b:await:222222222222:us-east-1"),
        "a:revoke:333333333333:us-east-1": ("a:await:333333333333:us-east-1",),  # Y has no other copy
        "b:revoke:222222222222:us-east-1": ("b:await:222222222222:us-east-1", "a:await:222222222222:us-east-1"),
        "c:revoke:222222222222:eu-west-1": ("c:await:222222222222:eu-west-1",),  # another region: its own
    }


def test_a_revocation_of_image_access_alone_is_left_as_it_is() -> None:
    plan = _family("a", (X,))
    alone = Plan(
        "apply", SOURCE, "us-east-1", "ami-1", (), tuple(
            a.__class__(**{**vars(a), "grant_key_arn": None}) if isinstance(a, RevokeDestination) else a
            for a in plan.actions
        ), "ami-1",
    )  # fmt: skip
    parts = revocations_after_every_copy((alone, _family("b", (X,))))
    assert _after(parts)["a:revoke:222222222222:us-east-1"] == ("a:await:222222222222:us-east-1",)
