"""A non-points reward pays exactly its quantity, on every path that grants one, and a replay
pays nothing more: a task's lottery draws (the reward log and the mall's free-draw tickets) and
make-up cards, completed by hand (completeTask), by an event, by a purchase (under the purchase's
lock) and by a check-in (after engagement_check_in() declines); a sign-in day's lottery draws."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.clock import FrozenClock
from app.earning import usecases as earning
from app.earning.commands import PurchaseLineInput, RecordEvent, RecordPurchase
from app.engagement import usecases
from app.engagement.tables import engagement_profiles, engagement_rewards
from app.errors import DomainError
from app.mall import lottery as mall_lottery
from app.mall.demo import DEMO_WHEEL
from app.mall.tables import lottery_tickets
from app.runtime import Runtime
from tests.engagement.conftest import STAFF, NewMember, actor_of
from tests.engagement.test_tracker import POS

MORNING = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
DRAWS, CARDS = 3, 2
REWARD = {"lottery_draws": DRAWS, "makeup_cards": CARDS}

Completion = Callable[[Runtime, int], Awaitable[None]]


async def _by_hand(runtime: Runtime, member: int) -> None:
    await usecases.complete_task(runtime, actor_of(member), member, "rewarded")


async def _by_event(runtime: Runtime, member: int) -> None:
    event = RecordEvent(member_id=member, channel="app", event_id="e-1", name="share")
    await earning.record_event(runtime, POS, event)


async def _by_purchase(runtime: Runtime, member: int) -> None:
    line = PurchaseLineInput("sku", "grocery", 1, Decimal("20"))
    purchase = RecordPurchase(member_id=member, channel="pos", order_id="o-1", lines=[line])
    await earning.record_purchase(runtime, POS, purchase)


async def _by_check_in(runtime: Runtime, member: int) -> None:
    await usecases.check_in(runtime, actor_of(member), member)


TRIGGERS: dict[str, tuple[dict[str, str], Completion]] = {
    "manual": ({"trigger": "manual"}, _by_hand),
    "event": ({"trigger": "event", "event": "share"}, _by_event),
    "purchase": ({"trigger": "purchase"}, _by_purchase),
    "sign_in": ({"trigger": "sign_in"}, _by_check_in),
}


async def _granted(runtime: Runtime, member: int, source: str) -> dict[str, int]:
    """What the member was given from ``source``: per kind the quantities in the reward log, the
    mall's free-draw tickets and the make-up cards held."""
    async with runtime.engine.connect() as conn:
        logged = await conn.execute(
            select(engagement_rewards.c.kind, func.sum(engagement_rewards.c.quantity))
            .where(engagement_rewards.c.member_id == member, engagement_rewards.c.source == source)
            .group_by(engagement_rewards.c.kind)
        )
        tickets = await conn.scalar(
            select(func.count())
            .select_from(lottery_tickets)
            .where(lottery_tickets.c.member_id == member)
        )
        cards = await conn.scalar(
            select(engagement_profiles.c.makeup_cards).where(
                engagement_profiles.c.member_id == member
            )
        )
    return {**{kind: int(n) for kind, n in logged}, "tickets": tickets or 0, "cards": cards or 0}


# Which completions again are refused, the same day and the next: completeTask refuses a
# completed one-off task; checkIn refuses a second check-in the same day; the same event or order
# is answered as a replay.
REFUSED_AGAIN = {
    "manual": (True, True),
    "event": (False, False),
    "purchase": (False, False),
    "sign_in": (True, False),
}


async def _again(runtime: Runtime, member: int, trigger: str, *, refused: bool) -> None:
    complete = TRIGGERS[trigger][1]
    if not refused:
        await complete(runtime, member)
        return
    with pytest.raises(DomainError):
        await complete(runtime, member)


@pytest.mark.parametrize("trigger", list(TRIGGERS))
async def test_a_task_pays_exactly_its_draws_and_cards_once(
    runtime: Runtime, clock: FrozenClock, new_member: NewMember, trigger: str
) -> None:
    clock.set(MORNING)
    await mall_lottery.ensure_pool(runtime, DEMO_WHEEL)
    other, member = await new_member("other"), await new_member("m1")
    await usecases.check_in(runtime, actor_of(other), other)  # the check-in caches filled
    spec = {"name": "Rewarded", "kind": "one_off", "reward": REWARD, **TRIGGERS[trigger][0]}
    await usecases.create_task(runtime, STAFF, "rewarded", spec)

    await TRIGGERS[trigger][1](runtime, member)
    expected = {"lottery_draw": DRAWS, "makeup_card": CARDS, "tickets": DRAWS, "cards": CARDS}
    assert await _granted(runtime, member, "task") == expected

    today, tomorrow = REFUSED_AGAIN[trigger]
    await _again(runtime, member, trigger, refused=today)
    clock.advance(timedelta(days=1))
    await _again(runtime, member, trigger, refused=tomorrow)
    assert await _granted(runtime, member, "task") == expected


async def test_a_sign_in_day_pays_exactly_its_draws_once(
    runtime: Runtime, clock: FrozenClock, new_member: NewMember
) -> None:
    clock.set(MORNING)
    await mall_lottery.ensure_pool(runtime, DEMO_WHEEL)
    other, member = await new_member("other"), await new_member("m1")
    await usecases.check_in(runtime, actor_of(other), other)  # the check-in caches filled
    spec = {"base_points": 5, "cycle_days": 7, "days": [{"day": 1, "lottery_draws": DRAWS}]}
    await usecases.save_schedule(runtime, STAFF, "draws", "Draws on day 1", spec, activate=True)

    await usecases.check_in(runtime, actor_of(member), member)
    expected = {"points": 1, "lottery_draw": DRAWS, "tickets": DRAWS, "cards": 0}
    assert await _granted(runtime, member, "checkin") == expected
    with pytest.raises(DomainError):
        await usecases.check_in(runtime, actor_of(member), member)
    assert await _granted(runtime, member, "checkin") == expected
