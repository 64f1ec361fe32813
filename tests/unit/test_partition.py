"""``partition``: a plan cut into prepare, chunks and finish. Every action in exactly one phase; no action waits
for one of a later phase or of another chunk; a chunk holds at most ``chunk_size`` destinations of one region."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amishare.engine.action import Action
from amishare.engine.kinds.copies import AwaitImage, CopyToDestination, DeleteStaging, StageImage
from amishare.engine.kinds.gates import RevokeDestination, ShareImage
from amishare.engine.partition import FINISH, PREPARE, Phase, dependencies, destination_of, partition
from amishare.engine.plan import Plan

SOURCE = "111111111111"
DESTINATIONS = tuple(f"{n}" * 12 for n in range(2, 8))
REGIONS = ("us-east-1", "eu-west-1")


def _plan(*actions: Action) -> Plan:
    return Plan("transfer", SOURCE, REGIONS[0], "ami-1", (), tuple(actions), "ami-1")


def _transfer(destinations: tuple[str, ...], regions: tuple[str, ...]) -> Plan:
    """The shape of a transfer: stage, gates, each destination's copy, wait and revocation, then clean-up."""
    actions: list[Action] = []
    for region in regions:
        stage = StageImage(
            key=f"stage:{region}",
            account=SOURCE,
            region=region,
            source_image="ami-1",
            source_region=REGIONS[0],
            name="s",
            description="d",
        )
        share = ShareImage(
            key=f"share:{region}",
            account=SOURCE,
            region=region,
            image=f"@{stage.key}",
            accounts=destinations,
            depends_on=(f"await-stage:{region}",),
        )
        actions += [
            stage,
            AwaitImage(
                key=f"await-stage:{region}",
                account=SOURCE,
                region=region,
                image=f"@{stage.key}",
                depends_on=(stage.key,),
            ),
            share,
        ]
        waits = []
        for d in destinations:
            copy = CopyToDestination(
                key=f"copy:{d}:{region}",
                account=d,
                region=region,
                source_image=f"@{stage.key}",
                source_region=region,
                name="c",
                description="d",
                depends_on=(share.key,),
            )
            wait = AwaitImage(
                key=f"await:{d}:{region}", account=d, region=region, image=f"@{copy.key}", depends_on=(copy.key,)
            )
            revoke = RevokeDestination(
                key=f"revoke:{d}:{region}",
                account=SOURCE,
                region=region,
                image="ami-1",
                target=d,
                depends_on=(wait.key,),
            )
            actions += [copy, wait, revoke]
            waits.append(wait.key)
        actions.append(
            DeleteStaging(
                key=f"delete:{region}", account=SOURCE, region=region, image=f"@{stage.key}", after=tuple(waits)
            )
        )
    return _plan(*actions)


def _check(plan: Plan, phases: tuple[Phase, ...], chunk_size: int) -> None:
    keys = [k for p in phases for k in p.keys]
    assert sorted(keys) == sorted(a.key for a in plan.actions) and len(keys) == len(set(keys))
    assert phases[0].name == PREPARE or not any(p.name == PREPARE for p in phases)
    assert all(p.name != FINISH for p in phases[:-1])
    where = {k: p for p in phases for k in p.keys}
    for action in plan.actions:
        mine = where[action.key]
        for needed in dependencies(action) & where.keys():
            theirs = where[needed]
            if mine.name == PREPARE:
                assert theirs.name == PREPARE, (action.key, needed)
            elif mine.is_chunk:
                assert theirs.name in (mine.name, PREPARE), (action.key, needed)
    for phase in phases:
        if phase.is_chunk:
            actions = [a for a in plan.actions if a.key in phase.keys]
            assert len({a.region for a in actions}) == 1
            assert len({destination_of(plan, a) for a in actions}) <= chunk_size


@pytest.mark.parametrize("chunk_size", [1, 2, 50])
def test_a_transfer_cuts_into_the_source_side_chunks_of_destinations_and_the_clean_up(chunk_size: int) -> None:
    plan = _transfer(DESTINATIONS[:5], REGIONS)
    phases = partition(plan, chunk_size)
    _check(plan, phases, chunk_size)
    names = [p.name for p in phases]
    chunks_per_region = -(-5 // chunk_size)
    assert names == [PREPARE, *(f"chunk:{r}:{n}" for r in sorted(REGIONS) for n in range(chunks_per_region)), FINISH]
    assert set(phases[0].keys) == {f"{k}:{r}" for k in ("stage", "await-stage", "share") for r in REGIONS}
    assert set(phases[-1].keys) == {f"delete:{r}" for r in REGIONS}


def test_a_share_is_all_prepare() -> None:
    plan = _plan(ShareImage(key="s", account=SOURCE, region=REGIONS[0], image="ami-1", accounts=DESTINATIONS))
    assert partition(plan) == (Phase(PREPARE, ("s",)),)


def test_a_chunk_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        partition(_plan(), 0)


@st.composite
def plans(draw: Any) -> Plan:
    """Random DAGs of actions in the source's or a destination's account, some clean-ups, some references."""
    count = draw(st.integers(1, 25))
    actions: list[Action] = []
    for n in range(count):
        earlier = [a.key for a in actions]
        needs = tuple(draw(st.lists(st.sampled_from(earlier), max_size=3, unique=True))) if earlier else ()
        account = draw(st.sampled_from((SOURCE, SOURCE, *DESTINATIONS[:4])))
        region = draw(st.sampled_from(REGIONS))
        image = f"@{draw(st.sampled_from(earlier))}" if earlier and draw(st.booleans()) else "ami-1"
        if draw(st.integers(0, 9)) == 0:
            actions.append(DeleteStaging(key=f"a{n}", account=SOURCE, region=region, image=image, after=needs))
        elif account != SOURCE and draw(st.booleans()):
            actions.append(
                RevokeDestination(
                    key=f"a{n}", account=SOURCE, region=region, image="ami-1", target=account, depends_on=needs
                )
            )
        else:
            actions.append(
                ShareImage(
                    key=f"a{n}",
                    account=account,
                    region=region,
                    image=image,
                    accounts=DESTINATIONS[:1],
                    depends_on=needs,
                )
            )
    return _plan(*actions)


@given(plan=plans(), chunk_size=st.integers(1, 4))
def test_any_plan_partitions_with_every_action_once_and_no_dependency_forward(plan: Plan, chunk_size: int) -> None:
    _check(plan, partition(plan, chunk_size), chunk_size)
