"""Redemption orders on the database: holds, stock, confirmation, cancellation, time-outs,
returns, coupon codes, idempotency and refusals that change nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app.clock import FrozenClock
from app.errors import DomainError, ErrorCode
from app.ledger import usecases as ledger
from app.mall import usecases as mall
from app.mall.catalogue import add_coupon_codes, get_item
from app.mall.policy import CouponSource, Fulfilment, ItemKind, LimitPeriod, OrderStatus
from app.mall.redemptions import Redemptions
from app.mall.tables import mall_orders
from app.runtime import Runtime
from app.tiers.policy import DEMO_TIERS
from app.tiers.usecases import install_tiers
from tests.mall.conftest import (
    SYSTEM,
    MakeItem,
    MakeMember,
    OrdinaryPath,
    assert_audit_clean,
    member_actor,
)
from tests.statements import counting


async def state(runtime: Runtime, member_id: int, item_id: int) -> dict[str, Any]:
    """Everything a refused redemption must leave as it was."""
    lots = await ledger.list_lots(runtime, member_id, first=100)
    async with runtime.engine.connect() as conn:
        orders = await conn.scalar(select(func.count()).select_from(mall_orders))
    return {
        "balance": await ledger.get_balance(runtime, member_id),
        "lots": [(lot.id, lot.remaining, lot.expires_at) for lot in lots],
        "holds": await ledger.list_holds(runtime, member_id, active_only=False),
        "stock": (await get_item(runtime, item_id)).stock_left,
        "orders": orders,
    }


async def place(
    runtime: Runtime, member_id: int, item_id: int, quantity: int = 1, key: str = "k1"
) -> mall.Order:
    placed = await mall.place_redemption(
        runtime,
        member_actor(member_id),
        member_id=member_id,
        item_id=item_id,
        quantity=quantity,
        idempotency_key=key,
    )
    return placed.order


async def test_place_holds_points_and_reserves_stock_then_confirm_spends(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    member = await make_member(points=1_000)
    item = await make_item(stock=5, fulfilment=Fulfilment.SHIPPED)

    order = await place(runtime, member, item.id, quantity=2)

    assert order.status is OrderStatus.PLACED and order.points == 400
    balance = await ledger.get_balance(runtime, member)
    assert (balance.available, balance.held) == (600, 400)
    assert (await get_item(runtime, item.id)).stock_left == 3

    confirmed = await mall.confirm_redemption(runtime, member_actor(member), order.id)
    assert confirmed.status is OrderStatus.CONFIRMED and confirmed.commit_entry_id
    balance = await ledger.get_balance(runtime, member)
    assert (balance.available, balance.held, balance.total) == (600, 0, 600)

    fulfilled = await mall.fulfil_redemption(runtime, SYSTEM, order.id, "SF123")
    assert fulfilled.status is OrderStatus.FULFILLED and fulfilled.fulfilment_ref == "SF123"
    assert (await get_item(runtime, item.id)).stock_left == 3
    await assert_audit_clean(runtime)


async def test_cancel_restores_the_exact_lots_and_expiry_dates(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    member = await make_member(points=150, second_lot=500)  # the order takes from both lots
    item = await make_item(stock=3)
    before = await state(runtime, member, item.id)

    order = await place(runtime, member, item.id)
    during = await ledger.list_lots(runtime, member, first=10)
    assert [lot.remaining for lot in during] == [450]  # 150 + 50 taken, first to expire first

    cancelled = await mall.cancel_redemption(
        runtime, member_actor(member), order.id, "changed mind"
    )

    assert cancelled.status is OrderStatus.CANCELLED
    after = await state(runtime, member, item.id)
    assert after["lots"] == before["lots"]
    assert after["balance"] == before["balance"]
    assert after["stock"] == before["stock"]
    await assert_audit_clean(runtime)


async def test_a_timed_out_order_is_closed_by_the_job_with_lots_and_stock_back(
    runtime: Runtime, clock: FrozenClock, make_member: MakeMember, make_item: MakeItem
) -> None:
    member = await make_member(points=150, second_lot=500)
    item = await make_item(stock=3)
    before = await state(runtime, member, item.id)
    order = await place(runtime, member, item.id)
    kept = await place(runtime, member, item.id, key="k2")
    await mall.confirm_redemption(runtime, member_actor(member), kept.id)

    assert (await mall.expire_redemptions(runtime)).expired == 0  # not due yet
    clock.advance(timedelta(seconds=runtime.settings.mall_order_timeout_seconds))
    with pytest.raises(DomainError) as late:
        await mall.confirm_redemption(runtime, member_actor(member), order.id)
    assert late.value.code is ErrorCode.INVALID_STATE
    outcome = await mall.expire_redemptions(runtime)

    assert outcome.expired == 1
    assert (await mall.get_order(runtime, order.id)).status is OrderStatus.EXPIRED
    # Only the timed-out order's points and unit came back; the confirmed one stays spent.
    assert (await get_item(runtime, item.id)).stock_left == before["stock"] - 1
    lots = await ledger.list_lots(runtime, member, first=10)
    assert [(lot.id, lot.expires_at) for lot in lots] == [(i, e) for i, _, e in before["lots"]]
    assert sum(lot.remaining for lot in lots) == 650 - 200
    assert (await mall.expire_redemptions(runtime)).expired == 0  # idempotent
    await assert_audit_clean(runtime)


async def test_a_return_gives_the_points_back_into_their_original_lots(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    member = await make_member(points=150, second_lot=500)
    item = await make_item(stock=3)
    before = await state(runtime, member, item.id)
    order = await place(runtime, member, item.id)
    fulfilled = await mall.confirm_redemption(runtime, member_actor(member), order.id)
    assert fulfilled.status is OrderStatus.FULFILLED  # instant fulfilment by default

    returned = await mall.return_redemption(runtime, SYSTEM, order.id, "damaged")

    assert returned.status is OrderStatus.RETURNED and returned.return_entry_id
    after = await state(runtime, member, item.id)
    assert after["lots"] == before["lots"]
    assert after["stock"] == before["stock"]
    assert after["balance"].available == 650
    with pytest.raises(DomainError) as again:
        await mall.return_redemption(runtime, SYSTEM, order.id, "again")
    assert again.value.code is ErrorCode.INVALID_STATE
    await assert_audit_clean(runtime)


async def test_placement_is_idempotent_even_when_replayed_at_once(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    member = await make_member(points=1_000)
    item = await make_item(stock=10)

    orders = await asyncio.gather(*(place(runtime, member, item.id, key="same") for _ in range(8)))

    assert len({o.id for o in orders}) == 1
    assert (await get_item(runtime, item.id)).stock_left == 9
    assert (await ledger.get_balance(runtime, member)).held == 200
    with pytest.raises(DomainError) as reused:
        await place(runtime, member, item.id, quantity=2, key="same")
    assert reused.value.code is ErrorCode.IDEMPOTENCY_KEY_REUSED
    await assert_audit_clean(runtime)


async def test_a_placement_locks_the_items_row_only_inside_its_commit(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    """A rush's buyers queue on the item's row: between its last statement and its COMMIT (a
    round trip through a busy API worker) a placement must not hold it."""
    member = await make_member(points=1_000)
    item = await make_item(stock=1)

    async with runtime.engine.connect() as conn, conn.begin():
        await Redemptions(conn, runtime).place(member_actor(member), member, item.id, 1)
        async with runtime.engine.connect() as other, other.begin():
            # The lock a stock update takes (the order's foreign key only shares the row's key),
            # NOWAIT: refused at once (lock_not_available) if the placement holds it.
            await other.execute(
                text("SELECT 1 FROM mall_items WHERE id = :id FOR NO KEY UPDATE NOWAIT"),
                {"id": item.id},
            )
        assert (await get_item(runtime, item.id)).stock_left == 1

    assert (await get_item(runtime, item.id)).stock_left == 0
    await assert_audit_clean(runtime)


async def test_the_ordinary_placement_locks_and_reads_the_members_account_once(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem, ordinary_path: OrdinaryPath
) -> None:
    """Each statement of a placement is a round trip through the API worker while the order's
    transaction is open: the hold adopts the placement's own lock of the account."""
    member = await make_member(points=1_000)
    item = await make_item(stock=5)

    with counting(runtime) as statements, ordinary_path():
        await place(runtime, member, item.id)

    assert len([s for s in statements if s.lstrip().startswith("SELECT accounts.")]) == 1
    assert (await ledger.get_balance(runtime, member)).held == 200


