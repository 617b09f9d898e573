"""Gifting between members on the database: lots keep their expiry, limits, refusals that change
nothing, and 50 concurrent gifts both ways without deadlock or a point lost or made."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import uuid4

import pytest
from sqlalchemy import text

from app.clock import FrozenClock
from app.errors import DomainError, ErrorCode
from app.ledger import usecases as ledger
from app.ledger.audit import audit_ledger
from app.ledger.models import Actor, Balance, EntryKind
from app.lifecycle.gifting import gift_points, gifts_of
from app.members import usecases as members
from app.members.models import MemberStatus
from app.runtime import Runtime
from tests.ledger.test_service import (
    earn,
    ledger_snapshot,
    lots_of,
    new_member,
    programme_balance,
    refused,
    spend,
)

DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
async def _audit_after(runtime: Runtime, clock: FrozenClock) -> AsyncIterator[None]:
    yield
    report = await audit_ledger(runtime.engine, clock.now())
    assert report.ok, report.render()


def as_member(member_id: int) -> Actor:
    return Actor(f"member:{member_id}", "app")


async def give(rt: Runtime, sender: int, recipient: int, amount: int, key: str | None = None):
    return await gift_points(
        rt,
        as_member(sender),
        from_member_id=sender,
        to_member_id=recipient,
        amount=amount,
        idempotency_key=key or uuid4().hex,
        message="happy birthday",
    )


async def test_received_points_keep_the_expiry_of_the_lots_they_came_from(
    runtime: Runtime, clock: FrozenClock
) -> None:
    a = await new_member(runtime, "a")
    b = await new_member(runtime, "b")
    soon, later = clock.now() + 10 * DAY, clock.now() + 200 * DAY
    await earn(runtime, a, 100, expires_at=soon)
    await earn(runtime, a, 100, expires_at=later)

    gift = await give(runtime, a, b, 150)

    assert (gift.from_member_id, gift.to_member_id, gift.amount) == (a, b, 150)
    assert await ledger.get_balance(runtime, a) == Balance(50, 0, 0, 0)
    assert await ledger.get_balance(runtime, b) == Balance(150, 0, 0, 0)
    # First to expire leaves first; the recipient's lots carry the same dates.
    assert [(lot.remaining, lot.expires_at) for lot in await lots_of(runtime, b)] == [
        (100, soon),
        (50, later),
    ]
    assert [(lot.remaining, lot.expires_at) for lot in await lots_of(runtime, a)] == [(50, later)]
    sent, received = (
        (await ledger.list_history(runtime, a, first=1))[0],
        (await ledger.list_history(runtime, b, first=1))[0],
    )
    assert (sent.kind, sent.amount, received.kind, received.amount) == (
        EntryKind.GIFT_SENT,
        -150,
        EntryKind.GIFT_RECEIVED,
        150,
    )
    assert [g.id for g in await gifts_of(runtime, b)] == [gift.id]
    async with runtime.engine.connect() as conn:
        types = (
            await conn.execute(
                text("SELECT topic, type FROM events WHERE type LIKE 'points.gift%' ORDER BY id")
            )
        ).all()
    assert [tuple(t) for t in types] == [
        (f"member:{a}", "points.gift_sent"),
        (f"member:{b}", "points.gift_received"),
    ]
    assert await programme_balance(runtime, "gifts") == 0

    # The gifted points expire on the recipient when their source lot would have.
    clock.set(soon + timedelta(seconds=1))
    result = await ledger.settle_due_accounts(runtime)
    assert result.expired == 100
    assert await ledger.get_balance(runtime, b) == Balance(50, 0, 0, 0)


async def test_a_replayed_gift_gives_once(runtime: Runtime) -> None:
    a = await new_member(runtime, "a")
    b = await new_member(runtime, "b")
    await earn(runtime, a, 100)
    first = await give(runtime, a, b, 40, key="same")
    again = await give(runtime, a, b, 40, key="same")
    assert again == first
    assert (await ledger.get_balance(runtime, b)).available == 40
    await refused(ErrorCode.IDEMPOTENCY_KEY_REUSED, give(runtime, a, b, 41, key="same"))


async def test_bad_gifts_are_refused_and_change_nothing(
    runtime: Runtime, clock: FrozenClock
) -> None:
    a = await new_member(runtime, "a")
    b = await new_member(runtime, "b")
    closed = await new_member(runtime, "closed")
    frozen = await new_member(runtime, "frozen")
    poor = await new_member(runtime, "poor")
    await earn(runtime, a, 30_000)
    await earn(runtime, frozen, 100)
    await members.set_status(
        runtime, member_id=closed, status=MemberStatus.CLOSED, reason="left", actor="staff:x"
    )
    await members.set_status(
        runtime, member_id=frozen, status=MemberStatus.FROZEN, reason="risk", actor="staff:x"
    )
    for _n in range(4):  # 20,000 a day: four gifts of 5,000 pass…
        await give(runtime, a, b, 5_000)
    before = await ledger_snapshot(runtime)

    cases = [
        (ErrorCode.INVALID_INPUT, "toMemberId", give(runtime, a, a, 10)),
        (ErrorCode.INVALID_INPUT, "amount", give(runtime, a, b, -5)),
        (ErrorCode.INVALID_INPUT, "amount", give(runtime, a, b, 0)),
        (ErrorCode.LIMIT_REACHED, "amount", give(runtime, a, b, 5_001)),
        (ErrorCode.LIMIT_REACHED, "amount", give(runtime, a, b, 1)),  # …the fifth does not
        (ErrorCode.MEMBER_NOT_ACTIVE, "toMemberId", give(runtime, a, closed, 10)),
        (ErrorCode.MEMBER_NOT_ACTIVE, "toMemberId", give(runtime, a, frozen, 10)),
        (ErrorCode.MEMBER_NOT_ACTIVE, "memberId", give(runtime, frozen, b, 10)),
        (ErrorCode.NOT_FOUND, "toMemberId", give(runtime, a, 999_999, 10)),
        (ErrorCode.INSUFFICIENT_POINTS, "amount", give(runtime, poor, a, 10)),
    ]
    for code, field, attempt in cases:
        error = await refused(code, attempt)
        assert error.field == field, (code, error.message)
    assert await ledger_snapshot(runtime) == before
    assert len(await gifts_of(runtime, a)) == 4

    clock.advance(DAY)  # a new business day: the limit starts again
    await give(runtime, a, b, 5_000)


async def test_fifty_gifts_each_way_at_once_neither_deadlock_nor_lose_a_point(
    runtime: Runtime,
) -> None:
    a = await new_member(runtime, "a")
    b = await new_member(runtime, "b")
    await earn(runtime, a, 500)
    await earn(runtime, b, 500)

    async def attempt(sender: int, recipient: int) -> int:
        try:
            await give(runtime, sender, recipient, 30)
        except DomainError as error:
            assert error.code is ErrorCode.INSUFFICIENT_POINTS, error.message
            return 0
        return 30

    moved = await asyncio.wait_for(
        asyncio.gather(*(attempt(a, b) for _ in range(50)), *(attempt(b, a) for _ in range(50))),
        timeout=120,
    )

    a_to_b, b_to_a = sum(moved[:50]), sum(moved[50:])
    balance_a = await ledger.get_balance(runtime, a)
    balance_b = await ledger.get_balance(runtime, b)
    assert balance_a.total + balance_b.total == 1_000
    assert balance_a.total == 500 - a_to_b + b_to_a
    assert len(await gifts_of(runtime, a, limit=200)) == (a_to_b + b_to_a) // 30
    assert await programme_balance(runtime, "gifts") == 0


async def test_a_frozen_member_earns_but_cannot_spend_or_give_until_unfrozen(
    runtime: Runtime,
) -> None:
    a = await new_member(runtime, "a")
    b = await new_member(runtime, "b")
    await earn(runtime, a, 100)
    await members.set_status(
        runtime, member_id=a, status=MemberStatus.FROZEN, reason="suspected fraud", actor="staff:r"
    )
    await refused(ErrorCode.MEMBER_NOT_ACTIVE, spend(runtime, a, 10))
    await refused(ErrorCode.MEMBER_NOT_ACTIVE, give(runtime, a, b, 10))
    await earn(runtime, a, 20)  # points accrue while frozen
    assert await ledger.get_balance(runtime, a) == Balance(120, 0, 0, 0)

    await members.set_status(
        runtime, member_id=a, status=MemberStatus.ACTIVE, reason="cleared", actor="staff:r"
    )
    await give(runtime, a, b, 10)
    history = await members.status_history(runtime, a)
    assert [(c.from_status, c.to_status, c.reason) for c in history] == [
        (MemberStatus.FROZEN, MemberStatus.ACTIVE, "cleared"),
        (MemberStatus.ACTIVE, MemberStatus.FROZEN, "suspected fraud"),
    ]


async def test_no_spend_lands_after_a_freeze_commits(runtime: Runtime) -> None:
    a = await new_member(runtime, "a")
    await earn(runtime, a, 1_000)

    async def try_spend() -> None:
        try:
            await spend(runtime, a, 10)
        except DomainError as error:
            assert error.code is ErrorCode.MEMBER_NOT_ACTIVE

    await asyncio.gather(
        *(try_spend() for _ in range(20)),
        members.set_status(
            runtime, member_id=a, status=MemberStatus.FROZEN, reason="risk", actor="staff:r"
        ),
        *(try_spend() for _ in range(20)),
    )
    # Per-topic event order is commit order: no spend after the status change.
    async with runtime.engine.connect() as conn:
        types = (
            await conn.scalars(
                text("SELECT type FROM events WHERE topic = :t ORDER BY id"), {"t": f"member:{a}"}
            )
        ).all()
    frozen_at = types.index("member.status_changed")
    assert "points.spent" not in types[frozen_at:]
