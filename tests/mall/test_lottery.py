"""Lottery draws on the database: cost, tickets, prize stock and fallback, the audit trail."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from app.db import unit_of_work
from app.errors import DomainError, ErrorCode
from app.events.tables import events
from app.ledger import usecases as ledger
from app.mall import lottery
from app.mall.lottery import PoolKind, PoolSpec, PrizeKind, PrizeSpec
from app.mall.policy import pick
from app.mall.tables import lottery_tickets
from app.runtime import Runtime
from tests.mall.conftest import MakeMember, assert_audit_clean, member_actor
from tests.statements import counting

WHEEL = PoolSpec(
    code="wheel",
    name="Prize wheel",
    kind=PoolKind.WHEEL,
    cost_points=20,
    prizes=(
        PrizeSpec("p100", "100 points", PrizeKind.POINTS, weight=1, points=100, stock=3),
        PrizeSpec("c5", "5 CNY coupon", PrizeKind.COUPON, weight=2, stock=5),
        PrizeSpec("none", "Thanks for playing", PrizeKind.NOTHING, weight=7),
    ),
    fallback_prize_code="none",
)


async def draw(runtime: Runtime, member: int, key: str, *, ticket: bool = False) -> lottery.Draw:
    return await lottery.draw(
        runtime,
        member_actor(member),
        member_id=member,
        pool_code="wheel",
        use_ticket=ticket,
        idempotency_key=key,
    )


async def test_draws_cost_points_respect_stock_and_are_recorded(
    runtime: Runtime, make_member: MakeMember
) -> None:
    await lottery.create_pool(runtime, WHEEL)
    member = await make_member(points=20 * 60)

    draws = await asyncio.gather(*(draw(runtime, member, f"d{n}") for n in range(60)))

    won = [d.prize.code for d in draws]
    assert won.count("p100") <= 3 and won.count("c5") <= 5
    for d in draws:
        assert (
            pick((await lottery.get_pool(runtime, "wheel")).prizes, d.roll).code == d.drawn.code
        )  # the recorded roll re-derives the drawn prize
        assert d.fell_back == (d.drawn.code != d.prize.code)
        assert d.odds == {"p100": 1, "c5": 2, "none": 7} and d.total_weight == 10
    balance = await ledger.get_balance(runtime, member)
    assert balance.available == won.count("p100") * 100
    pool = await lottery.get_pool(runtime, "wheel")
    stock = {p.code: p.stock_left for p in pool.prizes}
    assert stock["p100"] == 3 - won.count("p100") and stock["c5"] == 5 - won.count("c5")
    assert all(d.coupon_code for d in draws if d.prize.code == "c5")
    await assert_audit_clean(runtime)


async def test_too_few_points_for_a_draw_changes_nothing(
    runtime: Runtime, make_member: MakeMember
) -> None:
    await lottery.create_pool(runtime, WHEEL)
    member = await make_member(points=19)
    with pytest.raises(DomainError) as refused:
        await draw(runtime, member, "poor")
    assert refused.value.code is ErrorCode.INSUFFICIENT_POINTS
    assert await lottery.list_draws(runtime, member, first=10) == []
    assert (await ledger.get_balance(runtime, member)).available == 19


async def test_a_granted_ticket_pays_one_draw_and_granting_is_idempotent(
    runtime: Runtime, make_member: MakeMember
) -> None:
    await lottery.create_pool(runtime, WHEEL)
    member = await make_member(points=0)
    other = await make_member("other", points=0)

    async with unit_of_work(runtime.engine) as conn:
        with counting(runtime) as statements:  # the pool, the ticket, its event: one statement
            first = await lottery.grant_draw_ticket(conn, member, "wheel", "signin:day7:1")
        assert len(statements) == 1, "\n\n".join(statements)
    async with unit_of_work(runtime.engine) as conn:
        again = await lottery.grant_draw_ticket(conn, member, "wheel", "signin:day7:1")
    assert first.created and not again.created and again.id == first.id
    with pytest.raises(DomainError) as stolen:
        await lottery.grant_ticket(runtime, other, "wheel", "signin:day7:1")
    assert stolen.value.code is ErrorCode.IDEMPOTENCY_KEY_REUSED
    with pytest.raises(DomainError) as no_pool:
        await lottery.grant_ticket(runtime, member, "no-such-pool", "signin:day7:2")
    assert no_pool.value.code is ErrorCode.NOT_FOUND
    async with runtime.engine.connect() as conn:
        granted = (
            await conn.execute(
                select(events.c.member_id, events.c.type, events.c.payload).where(
                    events.c.topic == f"member:{member}", events.c.type.like("lottery.%")
                )
            )
        ).all()
        assert [tuple(row) for row in granted] == [
            (
                member,
                "lottery.ticket_granted",
                {
                    "member_id": member,
                    "ticket_id": first.id,
                    "pool": "wheel",
                    "source_ref": "signin:day7:1",
                },
            )
        ]
        refs = await conn.scalars(
            select(lottery_tickets.c.source_ref).where(lottery_tickets.c.member_id == member)
        )
        assert list(refs) == ["signin:day7:1"]  # the refused grant wrote nothing

    free = await draw(runtime, member, "t1", ticket=True)
    assert free.ticket_id == first.id and free.cost_points == 0 and free.spend_entry_id is None
    with pytest.raises(DomainError) as none_left:
        await draw(runtime, member, "t2", ticket=True)
    assert none_left.value.code is ErrorCode.NOT_FOUND
    assert [t.status for t in await lottery.list_tickets(runtime, member, open_only=False)] == [
        "used"
    ]
    await assert_audit_clean(runtime)
