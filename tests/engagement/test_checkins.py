"""Daily sign-in on the database: the schedule with the clock, business days, races, make-ups."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.clock import FrozenClock
from app.engagement import usecases
from app.engagement.tables import engagement_rewards, sign_ins
from app.errors import DomainError, ErrorCode
from app.events.tables import events
from app.ledger import usecases as ledger
from app.ledger.audit import audit_ledger
from app.ledger.tables import entries
from app.mall import lottery as mall_lottery
from app.mall.demo import DEMO_WHEEL
from app.mall.tables import lottery_tickets
from app.runtime import Runtime
from tests.engagement.conftest import STAFF, NewMember, actor_of

# 09:00 in Shanghai (UTC+8) on Monday 2026-11-23.
MORNING = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


async def _count(runtime: Runtime, table: object, *where: object) -> int:
    async with runtime.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table).where(*where)) or 0)  # type: ignore[arg-type]


async def activate_calendar(runtime: Runtime) -> None:
    schedules = await usecases.list_schedules(runtime)
    calendar = next(s for s, _ in schedules if s.code == "calendar")
    await usecases.save_schedule(
        runtime, STAFF, "calendar", calendar.name, calendar.as_spec(), activate=True
    )


async def _audit(runtime: Runtime) -> None:
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report.render()


async def test_days_one_to_eight_follow_the_simple_schedule(
    runtime: Runtime, clock: FrozenClock, member: int
) -> None:
    clock.set(MORNING)
    paid = []
    for _ in range(8):
        result = await usecases.check_in(runtime, actor_of(member), member)
        paid.append((result.sign_in.streak, result.sign_in.points))
        clock.advance(timedelta(days=1))

    assert paid == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5), (6, 5), (7, 25), (8, 5)]
    assert (await ledger.get_balance(runtime, member)).total == 6 * 5 + 25 + 5
    await _audit(runtime)


async def test_a_missed_day_resets_the_streak(
    runtime: Runtime, clock: FrozenClock, member: int
) -> None:
    clock.set(MORNING)
    for _ in range(3):
        await usecases.check_in(runtime, actor_of(member), member)
        clock.advance(timedelta(days=1))
    assert (await usecases.streak_state(runtime, member)).streak == 3
    clock.advance(timedelta(days=1))  # a day without a sign-in

    assert (await usecases.streak_state(runtime, member)).streak == 0
    again = await usecases.check_in(runtime, actor_of(member), member)
    assert (again.sign_in.streak, again.sign_in.points) == (1, 5)


async def test_2359_and_0001_shanghai_are_two_business_days(
    runtime: Runtime, clock: FrozenClock, member: int
) -> None:
    # 23:59 on the 23rd in Shanghai is 15:59 UTC; 00:01 on the 24th is 16:01 UTC (same UTC day).
    clock.set(datetime(2026, 11, 23, 15, 59, tzinfo=UTC))
    first = await usecases.check_in(runtime, actor_of(member), member)
    clock.set(datetime(2026, 11, 23, 16, 1, tzinfo=UTC))
    second = await usecases.check_in(runtime, actor_of(member), member)

    assert (first.sign_in.day, second.sign_in.day) == (date(2026, 11, 23), date(2026, 11, 24))
    assert second.sign_in.streak == 2


async def test_two_sign_ins_on_one_business_day_pay_once(
    runtime: Runtime, clock: FrozenClock, member: int
) -> None:
    # 00:30 and 23:30 in Shanghai: two different UTC days, one business day.
    clock.set(datetime(2026, 11, 22, 16, 30, tzinfo=UTC))
    await usecases.check_in(runtime, actor_of(member), member)
    clock.set(datetime(2026, 11, 23, 15, 30, tzinfo=UTC))

    with pytest.raises(DomainError) as refused:
        await usecases.check_in(runtime, actor_of(member), member)

    assert refused.value.code is ErrorCode.ALREADY_EXISTS
    assert (await ledger.get_balance(runtime, member)).total == 5
    assert await _count(runtime, sign_ins) == 1


async def test_one_hundred_concurrent_check_ins_pay_one_reward(
    runtime: Runtime, member: int
) -> None:
    async def attempt() -> str:
        try:
            await usecases.check_in(runtime, actor_of(member), member)
        except DomainError as error:
            return error.code.value
        return "ok"

    outcomes = await asyncio.gather(*(attempt() for _ in range(100)))

    assert outcomes.count("ok") == 1
    assert outcomes.count("ALREADY_EXISTS") == 99
    assert (await ledger.get_balance(runtime, member)).total == 5
    assert await _count(runtime, entries, entries.c.member_id == member) == 1
    assert await _count(runtime, engagement_rewards) == 1
    await _audit(runtime)


async def test_the_reward_log_refuses_a_second_payment_for_the_same_day(
    runtime: Runtime, member: int
) -> None:
    await usecases.check_in(runtime, actor_of(member), member)
    # Even a path that got past the sign-in row (here: the row deleted by hand) cannot pay twice:
    # the day's key in the reward log refuses the check-in, and the earn is rolled back.
    async with runtime.engine.begin() as conn:
        await conn.execute(sign_ins.delete())
    with pytest.raises(DomainError) as refused:
        await usecases.check_in(runtime, actor_of(member), member)

    assert refused.value.code is ErrorCode.ALREADY_EXISTS
    assert (await ledger.get_balance(runtime, member)).total == 5
    assert await _count(runtime, entries, entries.c.member_id == member) == 1
    await _audit(runtime)


async def test_a_schedule_change_applies_to_the_very_next_check_in_despite_the_cache(
    runtime: Runtime, new_member: NewMember
) -> None:
    first, second, third = [await new_member(ref) for ref in ("a", "b", "c")]
    assert (await usecases.check_in(runtime, actor_of(first), first)).sign_in.points == 5
    # The active schedule is now cached in this process; staff change it.
    daily = next(s for s, _ in await usecases.list_schedules(runtime) if s.code == "daily")
    spec = {**daily.as_spec(), "base_points": 7}
    await usecases.save_schedule(runtime, STAFF, "daily", daily.name, spec, activate=True)
    assert (await usecases.check_in(runtime, actor_of(second), second)).sign_in.points == 7

    await activate_calendar(runtime)  # another schedule becomes the active one
    await usecases.check_in(runtime, actor_of(third), third)
    async with runtime.engine.connect() as conn:
        used = await conn.scalar(
            select(sign_ins.c.schedule_code).where(sign_ins.c.member_id == third)
        )
    assert used == "calendar"


async def test_calendar_schedule_records_the_gift_and_the_lottery_draw(
    runtime: Runtime, clock: FrozenClock, member: int
) -> None:
    await activate_calendar(runtime)
    clock.set(MORNING)
    for _ in range(7):
        result = await usecases.check_in(runtime, actor_of(member), member)
        clock.advance(timedelta(days=1))

    assert (result.sign_in.points, result.sign_in.lottery_draws) == (50, 1)
    async with runtime.engine.connect() as conn:
        kinds = (
            await conn.execute(
                select(engagement_rewards.c.kind, func.count())
                .group_by(engagement_rewards.c.kind)
                .order_by(engagement_rewards.c.kind)
            )
        ).all()
    assert [tuple(k) for k in kinds] == [("gift", 1), ("lottery_draw", 1), ("points", 7)]
    assert (await ledger.get_balance(runtime, member)).total == 5 + 5 + 10 + 5 + 5 + 5 + 50


async def test_the_day_seven_draw_is_a_free_draw_ticket_in_the_mall(
    runtime: Runtime, clock: FrozenClock, member: int
) -> None:
    await mall_lottery.ensure_pool(runtime, DEMO_WHEEL)
    await activate_calendar(runtime)
    clock.set(MORNING)
    for _ in range(7):
        await usecases.check_in(runtime, actor_of(member), member)
        clock.advance(timedelta(days=1))

    async with runtime.engine.connect() as conn:
        refs = (await conn.scalars(select(lottery_tickets.c.source_ref))).all()
    assert refs == [f"engagement:{member}:checkin:2026-11-29:lottery_draw:0"]


async def test_every_check_in_appends_a_streak_event(runtime: Runtime, member: int) -> None:
    await usecases.check_in(runtime, actor_of(member), member)

    async with runtime.engine.connect() as conn:
        types = (await conn.scalars(select(events.c.type).order_by(events.c.id))).all()
    assert "signin.checked_in" in types and "points.earned" in types


async def test_a_make_up_card_fills_a_missed_day_and_joins_the_runs(
    runtime: Runtime, clock: FrozenClock, new_member: NewMember
) -> None:
    clock.set(datetime(2026, 11, 10, 1, 0, tzinfo=UTC))
    member = await new_member("m1")  # registered that day: the days after it can be made up
    for day in (10, 11, 13, 14):
        clock.set(datetime(2026, 11, day, 1, 0, tzinfo=UTC))
        await usecases.check_in(runtime, actor_of(member), member)
    await usecases.grant_makeup_cards(
        runtime, STAFF, member, 1, reason="apology", idempotency_key="card-1"
    )

    made = await usecases.make_up_sign_in(runtime, actor_of(member), member, date(2026, 11, 12))

    assert (made.streak, made.points, made.made_up) == (3, 0, True)
    month = await usecases.month_sign_ins(runtime, member, 2026, 11)
    assert [(s.day.day, s.streak) for s in month] == [(10, 1), (11, 2), (12, 3), (13, 4), (14, 5)]
    state = await usecases.streak_state(runtime, member)
    assert (state.streak, state.makeup_cards) == (5, 0)
    assert (await ledger.get_balance(runtime, member)).total == 20  # the made-up day paid 0


async def test_make_up_refusals_change_nothing(
    runtime: Runtime, clock: FrozenClock, new_member: NewMember
) -> None:
    clock.set(MORNING - timedelta(days=3))
    member = await new_member("m1")
    clock.set(MORNING)
    await usecases.check_in(runtime, actor_of(member), member)

    cases = [
        (date(2026, 11, 22), ErrorCode.LIMIT_REACHED),  # no card
        (date(2026, 11, 23), ErrorCode.INVALID_INPUT),  # today
        (date(2026, 10, 30), ErrorCode.INVALID_INPUT),  # last month
    ]
    for day, code in cases:
        with pytest.raises(DomainError) as refused:
            await usecases.make_up_sign_in(runtime, actor_of(member), member, day)
        assert refused.value.code is code
    await usecases.grant_makeup_cards(runtime, STAFF, member, 1, reason="r", idempotency_key="k")
    with pytest.raises(DomainError) as signed:
        await usecases.make_up_sign_in(runtime, actor_of(member), member, date(2026, 11, 23))
    assert signed.value.code is ErrorCode.INVALID_INPUT
    assert await _count(runtime, sign_ins) == 1
    assert (await usecases.streak_state(runtime, member)).makeup_cards == 1


async def test_a_day_before_the_member_registered_cannot_be_made_up(
    runtime: Runtime, clock: FrozenClock, new_member: NewMember
) -> None:
    # Registered at 23:30 on the 10th in Shanghai (15:30 UTC): the 10th is its first day.
    clock.set(datetime(2026, 11, 10, 15, 30, tzinfo=UTC))
    member = await new_member("late")
    await usecases.grant_makeup_cards(runtime, STAFF, member, 2, reason="r", idempotency_key="k")
    clock.set(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))

    with pytest.raises(DomainError) as refused:
        await usecases.make_up_sign_in(runtime, actor_of(member), member, date(2026, 11, 9))

    assert refused.value.code is ErrorCode.INVALID_INPUT and refused.value.field == "day"
    assert "2026-11-10" in refused.value.message
    assert await _count(runtime, sign_ins) == 0
    assert (await usecases.streak_state(runtime, member)).makeup_cards == 2  # no card used
    made = await usecases.make_up_sign_in(runtime, actor_of(member), member, date(2026, 11, 10))
    assert (made.day, made.streak) == (date(2026, 11, 10), 1)


async def test_granting_cards_twice_under_one_key_grants_once(
    runtime: Runtime, member: int
) -> None:
    first = await usecases.grant_makeup_cards(
        runtime, STAFF, member, 2, reason="r", idempotency_key="k"
    )
    again = await usecases.grant_makeup_cards(
        runtime, STAFF, member, 2, reason="r", idempotency_key="k"
    )

    assert first is not None and again is None
    assert (await usecases.streak_state(runtime, member)).makeup_cards == 2


async def test_a_closed_or_unknown_member_cannot_check_in(
    runtime: Runtime, new_member: NewMember
) -> None:
    with pytest.raises(DomainError) as unknown:
        await usecases.check_in(runtime, actor_of(999), 999)
    assert unknown.value.code is ErrorCode.NOT_FOUND
    assert await _count(runtime, sign_ins) == 0


async def test_the_audit_catches_a_reward_without_its_ledger_earn(
    runtime: Runtime, member: int
) -> None:
    await usecases.check_in(runtime, actor_of(member), member)
    await _audit(runtime)
    async with runtime.engine.begin() as conn:
        await conn.execute(engagement_rewards.update().values(points=6))

    report = await audit_ledger(runtime.engine, runtime.clock.now())

    assert not report.ok
    failed = [check.name for check in report.checks if not check.ok]
    assert failed == ["each engagement points reward is its ledger earn"]