async def test_stock_gone_by_the_commit_refuses_the_placement_and_changes_nothing(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    member = await make_member(points=1_000)
    item = await make_item(stock=1)
    before = await state(runtime, member, item.id)

    async with runtime.engine.connect() as staff:
        taking = await staff.begin()
        await staff.execute(
            text("UPDATE mall_items SET stock_left = 0 WHERE id = :id"), {"id": item.id}
        )
        # The placement still reads one unit left (not committed yet), writes its hold and its
        # order, and its COMMIT waits for this row: it then finds the unit gone.
        placing = asyncio.create_task(place(runtime, member, item.id, key="late"))
        await until_a_backend_waits_for_a_lock(runtime)
        await taking.commit()
    with pytest.raises(DomainError) as refused:
        await placing

    assert refused.value.code is ErrorCode.OUT_OF_STOCK
    assert await state(runtime, member, item.id) == {**before, "stock": 0}
    async with runtime.engine.begin() as conn:  # restocked: the same key was not used up
        await conn.execute(
            text("UPDATE mall_items SET stock_left = 1 WHERE id = :id"), {"id": item.id}
        )
    assert (await place(runtime, member, item.id, key="late")).status is OrderStatus.PLACED
    await assert_audit_clean(runtime)


async def until_a_backend_waits_for_a_lock(runtime: Runtime) -> None:
    for _ in range(500):
        async with runtime.engine.connect() as conn:
            waiting = await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no placement ever waited for the item's row")


async def test_per_member_limit_holds_under_concurrency(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    member = await make_member(points=10_000)
    item = await make_item(stock=50, per_member_limit=2, limit_period=LimitPeriod.DAY)

    results = await asyncio.gather(
        *(place(runtime, member, item.id, key=f"r{n}") for n in range(12)), return_exceptions=True
    )

    placed = [r for r in results if isinstance(r, mall.Order)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(placed) == 2
    assert [r.code for r in refused] == [ErrorCode.LIMIT_REACHED] * 10
    assert (await get_item(runtime, item.id)).stock_left == 48
    assert (await ledger.get_balance(runtime, member)).held == 400
    await assert_audit_clean(runtime)


async def test_coupon_codes_come_from_a_generator_or_a_pool(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    member = await make_member(points=1_000)
    generated = await make_item(
        stock=None,
        code="c5",
        kind=ItemKind.COUPON,
        points_price=50,
        coupon_source=CouponSource.GENERATOR,
    )
    pooled = await make_item(
        stock=None,
        code="coffee",
        kind=ItemKind.PARTNER_VOUCHER,
        points_price=100,
        coupon_source=CouponSource.POOL,
    )
    assert await add_coupon_codes(runtime, pooled.id, ["CAFE-1", "CAFE-2"]) == 2

    first = await mall.confirm_redemption(
        runtime, member_actor(member), (await place(runtime, member, generated.id, 2)).id
    )
    second = await mall.confirm_redemption(
        runtime, member_actor(member), (await place(runtime, member, pooled.id, key="k2")).id
    )

    assert len(first.coupon_codes) == 2 and len(set(first.coupon_codes)) == 2
    assert second.coupon_codes == ("CAFE-1",)
    third = await place(runtime, member, pooled.id, key="k3")
    with pytest.raises(DomainError) as empty:
        await place(runtime, member, pooled.id, key="k4")
    assert empty.value.code is ErrorCode.OUT_OF_STOCK
    await mall.cancel_redemption(runtime, member_actor(member), third.id, "no")
    assert (await get_item(runtime, pooled.id)).stock_left == 1  # the free code is back
    await mall.return_redemption(runtime, SYSTEM, second.id, "unused")
    assert (await get_item(runtime, pooled.id)).stock_left == 1  # a handed-out code is void
    await assert_audit_clean(runtime)


async def test_points_plus_cash_is_confirmed_by_the_payment_once(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    member = await make_member(points=1_000)
    eggs = await make_item(stock=10, code="eggs", points_price=100, cash_price=Decimal("1.00"))
    order = await place(runtime, member, eggs.id)
    with pytest.raises(DomainError) as unpaid:
        await mall.confirm_redemption(runtime, member_actor(member), order.id)
    assert unpaid.value.code is ErrorCode.PAYMENT_REQUIRED

    paid = await mall.pay_redemption(runtime, SYSTEM, order.id, "wx-pay-1", Decimal("1.00"))
    assert paid.status is OrderStatus.FULFILLED and paid.paid_amount == Decimal("1.00")
    assert await mall.pay_redemption(runtime, SYSTEM, order.id, "wx-pay-1", Decimal("1.00")) == paid
    before = await state(runtime, member, eggs.id)
    with pytest.raises(DomainError) as twice:
        await mall.pay_redemption(runtime, SYSTEM, order.id, "wx-pay-2", Decimal("1.00"))
    assert twice.value.code is ErrorCode.ALREADY_PAID
    assert await state(runtime, member, eggs.id) == before
    await assert_audit_clean(runtime)


async def test_refusals_change_nothing(
    runtime: Runtime, clock: FrozenClock, make_member: MakeMember, make_item: MakeItem
) -> None:
    await install_tiers(runtime, DEMO_TIERS)
    member = await make_member(points=300)
    now = clock.now()
    cases: list[tuple[dict[str, Any], int, ErrorCode]] = [
        ({"code": "dear", "points_price": 1_000}, 1, ErrorCode.INSUFFICIENT_POINTS),
        ({"code": "lim", "per_member_limit": 1}, 2, ErrorCode.LIMIT_REACHED),
        ({"code": "gold", "min_tier": "gold"}, 1, ErrorCode.TIER_TOO_LOW),
        ({"code": "soon", "sale_starts_at": now + timedelta(hours=1)}, 1, ErrorCode.NOT_ON_SALE),
        ({"code": "over", "sale_ends_at": now}, 1, ErrorCode.NOT_ON_SALE),
        ({"code": "neg"}, -1, ErrorCode.INVALID_INPUT),
        ({"code": "zero"}, 0, ErrorCode.INVALID_INPUT),
        ({"code": "few"}, 11, ErrorCode.OUT_OF_STOCK),
    ]
    for changes, quantity, code in cases:
        item = await make_item(stock=10, **changes)
        before = await state(runtime, member, item.id)
        with pytest.raises(DomainError) as refused:
            await place(runtime, member, item.id, quantity, key=f"bad-{item.code}")
        assert refused.value.code is code, (changes, refused.value.message)
        assert await state(runtime, member, item.id) == before, changes
    await assert_audit_clean(runtime)


async def test_the_time_out_job_is_registered_and_closes_due_orders(
    runtime: Runtime, clock: FrozenClock, make_member: MakeMember, make_item: MakeItem
) -> None:
    from app.jobs.catalogue import all_jobs

    member = await make_member(points=1_000)
    item = await make_item(stock=3)
    order = await place(runtime, member, item.id)
    job = all_jobs()["redemption-timeouts"]
    assert await job.run(runtime) == {"expired": 0, "skipped": 0}
    clock.advance(timedelta(seconds=runtime.settings.mall_order_timeout_seconds))

    assert await job.run(runtime) == {"expired": 1, "skipped": 0}
    assert (await mall.get_order(runtime, order.id)).status is OrderStatus.EXPIRED
    await assert_audit_clean(runtime)


async def test_every_step_is_an_event_on_the_members_topic(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    from app.events.tables import events

    member = await make_member(points=1_000)
    item = await make_item(stock=3, fulfilment=Fulfilment.SHIPPED)
    first = await place(runtime, member, item.id)
    await mall.confirm_redemption(runtime, member_actor(member), first.id)
    await mall.fulfil_redemption(runtime, SYSTEM, first.id, None)
    await mall.return_redemption(runtime, SYSTEM, first.id, "broken")
    second = await place(runtime, member, item.id, key="k2")
    await mall.cancel_redemption(runtime, member_actor(member), second.id, "no")

    async with runtime.engine.connect() as conn:
        found = await conn.execute(
            select(events.c.type, events.c.payload)
            .where(events.c.topic == f"member:{member}", events.c.type.like("redemption.%"))
            .order_by(events.c.id)
        )
        steps = [(row.type, row.payload["order"]["id"]) for row in found]
    assert steps == [
        ("redemption.placed", first.id),
        ("redemption.confirmed", first.id),
        ("redemption.fulfilled", first.id),
        ("redemption.returned", first.id),
        ("redemption.placed", second.id),
        ("redemption.cancelled", second.id),
    ]
