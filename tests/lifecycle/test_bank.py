"""The points bank: expiring points moved to a donation or lottery tickets before they expire,
expired points into the bank's pool, staff spending the pool — and the audit over all of it."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.clock import FrozenClock, business_date
from app.errors import DomainError, ErrorCode
from app.ledger import usecases as ledger
from app.ledger.audit import audit_ledger
from app.ledger.commands import Earn
from app.ledger.models import Actor
from app.lifecycle import bank
from app.lifecycle.reminders import send_expiry_reminders
from app.lifecycle.tables import bank_matches, bank_moves, notifications
from app.mall import donations, lottery
from app.mall.lottery import PoolKind, PoolSpec, PrizeKind, PrizeSpec
from app.members import usecases as members
from app.runtime import Runtime

STAFF = Actor("staff:alice", "api")
DAY = timedelta(days=1)
TICKETS = PoolSpec(
    code="bank-wheel",
    name="Bank wheel",
    kind=PoolKind.WHEEL,
    cost_points=30,
    prizes=(PrizeSpec("none", "Thanks", PrizeKind.NOTHING, weight=1),),
    fallback_prize_code="none",
)


def me(member: int) -> Actor:
    return Actor(f"member:{member}", "app")


async def member_with_lots(rt: Runtime, ref: str, lots: list[tuple[int, int | None]]) -> int:
    """A member with one lot per (points, days until it expires; None: never)."""
    member = (await members.register_member(rt, channel="app", external_ref=ref)).member.id
    for number, (points, days) in enumerate(lots):
        expires = None if days is None else rt.clock.now() + days * DAY
        await ledger.earn_points(
            rt,
            STAFF,
            Earn(member_id=member, amount=points, reason="t", expires_at=expires),
            idempotency_key=f"{ref}-{number}",
        )
    return member


def day_of(rt: Runtime, days: int) -> date:
    """The last valid day of points that expire ``days`` from now."""
    return business_date(
        rt.clock.now() + days * DAY - timedelta(microseconds=1), rt.settings.timezone
    )


async def move(rt: Runtime, member: int, days: int, key: str, **kw: Any) -> bank.Move:
    args: dict[str, Any] = {"kind": bank.MoveKind.DONATION, "target": "red-cross"} | kw
    return await bank.move_expiring_points(
        rt, me(member), member_id=member, expires_on=day_of(rt, days), idempotency_key=key, **args
    )


async def match(rt: Runtime, points: int, key: str) -> bank.BankSpend:
    """Staff match ``points`` of the pool to the charity."""
    return await bank.spend_pool(
        rt,
        STAFF,
        kind=bank.SpendKind.CHARITY_MATCH,
        points=points,
        reason="match",
        idempotency_key=key,
        charity_code="red-cross",
    )


async def assert_clean(rt: Runtime) -> None:
    report = await audit_ledger(rt.engine, rt.clock.now())
    assert report.ok, report.render()


@pytest.fixture
async def charity(runtime: Runtime) -> None:
    await donations.create_charity(runtime, "red-cross", "Red Cross")


async def test_a_lot_moved_to_a_donation_and_one_expired_into_the_bank_add_up(
    runtime: Runtime, clock: FrozenClock, charity: None
) -> None:
    member = await member_with_lots(runtime, "a", [(100, 5), (60, 20), (500, None)])
    # The reminder offers the bank's choices for the points expiring in 5 days.
    await send_expiry_reminders(runtime)
    async with runtime.engine.connect() as conn:
        payloads = (await conn.execute(select(notifications.c.payload))).scalars().all()
    soon = next(p for p in payloads if p["points"] == 100)
    assert [(a["action"], a["to"], a["valid_through"]) for a in soon["actions"]] == [
        ("donation", "DONATION", day_of(runtime, 5).isoformat()),
        ("lottery", "LOTTERY", day_of(runtime, 5).isoformat()),
    ]
    moved = await move(runtime, member, 5, "m1")
    assert (moved.points, moved.kind) == (100, bank.MoveKind.DONATION)
    assert (await move(runtime, member, 5, "m1")).id == moved.id  # a replay gives nothing twice
    clock.advance(21 * DAY)  # the 60 expire, unmoved
    swept = await ledger.settle_due_accounts(runtime)
    assert swept.expired == 60
    balance = await ledger.get_balance(runtime, member)
    assert balance.available == 500
    assert (await donations.get_charity(runtime, "red-cross")).total_donated == 100
    pool = await bank.pool(runtime)
    assert (pool.balance, pool.expired_in, pool.spent) == (60, 60, 0)
    await assert_clean(runtime)
    # Staff spend the pool: 20 matched to the charity, 10 as a prize to the member.
    await match(runtime, 20, "s1")
    await bank.spend_pool(
        runtime,
        STAFF,
        kind=bank.SpendKind.PRIZE,
        points=10,
        reason="prize",
        idempotency_key="s2",
        member_id=member,
    )
    pool = await bank.pool(runtime)
    assert (pool.balance, pool.expired_in, pool.spent) == (30, 60, 30)
    assert (await ledger.get_balance(runtime, member)).available == 510
    await assert_clean(runtime)


async def test_expiring_points_buy_lottery_tickets_and_the_rest_expires_into_the_bank(
    runtime: Runtime, clock: FrozenClock
) -> None:
    await lottery.create_pool(runtime, TICKETS)
    member = await member_with_lots(runtime, "b", [(100, 3)])
    moved = await move(runtime, member, 3, "t1", kind=bank.MoveKind.LOTTERY, target="bank-wheel")
    assert (moved.points, moved.tickets) == (90, 3)  # 3 tickets of 30; 10 stay
    tickets = await lottery.list_tickets(runtime, member, open_only=True)
    assert len(tickets) == 3
    clock.advance(4 * DAY)
    await ledger.settle_due_accounts(runtime)
    assert (await bank.pool(runtime)).balance == 10
    await assert_clean(runtime)


@pytest.mark.parametrize(
    ("days", "changes", "code"),
    [
        (40, {}, ErrorCode.INVALID_INPUT),  # not about to expire: past the reminder horizon
        (-1, {}, ErrorCode.INVALID_INPUT),  # a day gone
        (5, {"target": "no-such"}, ErrorCode.NOT_FOUND),
        (5, {"target": "x" * 65}, ErrorCode.INVALID_INPUT),
        (5, {"target": ""}, ErrorCode.INVALID_INPUT),
        (2, {}, ErrorCode.INSUFFICIENT_POINTS),  # nothing expires that soon
        (5, {"kind": bank.MoveKind.LOTTERY, "target": "no-pool"}, ErrorCode.NOT_FOUND),
    ],
)
async def test_a_bad_move_is_refused_and_changes_nothing(
    runtime: Runtime, charity: None, days: int, changes: dict[str, Any], code: ErrorCode
) -> None:
    member = await member_with_lots(runtime, "c", [(100, 5)])
    with pytest.raises(DomainError) as refused:
        await move(runtime, member, days, "bad", **changes)
    assert refused.value.code is code
    assert (await ledger.get_balance(runtime, member)).available == 100
    async with runtime.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(bank_moves)) == 0
    assert (await move(runtime, member, 5, "bad")).points == 100  # the key was not spent


async def test_a_key_reused_for_another_move_is_refused(runtime: Runtime, charity: None) -> None:
    member = await member_with_lots(runtime, "d", [(100, 5), (50, 6)])
    await move(runtime, member, 5, "k")
    with pytest.raises(DomainError) as refused:
        await move(runtime, member, 6, "k")
    assert refused.value.code is ErrorCode.IDEMPOTENCY_KEY_REUSED


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"points": 61}, ErrorCode.INSUFFICIENT_POINTS),  # more than the pool holds
        ({"points": 0}, ErrorCode.INVALID_INPUT),
        ({"points": -5}, ErrorCode.INVALID_INPUT),
        ({"reason": " "}, ErrorCode.INVALID_INPUT),
        ({"charity_code": None}, ErrorCode.INVALID_INPUT),  # matching without a charity
        ({"charity_code": "no-such"}, ErrorCode.NOT_FOUND),
        ({"member_id": 1}, ErrorCode.INVALID_INPUT),  # matching names no member
        ({"kind": bank.SpendKind.PRIZE}, ErrorCode.INVALID_INPUT),  # a prize without a member
    ],
)
async def test_a_bad_spend_of_the_pool_is_refused_and_changes_nothing(
    runtime: Runtime, clock: FrozenClock, charity: None, changes: dict[str, Any], code: ErrorCode
) -> None:
    await member_with_lots(runtime, "e", [(60, 1)])
    clock.advance(2 * DAY)
    await ledger.settle_due_accounts(runtime)
    args: dict[str, Any] = {
        "kind": bank.SpendKind.CHARITY_MATCH,
        "points": 10,
        "reason": "match",
        "charity_code": "red-cross",
    } | changes
    with pytest.raises(DomainError) as refused:
        await bank.spend_pool(runtime, STAFF, idempotency_key="x", **args)
    assert refused.value.code is code
    assert (await bank.pool(runtime)).balance == 60
    await assert_clean(runtime)


async def test_moves_racing_the_expiry_sweep_lose_and_double_nothing(
    runtime: Runtime, clock: FrozenClock, charity: None
) -> None:
    # Each member: 40 points already due (the sweep's), 70 expiring in 3 days (the member's
    # move), 5 that never expire. Moves and sweeps run at once, on real connections.
    count = 12
    ids = [
        await member_with_lots(runtime, f"r{n}", [(40, 1), (70, 4), (5, None)])
        for n in range(count)
    ]
    clock.advance(DAY + timedelta(minutes=1))
    results = await asyncio.gather(
        *(move(runtime, m, 3, f"race-{m}") for m in ids),
        ledger.settle_due_accounts(runtime, batch=3),
        ledger.settle_due_accounts(runtime, batch=5),
    )
    assert all(r.points == 70 for r in results[:count] if isinstance(r, bank.Move))
    balances = await ledger.get_balances(runtime, ids)
    assert {b.available for b in balances.values()} == {5}
    assert (await donations.get_charity(runtime, "red-cross")).total_donated == 70 * count
    assert (await bank.pool(runtime)).balance == 40 * count
    await assert_clean(runtime)


async def test_the_audit_sees_a_pool_that_does_not_add_up(
    runtime: Runtime, clock: FrozenClock, charity: None
) -> None:
    await member_with_lots(runtime, "f", [(60, 1)])
    clock.advance(2 * DAY)
    await ledger.settle_due_accounts(runtime)
    await match(runtime, 20, "s")
    await assert_clean(runtime)
    async with runtime.engine.begin() as conn:  # a spend recorded as more than it moved
        await conn.execute(bank_matches.update().values(points=bank_matches.c.points + 1))
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    failed = {check.name for check in report.checks if not check.ok}
    assert failed == {
        "the bank's pool is what expired into it less what was spent of it",
        "a programme transfer is a bank's charity matching",
    }
