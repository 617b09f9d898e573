"""Tasks fed by purchases, events and sign-ins on the database; teams, boards, badges, win-back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.clock import FrozenClock
from app.earning import usecases as earning
from app.earning.commands import PurchaseLineInput, RecordEvent, RecordPurchase
from app.engagement import usecases
from app.engagement.demo import seed_engagement
from app.engagement.tables import engagement_rewards, task_progress, team_members
from app.errors import DomainError, ErrorCode
from app.ledger import usecases as ledger
from app.ledger.audit import audit_ledger
from app.ledger.models import Actor
from app.runtime import Runtime
from tests.engagement.conftest import STAFF, NewMember, actor_of

POS = Actor("partner:shop", "pos")
BASE_RULE = {
    "name": "1 point per CNY",
    "trigger": "purchase",
    "effect": {"kind": "per_unit", "rate": "1"},
}


@pytest.fixture
async def demo(runtime: Runtime, programme: None) -> None:
    await seed_engagement(runtime, STAFF)


async def buy(
    runtime: Runtime, member: int, order: str, amount: str, category: str = "grocery"
) -> None:
    line = PurchaseLineInput("sku", category, 1, Decimal(amount))
    await earning.record_purchase(
        runtime, POS, RecordPurchase(member_id=member, channel="pos", order_id=order, lines=[line])
    )


async def total(runtime: Runtime, member: int) -> int:
    return (await ledger.get_balance(runtime, member)).total


async def audit(runtime: Runtime) -> None:
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report.render()


def status(centre: list[usecases.TaskStatus], code: str) -> usecases.TaskStatus:
    return next(s for s in centre if s.task.code == code)


async def test_buying_on_three_consecutive_days_pays_one_hundred_once(
    runtime: Runtime, clock: FrozenClock, demo: None, member: int
) -> None:
    for day in range(3):
        await buy(runtime, member, f"o{day}", "10")
        await buy(runtime, member, f"o{day}-again", "10")  # a second purchase the same day
        clock.advance(timedelta(days=1))

    assert await total(runtime, member) == 100
    clock.advance(timedelta(days=-1))
    buy3 = status(await usecases.task_centre(runtime, member), "buy-3-days")
    assert buy3.progress.completions == 1
    await audit(runtime)


async def test_a_replayed_purchase_does_not_progress_tasks_again(
    runtime: Runtime, demo: None, member: int
) -> None:
    await buy(runtime, member, "o1", "10", "a")
    await buy(runtime, member, "o1", "10", "a")  # the same order id: a replay

    explorer = status(await usecases.task_centre(runtime, member), "new-product-explorer")
    assert explorer.progress.progress == 1


async def test_the_explorer_badge_is_awarded_once_with_its_points(
    runtime: Runtime, demo: None, member: int
) -> None:
    for n, category in enumerate(("a", "b", "c", "d")):
        await buy(runtime, member, f"o{n}", "1", category)

    badges = await usecases.member_badges(runtime, member)
    assert [b.badge.code for b in badges] == ["new-product-explorer"]
    assert await total(runtime, member) == 30


async def test_share_task_tracks_the_earning_rule_without_paying_twice(
    runtime: Runtime, demo: None, member: int
) -> None:
    await earning.create_rule(
        runtime,
        STAFF,
        {
            "name": "share 10, at most 30 a day",
            "trigger": "event",
            "event": "share",
            "effect": {"kind": "fixed", "points": 10},
            "caps": {"day": 30},
        },
    )
    for n in range(4):
        await earning.record_event(
            runtime,
            POS,
            RecordEvent(member_id=member, channel="pos", event_id=f"s{n}", name="share"),
        )

    share = status(await usecases.task_centre(runtime, member), "share-daily")
    assert (share.progress.completions, share.task.max_completions) == (3, 3)
    assert await total(runtime, member) == 30  # the rule's points only


async def test_a_manual_task_completes_once(runtime: Runtime, member: int, programme: None) -> None:
    await usecases.create_task(
        runtime,
        STAFF,
        "follow",
        {"name": "Follow us", "kind": "one_off", "trigger": "manual", "reward": {"points": 10}},
    )
    done = await usecases.complete_task(runtime, actor_of(member), member, "follow")
    assert done.completed == 1

    with pytest.raises(DomainError) as twice:
        await usecases.complete_task(runtime, actor_of(member), member, "follow")
    with pytest.raises(DomainError) as unknown:
        await usecases.complete_task(runtime, actor_of(member), member, "nope")

    assert twice.value.code is ErrorCode.LIMIT_REACHED
    assert unknown.value.code is ErrorCode.NOT_FOUND
    assert await total(runtime, member) == 10


async def test_concurrent_completions_of_a_one_off_task_pay_once(
    runtime: Runtime, member: int, programme: None
) -> None:
    await usecases.create_task(
        runtime,
        STAFF,
        "follow",
        {"name": "Follow us", "kind": "one_off", "trigger": "manual", "reward": {"points": 10}},
    )

    async def attempt() -> str:
        try:
            await usecases.complete_task(runtime, actor_of(member), member, "follow")
        except DomainError as error:
            return error.code.value
        return "ok"

    outcomes = await asyncio.gather(*(attempt() for _ in range(30)))

    assert outcomes.count("ok") == 1 and outcomes.count("LIMIT_REACHED") == 29
    assert await total(runtime, member) == 10
    await audit(runtime)


async def test_seven_day_streak_task_gives_a_badge_and_a_make_up_card(
    runtime: Runtime, clock: FrozenClock, demo: None, member: int
) -> None:
    for _ in range(7):
        await usecases.check_in(runtime, actor_of(member), member)
        clock.advance(timedelta(days=1))

    assert [b.badge.code for b in await usecases.member_badges(runtime, member)] == [
        "seven-day-streak"
    ]
    assert (await usecases.streak_state(runtime, member)).makeup_cards == 1


async def test_monthly_points_board_ranks_members(
    runtime: Runtime, demo: None, new_member: NewMember
) -> None:
    await earning.create_rule(runtime, STAFF, BASE_RULE)
    a, b, c = [await new_member(ref) for ref in ("a", "b", "c")]
    await buy(runtime, a, "a1", "300")
    await buy(runtime, b, "b1", "1200")
    await buy(runtime, c, "c1", "300")

    _, period, standings, mine = await usecases.challenge_board(runtime, "monthly-points", 10, c)

    assert period == "2026-11"
    assert [(s.rank, s.subject_id, s.progress) for s in standings] == [
        (1, b, 1200),
        (2, a, 300),
        (3, c, 300),  # a tie: who got there first ranks first
    ]
    assert mine is not None and mine.rank == 3
    draws = await _count(runtime, engagement_rewards.c.kind == "lottery_draw")
    assert draws == 1  # b completed the challenge: its draw is recorded


async def _count(runtime: Runtime, *where: object) -> int:
    async with runtime.engine.connect() as conn:
        found = await conn.scalar(
            select(func.count()).select_from(engagement_rewards).where(*where)
        )  # type: ignore[arg-type]
    return int(found or 0)


async def test_team_members_earn_the_twenty_percent_bonus_and_teams_are_ranked(
    runtime: Runtime, demo: None, new_member: NewMember
) -> None:
    a, b, solo = [await new_member(ref) for ref in ("a", "b", "solo")]
    team = await usecases.create_team(runtime, actor_of(a), "team-spend", a, "Early birds")
    await usecases.join_team(runtime, actor_of(b), team.code, b)

    await buy(runtime, a, "a1", "1000")
    await buy(runtime, solo, "s1", "1000")
    await buy(runtime, b, "b1", "400")

    assert await total(runtime, a) == 200 + 40
    assert await total(runtime, solo) == 200
    found, ids, progress = await usecases.get_team(runtime, team.code)
    assert (ids, progress, found.size) == ([a, b], 1400, 2)
    _, _, board = await usecases.team_board(runtime, "team-spend", 10)
    assert [(s.subject_id, s.progress) for s in board] == [(team.id, 1400)]
    await audit(runtime)


async def test_a_full_team_an_unknown_code_and_a_second_team_are_refused(
    runtime: Runtime, demo: None, new_member: NewMember
) -> None:
    members = [await new_member(f"m{n}") for n in range(7)]
    team = await usecases.create_team(runtime, STAFF, "team-spend", members[0], "Five")
    for m in members[1:5]:
        await usecases.join_team(runtime, STAFF, team.code, m)

    with pytest.raises(DomainError) as full:
        await usecases.join_team(runtime, STAFF, team.code, members[5])
    with pytest.raises(DomainError) as unknown:
        await usecases.join_team(runtime, STAFF, "ZZZZZZ", members[5])
    other = await usecases.create_team(runtime, STAFF, "team-spend", members[6], "Other")
    with pytest.raises(DomainError) as second:
        await usecases.join_team(runtime, STAFF, other.code, members[1])
    with pytest.raises(DomainError) as not_team:
        await usecases.create_team(runtime, STAFF, "buy-3-days", members[5], "Nope")

    assert full.value.code is ErrorCode.LIMIT_REACHED
    assert unknown.value.code is ErrorCode.NOT_FOUND
    assert second.value.code is ErrorCode.ALREADY_EXISTS
    assert not_team.value.code is ErrorCode.INVALID_INPUT
    async with runtime.engine.connect() as conn:
        joined = await conn.scalar(select(func.count()).select_from(team_members))
    assert joined == 6
    assert (await usecases.get_team(runtime, team.code))[0].size == 5


async def test_a_rush_to_join_a_team_never_overfills_it(
    runtime: Runtime, demo: None, new_member: NewMember
) -> None:
    members = [await new_member(f"m{n}") for n in range(20)]
    team = await usecases.create_team(runtime, STAFF, "team-spend", members[0], "Rush")

    async def join(m: int) -> str:
        try:
            await usecases.join_team(runtime, STAFF, team.code, m)
        except DomainError as error:
            return error.code.value
        return "ok"

    outcomes = await asyncio.gather(*(join(m) for m in members[1:]))

    assert outcomes.count("ok") == 4 and outcomes.count("LIMIT_REACHED") == 15
    found, ids, _ = await usecases.get_team(runtime, team.code)
    assert found.size == len(ids) == 5


async def test_a_dormant_member_who_comes_back_gets_one_hundred_once(
    runtime: Runtime, clock: FrozenClock, demo: None, member: int
) -> None:
    await usecases.check_in(runtime, actor_of(member), member)
    clock.advance(timedelta(days=89))
    await usecases.check_in(runtime, actor_of(member), member)  # 89 days: not dormant
    assert await total(runtime, member) == 10
    clock.advance(timedelta(days=90))

    await buy(runtime, member, "back", "10")
    await usecases.check_in(runtime, actor_of(member), member)  # same day: no second win-back

    assert await total(runtime, member) == 10 + 100 + 5
    async with runtime.engine.connect() as conn:
        winbacks = await conn.scalar(
            select(func.count())
            .select_from(engagement_rewards)
            .where(engagement_rewards.c.source == "winback")
        )
    assert winbacks == 1
    await audit(runtime)


async def test_task_progress_rows_are_per_member_and_period(
    runtime: Runtime, clock: FrozenClock, demo: None, member: int
) -> None:
    clock.set(datetime(2026, 11, 30, 2, 0, tzinfo=UTC))
    await buy(runtime, member, "nov", "10")
    clock.set(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    await buy(runtime, member, "dec", "10")

    async with runtime.engine.connect() as conn:
        periods = (
            await conn.scalars(
                select(task_progress.c.period)
                .where(task_progress.c.member_id == member)
                .distinct()
                .order_by(task_progress.c.period)
            )
        ).all()
    assert periods == ["2026-11", "2026-12", "life"]


async def test_a_task_switched_on_or_off_applies_to_the_very_next_purchase_despite_the_cache(
    runtime: Runtime, demo: None, member: int
) -> None:
    """Enabled tasks are cached per process and checked by the tasks table's generation."""
    await usecases.update_task(runtime, STAFF, "new-product-explorer", None, enabled=False)
    await buy(runtime, member, "o1", "10", "a")  # the tasks (without the explorer) now cached
    await buy(runtime, member, "o2", "10", "b")
    await buy(runtime, member, "o3", "10", "c")  # three categories, but the task is off
    assert await total(runtime, member) == 0

    await usecases.update_task(runtime, STAFF, "new-product-explorer", None, enabled=True)
    await buy(runtime, member, "o4", "10", "d")
    await buy(runtime, member, "o5", "10", "e")
    await buy(runtime, member, "o6", "10", "f")  # the explorer's third category: 30 points
    assert await total(runtime, member) == 30

    await audit(runtime)
