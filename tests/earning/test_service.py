"""Earning on the database: the seeds' examples, refunds, idempotency, caps, day boundaries."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text, update

from app.clock import FrozenClock
from app.earning import usecases
from app.earning.commands import (
    PreviewPoints,
    PurchaseLineInput,
    RecordEvent,
    RecordPurchase,
    RecordRefund,
    RefundLineInput,
)
from app.earning.tables import earning_counters, purchases
from app.errors import DomainError, ErrorCode
from app.ledger import usecases as ledger
from app.ledger.audit import audit_ledger
from app.ledger.tables import accounts
from app.members.tables import members as members_table
from app.runtime import Runtime
from app.tiers import usecases as tiers
from app.tiers.tables import tier_changes
from tests.earning.conftest import BASE, FIRST, POS, SHARE, STAFF, AddRules, lines, wednesday

MONDAY = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
WEDNESDAY = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


async def buy(runtime: Runtime, member: int, order: str, *amounts: str, **kw: object):
    return await usecases.record_purchase(
        runtime,
        POS,
        RecordPurchase(
            member_id=member, channel="pos", order_id=order, lines=lines(*amounts), **kw
        ),
    )


async def make_silver(runtime: Runtime, member: int, clock: FrozenClock) -> None:
    await buy(runtime, member, "big", "5000")
    progress = await tiers.tier_progress(runtime, member)
    assert progress is not None and progress.current.code == "silver"


async def test_first_purchase_of_100_earns_150_pending_for_the_return_window(
    runtime: Runtime, member: int, add_rules: AddRules
) -> None:
    await add_rules(BASE, FIRST)
    result = await buy(runtime, member, "o1", "100")
    assert result.purchase.points == 150
    assert result.entry is not None and result.entry.amount == 150
    assert [r["points"] for r in result.entry.details["rules"]] == [100, 50]
    balance = await ledger.get_balance(runtime, member)
    assert (balance.available, balance.pending) == (0, 150)
    second = await buy(runtime, member, "o2", "100")
    assert second.purchase.points == 100  # no longer a first purchase


async def test_silver_weekday_120_and_member_day_240_or_220(
    runtime: Runtime, member: int, add_rules: AddRules, clock: FrozenClock
) -> None:
    [_, wed] = await add_rules(BASE, wednesday("multiply"))
    clock.set(MONDAY)
    await make_silver(runtime, member, clock)
    assert (await buy(runtime, member, "mon", "100")).purchase.points == 120
    clock.set(WEDNESDAY)
    assert (await buy(runtime, member, "wed1", "100")).purchase.points == 240
    await usecases.update_rule(runtime, STAFF, wed, wednesday("add"))
    result = await buy(runtime, member, "wed2", "100")
    assert result.purchase.points == 220
    assert [r["points"] for r in result.purchase.breakdown["rules"]] == [100, 20, 100]


async def test_sharing_four_times_a_day_gives_30(
    runtime: Runtime, member: int, add_rules: AddRules
) -> None:
    await add_rules(SHARE)
    results = [
        await usecases.record_event(
            runtime,
            POS,
            RecordEvent(member_id=member, channel="app", event_id=f"s{i}", name="share"),
        )
        for i in range(4)
    ]
    assert [r.points for r in results] == [10, 10, 10, 0]
    assert results[3].breakdown["rules"][0]["cuts"] == [{"cap": "day", "points": 10}]
    assert (await ledger.get_balance(runtime, member)).available == 30


async def test_caps_hold_under_concurrency(
    runtime: Runtime, member: int, add_rules: AddRules
) -> None:
    await add_rules(SHARE)
    results = await asyncio.gather(
        *(
            usecases.record_event(
                runtime,
                POS,
                RecordEvent(member_id=member, channel="app", event_id=f"c{i}", name="share"),
            )
            for i in range(10)
        )
    )
    assert sum(r.points for r in results) == 30
    assert (await ledger.get_balance(runtime, member)).available == 30
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report


async def test_racing_first_purchases_pay_the_first_purchase_bonus_once(
    runtime: Runtime, member: int, add_rules: AddRules
) -> None:
    await add_rules(BASE, FIRST)
    results = await asyncio.gather(*(buy(runtime, member, f"race-{i}", "100") for i in range(10)))
    assert sorted(r.purchase.points for r in results) == [100] * 9 + [150]
    assert (await ledger.get_balance(runtime, member)).pending == 1050
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report


async def waits_for_a_lock(runtime: Runtime) -> None:
    """Until some session of this database is waiting for a lock (5 s at most)."""
    async with runtime.engine.connect() as watcher:
        async with asyncio.timeout(5):
            while not await watcher.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                )
            ):
                await watcher.rollback()  # a fresh snapshot of the activity view
                await asyncio.sleep(0.02)


async def test_a_purchase_waiting_on_the_lock_sees_the_account_closed_meanwhile(
    runtime: Runtime, member: int
) -> None:
    # No rules: the purchase earns nothing, so only the earning service's own check (not the
    # ledger's) can refuse it.
    async with runtime.engine.connect() as closer:
        await closer.execute(
            select(accounts.c.id).where(accounts.c.member_id == member).with_for_update()
        )
        await closer.execute(
            update(members_table).where(members_table.c.id == member).values(status="closed")
        )
        waiting = asyncio.create_task(buy(runtime, member, "late", "100"))
        await waits_for_a_lock(runtime)
        assert not waiting.done()
        await closer.commit()
    with pytest.raises(DomainError) as refused:
        await waiting
    assert refused.value.code is ErrorCode.MEMBER_NOT_ACTIVE
    async with runtime.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(purchases)) == 0


async def test_23_59_and_00_01_shanghai_are_different_days(
    runtime: Runtime, member: int, add_rules: AddRules, clock: FrozenClock
) -> None:
    await add_rules(BASE, wednesday("multiply"), SHARE)
    clock.set(datetime(2026, 11, 24, 15, 59, tzinfo=UTC))  # Tuesday 23:59 in Shanghai
    assert (await buy(runtime, member, "late", "100")).purchase.points == 100
    for i in range(3):
        await usecases.record_event(
            runtime,
            POS,
            RecordEvent(member_id=member, channel="app", event_id=f"t{i}", name="share"),
        )
    clock.set(datetime(2026, 11, 24, 16, 1, tzinfo=UTC))  # Wednesday 00:01 in Shanghai
    assert (await buy(runtime, member, "early", "100")).purchase.points == 200
    wed = await usecases.record_event(
        runtime, POS, RecordEvent(member_id=member, channel="app", event_id="w0", name="share")
    )
    assert wed.points == 10


async def test_refund_half_claws_back_exactly_its_lines_and_never_twice(
    runtime: Runtime, member: int, add_rules: AddRules
) -> None:
    fresh = {
        "name": "fresh +50%",
        "trigger": "purchase",
        "conditions": {"categories": ["fresh"]},
        "effect": {"kind": "percent_bonus", "percent": "50"},
    }
    await add_rules(BASE, fresh)
    order = [
        PurchaseLineInput("apple", "fresh", 2, Decimal("100")),
        PurchaseLineInput("wine", "wine", 1, Decimal("100")),
    ]
    bought = await usecases.record_purchase(
        runtime, POS, RecordPurchase(member_id=member, channel="pos", order_id="o1", lines=order)
    )
    assert bought.purchase.points == 250
    refund = await usecases.record_refund(
        runtime,
        POS,
        RecordRefund(
            channel="pos", order_id="o1", refund_id="r1", lines=[RefundLineInput(1, Decimal("100"))]
        ),
    )
    assert refund.points == 150
    again = await usecases.record_refund(
        runtime,
        POS,
        RecordRefund(
            channel="pos", order_id="o1", refund_id="r1", lines=[RefundLineInput(1, Decimal("100"))]
        ),
    )
    assert again.replayed and again.points == 150
    assert (await ledger.get_balance(runtime, member)).total == 100
    with pytest.raises(DomainError) as refused:
        await usecases.record_refund(
            runtime,
            POS,
            RecordRefund(channel="pos", order_id="o1", refund_id="r2", amount=Decimal("100.01")),
        )
    assert "only 100.00 left" in refused.value.message
    with pytest.raises(DomainError) as reused:
        await usecases.record_refund(
            runtime,
            POS,
            RecordRefund(channel="pos", order_id="o1", refund_id="r1", amount=Decimal("5")),
        )
    assert reused.value.code == "IDEMPOTENCY_KEY_REUSED"
    rest = await usecases.record_refund(
        runtime, POS, RecordRefund(channel="pos", order_id="o1", refund_id="r3")
    )
    assert rest.points == 100 and rest.purchase.clawed_back == 250
    assert (await ledger.get_balance(runtime, member)).total == 0


async def test_partial_refunds_by_amount_add_up_to_the_whole(
    runtime: Runtime, member: int, add_rules: AddRules
) -> None:
    await add_rules(BASE, FIRST)
    await buy(runtime, member, "o1", "33.33", "66.67")  # 100 + 50
    total = 0
    for i, amount in enumerate(["10", "20.5", "30", "39.5"]):
        refund = await usecases.record_refund(
            runtime,
            POS,
            RecordRefund(channel="pos", order_id="o1", refund_id=f"r{i}", amount=Decimal(amount)),
        )
        total += refund.points
    assert total == 150
    assert (await ledger.get_balance(runtime, member)).total == 0


async def test_crossing_the_silver_threshold_upgrades_at_once(
    runtime: Runtime, member: int, add_rules: AddRules
) -> None:
    await add_rules(BASE)
    first = await buy(runtime, member, "o1", "4900")
    assert first.tier_change is None
    crossing = await buy(runtime, member, "o2", "200")
    assert crossing.purchase.points == 200  # earned at 普卡
    assert crossing.tier_change is not None and crossing.tier_change.to.code == "silver"
    assert (await buy(runtime, member, "o3", "100")).purchase.points == 120
    progress = await tiers.tier_progress(runtime, member)
    assert progress is not None and progress.next is not None
    assert progress.next.code == "gold" and progress.spend_to_next == Decimal("14800")
    async with runtime.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(tier_changes)) == 1


async def test_review_downgrades_after_inactivity_and_at_review(
    runtime: Runtime, member: int, add_rules: AddRules, clock: FrozenClock
) -> None:
    await add_rules(BASE)
    await buy(runtime, member, "o1", "20000")  # gold
    clock.advance(timedelta(days=20))
    assert await tiers.review_tiers(runtime) == 0
    clock.advance(timedelta(days=15))  # a month without activity
    assert await tiers.review_tiers(runtime) == 1
    assert (await tiers.tier_progress(runtime, member)).current.code == "silver"  # type: ignore[union-attr]
    assert await tiers.review_tiers(runtime) == 0  # a month from the downgrade, not again now
    clock.advance(timedelta(days=366))
    await usecases.record_event(
        runtime,
        POS,
        RecordEvent(member_id=member, channel="app", event_id="keepalive", name="sign_in"),
    )
    # A year on, the spend window is empty: the review drops to what the spend qualifies for.
    assert await tiers.review_tiers(runtime) == 1
    progress = await tiers.tier_progress(runtime, member)
    assert progress is not None and progress.current.code == "normal"
    history = await tiers.tier_history(runtime, member)
    assert [(h["reason"], h["to_tier"]) for h in history] == [
        ("review", "normal"),
        ("inactivity", "silver"),
        ("upgrade", "gold"),
    ]


async def test_bad_input_writes_nothing(runtime: Runtime, member: int, add_rules: AddRules) -> None:
    await add_rules(BASE)
    await buy(runtime, member, "o1", "100")
    cases = [
        ("orderId", lambda: buy(runtime, member, "o1", "101")),  # same id, other content
        ("lines", lambda: buy(runtime, member, "big", *["1"] * 10_000)),
        ("lines[0].amount", lambda: buy(runtime, member, "dec", "10.001")),
        ("lines[0].amount", lambda: buy(runtime, member, "neg", "-5")),
        ("lines", lambda: buy(runtime, member, "none")),
    ]
    for field, call in cases:
        with pytest.raises(DomainError) as refused:
            await call()
        assert refused.value.field == field, refused.value.message
    replay = await buy(runtime, member, "o1", "100")
    assert replay.replayed and replay.purchase.points == 100
    async with runtime.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(purchases)) == 1
    assert (await ledger.get_balance(runtime, member)).total == 100


async def test_rules_are_versioned_and_audited(runtime: Runtime, add_rules: AddRules) -> None:
    [rule_id] = await add_rules(BASE)
    await usecases.update_rule(runtime, STAFF, rule_id, {**BASE, "name": "base v2"})
    await usecases.set_rule_enabled(runtime, STAFF, rule_id, False)
    versions = await usecases.rule_versions(runtime, rule_id)
    assert [(v.version, v.change, v.actor) for v in versions] == [
        (3, "disabled", "staff:alice"),
        (2, "updated", "staff:alice"),
        (1, "created", "staff:alice"),
    ]
    with pytest.raises(DomainError) as refused:
        await usecases.create_rule(runtime, STAFF, {**BASE, "conditions": {"tiers": ["platinum"]}})
    assert "unknown tier" in refused.value.message
    with pytest.raises(DomainError):
        await usecases.update_rule(runtime, STAFF, rule_id, BASE, expected_version=1)


async def test_preview_matches_the_purchase(
    runtime: Runtime, member: int, add_rules: AddRules
) -> None:
    await add_rules(BASE, FIRST)
    preview = await usecases.preview_points(
        runtime, PreviewPoints(member_id=member, channel="pos", lines=lines("100"))
    )
    assert preview.points == 150
    assert (await buy(runtime, member, "o1", "100")).purchase.points == 150
    async with runtime.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(earning_counters)) == 0


async def test_a_rule_change_applies_to_the_very_next_purchase_despite_the_rule_cache(
    runtime: Runtime, member: int, add_rules: AddRules
) -> None:
    (base,) = await add_rules(BASE)
    assert (await buy(runtime, member, "c1", "100")).purchase.points == 100  # rules now cached
    await usecases.update_rule(
        runtime, STAFF, base, {**BASE, "effect": {"kind": "per_unit", "rate": "3"}}
    )
    assert (await buy(runtime, member, "c2", "100")).purchase.points == 300
    await usecases.set_rule_enabled(runtime, STAFF, base, False)
    assert (await buy(runtime, member, "c3", "100")).purchase.points == 0
    # A capped rule added after the counters were read for the cached rules: its cap holds.
    await add_rules(SHARE)
    shares = [
        await usecases.record_event(
            runtime,
            POS,
            RecordEvent(member_id=member, channel="app", event_id=f"s{i}", name="share"),
        )
        for i in range(4)
    ]
    assert [s.points for s in shares] == [10, 10, 10, 0]
