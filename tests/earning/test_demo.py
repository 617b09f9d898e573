"""The demo programme with all the seeds' rules together: the baskets of docs/EARNING.md."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import func, select

from app.clock import FrozenClock
from app.earning import usecases
from app.earning.commands import PurchaseLineInput, RecordEvent, RecordPurchase
from app.earning.demo import DEMO_RULES
from app.earning.tables import earning_rules
from app.members import usecases as members
from app.members.service import ProfileChanges
from app.runtime import Runtime
from app.seed import seed_earning
from tests.earning.conftest import POS

MONDAY = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
WEDNESDAY = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
SATURDAY = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def line(sku: str, category: str, amount: str) -> PurchaseLineInput:
    return PurchaseLineInput(sku, category, 1, Decimal(amount))


async def points(runtime: Runtime, member: int, order: str, *lines: PurchaseLineInput) -> int:
    result = await usecases.record_purchase(
        runtime,
        POS,
        RecordPurchase(member_id=member, channel="pos", order_id=order, lines=list(lines)),
    )
    return result.purchase.points


async def test_seeding_twice_changes_nothing(runtime: Runtime) -> None:
    await seed_earning(runtime)
    await seed_earning(runtime)
    async with runtime.engine.connect() as conn:
        count = await conn.scalar(select(func.count()).select_from(earning_rules))
    assert count == len(DEMO_RULES)


async def test_the_baskets_of_docs_earning_md(runtime: Runtime, clock: FrozenClock) -> None:
    await seed_earning(runtime)
    reg = await members.register_member(runtime, channel="pos", external_ref="demo")
    m = reg.member.id
    clock.set(MONDAY)
    # 1. A new member's first purchase, 100 CNY of groceries on a Monday: base 100, new
    #    category +30, first purchase +50.
    assert await points(runtime, m, "b1", line("rice", "grocery", "100")) == 180
    # 2. The same basket again: nothing new any more.
    assert await points(runtime, m, "b2", line("rice", "grocery", "100")) == 100
    # 3. Groceries 60 + fresh 40 (fresh is new): base 100, fresh +20, new category +12.
    assert (
        await points(runtime, m, "b3", line("rice", "grocery", "60"), line("kale", "fresh", "40"))
        == 132
    )
    # 4. A 600 CNY order on Saturday: base 600, weekend x1.5 +300, big order +50.
    clock.set(SATURDAY)
    assert await points(runtime, m, "b4", line("tv", "grocery", "600")) == 950
    # The member has 900 CNY of spend: still 普卡. Reach 银卡 (5,000) with a Monday order.
    clock.set(MONDAY)
    assert await points(runtime, m, "b5", line("sofa", "grocery", "4100")) == 4150
    # 5. 银卡 on a Wednesday member day, 100 CNY of groceries: base 100, tier +20, x2 +120.
    clock.set(WEDNESDAY)
    assert await points(runtime, m, "b6", line("rice", "grocery", "100")) == 240
    # 6. 银卡, Wednesday, birthday, 100 CNY of fresh: base 100, tier +20, x2 +120, fresh +50,
    #    birthday +100. The birthday was given before the day: one given today pays nothing today.
    clock.set(MONDAY)
    await members.update_profile(runtime, m, ProfileChanges(birthday=date(1990, 11, 25)))
    clock.set(WEDNESDAY)
    assert await points(runtime, m, "b7", line("kale", "fresh", "100")) == 390


async def test_sharing_and_running_with_the_demo_rules(runtime: Runtime) -> None:
    await seed_earning(runtime)
    m = (await members.register_member(runtime, channel="app", external_ref="x")).member.id
    shares = [
        (
            await usecases.record_event(
                runtime,
                POS,
                RecordEvent(member_id=m, channel="app", event_id=f"s{i}", name="share"),
            )
        ).points
        for i in range(4)
    ]
    assert shares == [10, 10, 10, 0]
    run = await usecases.record_event(
        runtime,
        POS,
        RecordEvent(
            member_id=m,
            channel="mall",
            event_id="run1",
            name="running_calories",
            quantity=Decimal("620"),
        ),
    )
    assert run.points == 50  # 62, cut to the day's 50
