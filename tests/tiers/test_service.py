"""Tier tasks with real purchases and the clock: upgrade by a quarter's spend, by referrals,
and the keep task at review."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select

from app.clock import FrozenClock
from app.db import unit_of_work
from app.earning import usecases as earning
from app.earning.commands import RecordEvent
from app.earning.store import EarningStore
from app.ledger.models import Actor
from app.runtime import Runtime
from app.tiers import usecases as tiers
from app.tiers.policy import DEMO_TIERS
from app.tiers.tables import tier_changes
from tests.earning.conftest import BASE, POS, AddRules
from tests.earning.test_service import buy


async def tier_code(runtime: Runtime, member: int) -> str:
    progress = await tiers.tier_progress(runtime, member)
    assert progress is not None
    return progress.current.code


async def test_spending_8000_in_a_quarter_is_gold_by_task_not_just_silver_by_spend(
    runtime: Runtime, member: int, add_rules: AddRules
) -> None:
    await add_rules(BASE)
    assert (await buy(runtime, member, "q1", "4000")).tier_change is None
    second = await buy(runtime, member, "q2", "4000")
    assert second.tier_change is not None
    assert (second.tier_change.to.code, second.tier_change.reason.value) == ("gold", "task")
    assert await tier_code(runtime, member) == "gold"


async def test_three_referrals_in_a_quarter_upgrade_to_silver(
    runtime: Runtime, member: int, add_rules: AddRules
) -> None:
    await add_rules(BASE)
    await buy(runtime, member, "first", "10")  # the member has a tier row now
    decisions = []
    for _ in range(3):
        async with unit_of_work(runtime.engine) as conn:
            store = EarningStore(conn, runtime.clock, runtime.settings)
            await store.lock_and_read_member(member)
            decisions.append(await store.tiers.count_referral(member))
    assert decisions[:2] == [None, None]
    assert decisions[2] is not None and decisions[2].to.code == "silver"
    progress = await tiers.tier_progress(runtime, member)
    assert progress is not None and progress.current.code == "silver"
    async with runtime.engine.connect() as conn:
        reasons = (await conn.scalars(select(tier_changes.c.reason))).all()
    assert reasons == ["task"]


async def stay_active_for(
    runtime: Runtime, member: int, clock: FrozenClock, days: int, *, buy_on_day: int | None
) -> None:
    """Let ``days`` pass with an event every 20 days (no inactivity downgrade); optionally a
    3,000 CNY purchase on one day."""
    for day in range(0, days, 20):
        clock.advance(timedelta(days=min(20, days - day)))
        await tiers_activity(runtime, member, f"alive-{clock.now():%Y%m%d}")
        if buy_on_day is not None and day <= buy_on_day < day + 20:
            await buy(runtime, member, "keep", "3000")


async def tiers_activity(runtime: Runtime, member: int, event_id: str) -> None:
    await earning.record_event(
        runtime,
        POS,
        RecordEvent(member_id=member, channel="app", event_id=event_id, name="sign_in"),
    )


async def test_the_keep_task_keeps_gold_at_review_and_without_it_gold_is_lost(
    runtime: Runtime, member: int, add_rules: AddRules, clock: FrozenClock
) -> None:
    await add_rules(BASE)
    await buy(runtime, member, "gold", "20000")
    assert await tier_code(runtime, member) == "gold"
    # A year on, the 20,000 has left the rolling window; 3,000 spent in the last quarter keeps
    # gold (the keep task), though 3,000 alone qualifies for nothing above 普卡.
    await stay_active_for(runtime, member, clock, 366, buy_on_day=300)
    assert await tiers.review_tiers(runtime) == 0
    assert await tier_code(runtime, member) == "gold"
    current = (await tiers.member_tiers_of(runtime, [member]))[member]
    assert current.review_at > clock.now()  # kept: the next review is a year later
    # Another year with no purchase: the review drops the member to what the spend qualifies.
    await stay_active_for(runtime, member, clock, 366, buy_on_day=None)
    assert await tiers.review_tiers(runtime) == 1
    assert await tier_code(runtime, member) == "normal"


async def test_points_on_a_purchase_follow_a_tier_multiplier_changed_by_staff(
    runtime: Runtime, member: int, add_rules: AddRules
) -> None:
    await add_rules(BASE)
    await buy(runtime, member, "to-silver", "5000")
    assert (await buy(runtime, member, "at-1.2", "100")).purchase.points == 120
    silver = DEMO_TIERS[1]
    saved = await tiers.save_tier_definition(
        runtime, replace(silver, multiplier=Decimal("1.5")), actor=Actor("staff:alice")
    )
    assert (saved.version, saved.changed) == (2, True)
    assert (await buy(runtime, member, "at-1.5", "100")).purchase.points == 150
    async with runtime.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(tier_changes)) == 1


async def test_a_programme_qualifying_by_points_upgrades_on_points_earned_in_the_window(
    runtime: Runtime, member: int, add_rules: AddRules, clock: FrozenClock
) -> None:
    points_programme = replace(
        runtime, settings=runtime.settings.model_copy(update={"tier_qualifying_measure": "points"})
    )
    await add_rules(
        BASE,
        {
            **BASE,
            "name": "share 4,000",
            "trigger": "event",
            "event": "share",
            "effect": {"kind": "fixed", "points": 4000},
        },
    )
    # 1,200 CNY earns 1,200 points: below silver's 5,000 either way.
    assert (await buy(points_programme, member, "p1", "1200")).tier_change is None
    await earning.record_event(
        points_programme,
        POS,
        RecordEvent(member_id=member, channel="app", event_id="e1", name="share"),
    )
    # 5,200 points earned (1,200 + 4,000) though only 1,200 CNY spent: silver.
    assert await tier_code(points_programme, member) == "silver"
    progress = await tiers.tier_progress(points_programme, member)
    assert progress is not None and progress.qualifying_spend == Decimal(5200)
    # The same member measured by spend has 1,200.
    by_spend = await tiers.tier_progress(runtime, member)
    assert by_spend is not None and by_spend.qualifying_spend == Decimal(1200)
    clock.advance(timedelta(days=400))
    gone = await tiers.tier_progress(points_programme, member)
    assert gone is not None and gone.qualifying_spend == 0
