"""A checkout's order reference (migration 0053), a payment of an order's cash part and a
lottery ticket's source ref (0056) are claimed across members in ``outside_keys``
(app/members/claims.py), so their tables' keys carry member_id (Citus) while two members racing
for one key still get one row, the other a refusal and nothing held or paid."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app.errors import DomainError, ErrorCode
from app.ledger import usecases as ledger
from app.mall import lottery
from app.mall import usecases as mall
from app.mall.redemptions import Order
from app.mall.tables import checkout_payments, lottery_tickets, mall_orders
from app.members.tables import outside_keys
from app.runtime import Runtime
from tests.mall.conftest import SYSTEM, MakeItem, MakeMember, assert_audit_clean
from tests.mall.test_audit import corrupt, failed_checks
from tests.mall.test_checkout import hold
from tests.mall.test_lottery import WHEEL
from tests.mall.test_redemptions import place

CLAIM_CHECK = "each key from outside is claimed by the one member whose row names it"


async def _race(
    runtime: Runtime,
    a: int,
    b: int,
    write: Callable[[int], Awaitable[Any]],
    refusal: ErrorCode = ErrorCode.IDEMPOTENCY_KEY_REUSED,
) -> int:
    """Both members at once; the one who got the key (the other refused)."""
    results = await asyncio.gather(write(a), write(b), return_exceptions=True)
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1, results
    assert isinstance(refused[0], DomainError), refused
    assert refused[0].code is refusal
    return b if results[0] is refused[0] else a


async def _owners(runtime: Runtime, table: Any, kind: str) -> tuple[list[int], list[int]]:
    async with runtime.engine.connect() as conn:
        rows = list(await conn.scalars(select(table.c.member_id)))
        claims = list(
            await conn.scalars(select(outside_keys.c.member_id).where(outside_keys.c.kind == kind))
        )
    return rows, claims


async def test_two_members_paying_one_order_at_checkout_hold_points_once(
    runtime: Runtime, make_member: MakeMember
) -> None:
    a, b = await make_member("a", points=1_000), await make_member("b", points=1_000)
    winner = await _race(runtime, a, b, lambda m: hold(runtime, m, "till-9", 100))
    loser = b if winner == a else a
    assert await _owners(runtime, checkout_payments, "checkout") == ([winner], [winner])
    assert (await ledger.get_balance(runtime, loser)).held == 0
    await assert_audit_clean(runtime)


async def _paying_orders(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> dict[int, int]:
    """Two members, each with an order waiting for its cash part: member -> order."""
    eggs = await make_item(stock=10, code="eggs", points_price=100, cash_price=Decimal("1.00"))
    members = [await make_member(ref, points=1_000) for ref in ("a", "b")]
    return {m: (await place(runtime, m, eggs.id)).id for m in members}


async def test_two_members_orders_paid_with_one_payment_at_once_one_is_paid(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem
) -> None:
    orders = await _paying_orders(runtime, make_member, make_item)
    a, b = orders

    async def pay(member: int) -> Order:
        return await mall.pay_redemption(runtime, SYSTEM, orders[member], "wx-1", Decimal("1.00"))

    winner = await _race(runtime, a, b, pay, ErrorCode.ALREADY_PAID)
    async with runtime.engine.connect() as conn:
        paid = list(
            await conn.scalars(
                select(mall_orders.c.member_id).where(mall_orders.c.payment_ref.is_not(None))
            )
        )
    claims = (await _owners(runtime, mall_orders, "payment"))[1]
    assert (paid, claims) == ([winner], [winner])
    await assert_audit_clean(runtime)


async def test_two_members_granted_one_ticket_ref_at_once_one_gets_it(
    runtime: Runtime, make_member: MakeMember
) -> None:
    await lottery.create_pool(runtime, WHEEL)
    a, b = await make_member("a", points=0), await make_member("b", points=0)
    winner = await _race(runtime, a, b, lambda m: lottery.grant_ticket(runtime, m, "wheel", "t1"))
    assert await _owners(runtime, lottery_tickets, "ticket") == ([winner], [winner])
    with pytest.raises(DomainError) as no_pool:  # no pool, no ticket: nothing claimed either
        await lottery.grant_ticket(runtime, a, "no-such-pool", "t2")
    assert no_pool.value.code is ErrorCode.NOT_FOUND
    assert await _owners(runtime, lottery_tickets, "ticket") == ([winner], [winner])
    await assert_audit_clean(runtime)


@pytest.mark.parametrize("kind", ["payment", "ticket"])
async def test_the_audit_reports_a_payment_or_ticket_not_claimed_by_its_member(
    runtime: Runtime, make_member: MakeMember, make_item: MakeItem, kind: str
) -> None:
    orders = await _paying_orders(runtime, make_member, make_item)
    a, b = orders
    await mall.pay_redemption(runtime, SYSTEM, orders[a], "wx-1", Decimal("1.00"))
    await lottery.create_pool(runtime, WHEEL)
    await lottery.grant_ticket(runtime, a, "wheel", "t1")
    assert await failed_checks(runtime) == set()
    await corrupt(runtime, f"UPDATE outside_keys SET member_id = {b} WHERE kind = '{kind}'")
    assert await failed_checks(runtime) == {CLAIM_CHECK}
    await corrupt(runtime, f"DELETE FROM outside_keys WHERE kind = '{kind}'")
    assert await failed_checks(runtime) == {CLAIM_CHECK}
