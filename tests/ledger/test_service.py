"""Ledger scenarios through the use cases, against the real database.

Every test ends with ``jifen audit``'s checks passing (the autouse ``_audit_after`` fixture).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import text

from app.auth.principal import Principal
from app.auth.standing import in_standing
from app.clock import FrozenClock
from app.config import NegativeBalancePolicy
from app.db import unit_of_work
from app.errors import DomainError, ErrorCode
from app.ledger import usecases as ledger
from app.ledger.accounts import lock_account
from app.ledger.audit import audit_ledger
from app.ledger.commands import Adjust, CommitHold, Earn, PlaceHold, Reverse, Spend, VoidHold
from app.ledger.models import Actor, Balance, EntryKind, HoldStatus, Lot
from app.ledger.service import Ledger, LedgerPolicy, Settlement
from app.members import usecases as members
from app.members.models import MemberStatus
from app.runtime import Runtime
from tests.metricsamples import growth

STAFF = Actor("staff:tester", "test", frozenset({"admin"}))
DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
async def _audit_after(runtime: Runtime, clock: FrozenClock) -> AsyncIterator[None]:
    yield
    report = await audit_ledger(
        runtime.engine, clock.now(), runtime.settings.negative_balance_policy
    )
    assert report.ok, report.render()


def key() -> str:
    return uuid4().hex


async def new_member(rt: Runtime, ref: str = "m-1") -> int:
    return (await members.register_member(rt, channel="test", external_ref=ref)).member.id


async def earn(rt: Runtime, member_id: int, amount: int, **kwargs: Any) -> int:
    entry = await ledger.earn_points(
        rt, STAFF, Earn(member_id, amount, "test earn", **kwargs), idempotency_key=key()
    )
    return entry.id


async def spend(rt: Runtime, member_id: int, amount: int) -> int:
    entry = await ledger.spend_points(
        rt,
        STAFF,
        Spend(member_id=member_id, amount=amount, reason="test spend"),
        idempotency_key=key(),
    )
    return entry.id


async def reverse(rt: Runtime, entry_id: int, amount: int | None = None) -> Any:
    return await ledger.reverse_entry(
        rt,
        STAFF,
        Reverse(entry_id=entry_id, amount=amount, reason="test reversal"),
        idempotency_key=key(),
    )


async def lots_of(rt: Runtime, member_id: int) -> list[Lot]:
    return await ledger.list_lots(rt, member_id, first=100)


def shape(lots: list[Lot]) -> list[tuple[int, int, datetime | None]]:
    return [(lot.id, lot.remaining, lot.expires_at) for lot in lots]


async def refused(code: ErrorCode, coro: Any) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await coro
    assert caught.value.code is code, caught.value.message
    return caught.value


async def programme_balance(rt: Runtime, code: str) -> int:
    async with rt.engine.connect() as conn:
        value = await conn.scalar(
            text(
                "SELECT COALESCE(sum(CASE WHEN t.credit_account_id = a.id THEN t.amount "
                "ELSE -t.amount END), 0) FROM programme_accounts a JOIN transfers t "
                "ON a.id IN (t.credit_account_id, t.debit_account_id) WHERE a.code = :code"
            ),
            {"code": code},
        )
    return int(value)


async def ledger_snapshot(rt: Runtime) -> tuple[int, ...]:
    async with rt.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM entries), (SELECT count(*) FROM transfers), "
                    "(SELECT count(*) FROM lots), (SELECT count(*) FROM holds), "
                    "(SELECT COALESCE(sum(remaining), 0) FROM lots)"
                )
            )
        ).one()
    return tuple(int(v) for v in row)


def no_default_expiry(rt: Runtime) -> None:
    rt.settings = rt.settings.model_copy(update={"default_expiry_months": None})


# ------------------------------------------------------------------------------ FIFO, pending


async def test_spending_takes_the_lots_that_expire_first(runtime: Runtime, clock: FrozenClock):
    no_default_expiry(runtime)
    m = await new_member(runtime)
    now = clock.now()
    await earn(runtime, m, 100)  # never expires: spent last
    await earn(runtime, m, 100, expires_at=now + 30 * DAY)
    await earn(runtime, m, 100, expires_at=now + 10 * DAY)
    await earn(runtime, m, 100, expires_at=now + 30 * DAY)  # same expiry: the older lot first
    lots = await lots_of(runtime, m)
    never, late_a, early, late_b = sorted(lots, key=lambda lot: lot.id)
    assert [lot.id for lot in lots] == [early.id, late_a.id, late_b.id, never.id]

    spend_id = await spend(runtime, m, 250)
    after = {lot.id: lot.remaining for lot in await lots_of(runtime, m)}
    assert after == {late_b.id: 50, never.id: 100}
    assert await ledger.get_balance(runtime, m) == Balance(150, 0, 0, 0)

    async with runtime.engine.connect() as conn:
        taken = (
            await conn.execute(
                text("SELECT lot_id, amount FROM allocations WHERE entry_id = :e ORDER BY id"),
                {"e": spend_id},
            )
        ).all()
    assert [tuple(r) for r in taken] == [(early.id, 100), (late_a.id, 100), (late_b.id, 50)]


async def test_pending_points_are_not_spendable_until_available(
    runtime: Runtime, clock: FrozenClock
):
    m = await new_member(runtime)
    await earn(runtime, m, 100, available_at=clock.now() + 7 * DAY)
    assert await ledger.get_balance(runtime, m) == Balance(0, 100, 0, 0)
    await refused(ErrorCode.INSUFFICIENT_POINTS, spend(runtime, m, 10))
    await refused(
        ErrorCode.INSUFFICIENT_POINTS,
        ledger.hold_points(
            runtime, STAFF, PlaceHold(member_id=m, amount=10, reason="h"), idempotency_key=key()
        ),
    )
    clock.advance(7 * DAY - timedelta(seconds=1))
    assert await ledger.get_balance(runtime, m) == Balance(0, 100, 0, 0)
    await refused(ErrorCode.INSUFFICIENT_POINTS, spend(runtime, m, 10))

    clock.advance(timedelta(seconds=1))
    # The read already shows the matured lot, before any write settled it.
    assert await ledger.get_balance(runtime, m) == Balance(100, 0, 0, 0)
    await spend(runtime, m, 10)
    assert await ledger.get_balance(runtime, m) == Balance(90, 0, 0, 0)
    (lot,) = await lots_of(runtime, m)
    assert (lot.pending, lot.remaining) == (False, 90)


async def test_pending_points_must_expire_after_they_become_available(
    runtime: Runtime, clock: FrozenClock
):
    m = await new_member(runtime)
    now = clock.now()
    await refused(
        ErrorCode.INVALID_INPUT,
        earn(runtime, m, 100, available_at=now + 5 * DAY, expires_at=now + 5 * DAY),
    )
    await refused(ErrorCode.INVALID_INPUT, earn(runtime, m, 100, expires_at=now))
    assert await lots_of(runtime, m) == []


# ------------------------------------------------------------------------------ expiry


async def test_expiry_moves_the_remainder_into_the_bank_at_the_right_moment(
    runtime: Runtime, clock: FrozenClock
):
    clock.set(datetime(2026, 1, 15, 10, 0, tzinfo=UTC))
    m = await new_member(runtime)
    await earn(runtime, m, 500)  # default: 12 months
    await spend(runtime, m, 120)
    (lot,) = await lots_of(runtime, m)
    # Valid through 2027-01-15 (business-local), to its end: midnight in Shanghai.
    assert lot.expires_at == datetime(2027, 1, 15, 16, 0, tzinfo=UTC)

    clock.set(datetime(2027, 1, 14, 10, 0, tzinfo=UTC))
    assert await ledger.get_balance(runtime, m) == Balance(380, 0, 0, 0)
    await spend(runtime, m, 80)
    assert await ledger.get_balance(runtime, m) == Balance(300, 0, 0, 0)

    clock.set(datetime(2027, 1, 16, 10, 0, tzinfo=UTC))
    # Gone in the as-of-now read before any write, and the audit notes it is due for a sweep.
    assert await ledger.get_balance(runtime, m) == Balance(0, 0, 0, 0)
    report = await audit_ledger(runtime.engine, clock.now())
    assert report.ok and any("past expiry" in note for note in report.notes)
    assert await programme_balance(runtime, "bank") == 0

    await refused(ErrorCode.INSUFFICIENT_POINTS, spend(runtime, m, 1))  # settles, then refuses
    assert await programme_balance(runtime, "bank") == 0  # the refusal rolled back
    await earn(runtime, m, 10)  # a write settles: the remainder goes into the bank
    assert await programme_balance(runtime, "bank") == 300
    assert await ledger.get_balance(runtime, m) == Balance(10, 0, 0, 0)
    history = await ledger.list_history(runtime, m, first=10)
    expiry = next(e for e in history if e.kind is EntryKind.EXPIRY)
    assert expiry.amount == -300
    assert expiry.created_at == datetime(2027, 1, 16, 10, 0, tzinfo=UTC)
    await refused(ErrorCode.NOT_REVERSIBLE, reverse(runtime, expiry.id))


async def test_settle_job_expires_and_matures(runtime: Runtime, clock: FrozenClock):
    m = await new_member(runtime)
    now = clock.now()
    await earn(runtime, m, 40, expires_at=now + 2 * DAY)
    await earn(runtime, m, 60, available_at=now + DAY, expires_at=now + 9 * DAY)
    clock.advance(3 * DAY)
    async with unit_of_work(runtime.engine) as conn:
        settled = await Ledger(
            conn, clock, LedgerPolicy.from_settings(runtime.settings)
        ).settle_member(m)
    assert settled == Settlement(m, activated=60, expired=40, expired_lots=1)
    assert await ledger.get_balance(runtime, m) == Balance(60, 0, 0, 0)
    assert await programme_balance(runtime, "bank") == 40
    report = await audit_ledger(runtime.engine, clock.now())
    assert report.ok and not report.notes


# ------------------------------------------------------------------------------ holds


async def hold(rt: Runtime, member_id: int, amount: int, **kwargs: Any) -> Any:
    return await ledger.hold_points(
        rt, STAFF, PlaceHold(member_id, amount, "test hold", **kwargs), idempotency_key=key()
    )


async def test_hold_then_commit(runtime: Runtime, clock: FrozenClock):
    m = await new_member(runtime)
    await earn(runtime, m, 100)
    h = await hold(runtime, m, 60)
    assert h.status is HoldStatus.ACTIVE
    assert h.expires_at == clock.now() + timedelta(seconds=runtime.settings.default_hold_seconds)
    assert await ledger.get_balance(runtime, m) == Balance(40, 0, 60, 0)
    await refused(ErrorCode.INSUFFICIENT_POINTS, spend(runtime, m, 41))

    entry = await ledger.commit_hold(
        runtime, STAFF, CommitHold(hold_id=h.id), idempotency_key=key()
    )
    assert (entry.kind, entry.amount, entry.hold_id) == (EntryKind.SPEND, -60, h.id)
    assert await ledger.get_balance(runtime, m) == Balance(40, 0, 0, 0)
    committed = await ledger.get_hold(runtime, h.id)
    assert committed.status is HoldStatus.COMMITTED and committed.commit_entry_id == entry.id
    assert await programme_balance(runtime, "redemption") == 60

    await refused(
        ErrorCode.HOLD_NOT_ACTIVE,
        ledger.commit_hold(runtime, STAFF, CommitHold(hold_id=h.id), idempotency_key=key()),
    )
    await refused(
        ErrorCode.HOLD_NOT_ACTIVE,
        ledger.void_hold(runtime, STAFF, VoidHold(hold_id=h.id, reason="x"), idempotency_key=key()),
    )
    # The committed spend reverses into the lot the hold took from.
    await reverse(runtime, entry.id)
    assert await ledger.get_balance(runtime, m) == Balance(100, 0, 0, 0)


async def test_hold_then_void_returns_the_very_same_lots(runtime: Runtime, clock: FrozenClock):
    m = await new_member(runtime)
    now = clock.now()
    await earn(runtime, m, 100, expires_at=now + 20 * DAY)
    await earn(runtime, m, 100, expires_at=now + 5 * DAY)
    await earn(runtime, m, 100)
    await spend(runtime, m, 30)
    before = shape(await lots_of(runtime, m))

    h = await hold(runtime, m, 200)
    during = shape(await lots_of(runtime, m))
    assert [lot[1] for lot in during] == [70]  # what is left of the 12-month lot
    assert await ledger.get_balance(runtime, m) == Balance(70, 0, 200, 0)

    voided = await ledger.void_hold(
        runtime, STAFF, VoidHold(hold_id=h.id, reason="customer left"), idempotency_key=key()
    )
    assert voided.status is HoldStatus.VOIDED
    assert shape(await lots_of(runtime, m)) == before
    assert await ledger.get_balance(runtime, m) == Balance(270, 0, 0, 0)


async def test_voided_points_return_expired_when_their_lot_expired_meanwhile(
    runtime: Runtime, clock: FrozenClock
):
    m = await new_member(runtime)
    await earn(runtime, m, 100, expires_at=clock.now() + 2 * DAY)
    h = await hold(runtime, m, 60, expires_at=clock.now() + 5 * DAY)
    clock.advance(3 * DAY)
    assert await ledger.get_balance(runtime, m) == Balance(0, 0, 60, 0)
    await ledger.void_hold(
        runtime, STAFF, VoidHold(hold_id=h.id, reason="x"), idempotency_key=key()
    )
    assert await ledger.get_balance(runtime, m) == Balance(0, 0, 0, 0)
    assert await programme_balance(runtime, "bank") == 100


async def test_an_expired_hold_cannot_be_committed_and_the_job_voids_it(
    runtime: Runtime, clock: FrozenClock
):
    m = await new_member(runtime)
    await earn(runtime, m, 100)
    h = await hold(runtime, m, 30, expires_at=clock.now() + timedelta(minutes=5))
    clock.advance(timedelta(minutes=5))
    await refused(
        ErrorCode.HOLD_NOT_ACTIVE,
        ledger.commit_hold(runtime, STAFF, CommitHold(hold_id=h.id), idempotency_key=key()),
    )
    assert await ledger.void_expired_holds(runtime) == 1
    assert (await ledger.get_hold(runtime, h.id)).status is HoldStatus.VOIDED
    assert await ledger.get_balance(runtime, m) == Balance(100, 0, 0, 0)


async def test_a_hold_must_expire_in_the_future(runtime: Runtime, clock: FrozenClock):
    m = await new_member(runtime)
    await earn(runtime, m, 100)
    await refused(ErrorCode.INVALID_INPUT, hold(runtime, m, 10, expires_at=clock.now()))


# ------------------------------------------------------------------------------ reversals


async def test_partial_then_full_reversal_of_a_spend_returns_to_the_original_lots(
    runtime: Runtime, clock: FrozenClock
):
    m = await new_member(runtime)
    now = clock.now()
    await earn(runtime, m, 100, expires_at=now + 10 * DAY)
    await earn(runtime, m, 100, expires_at=now + 20 * DAY)
    before = shape(await lots_of(runtime, m))
    spent = await spend(runtime, m, 150)
    assert [lot[1] for lot in shape(await lots_of(runtime, m))] == [50]

    # Partial: the latest allocation (the later lot) is refilled first.
    first = await reverse(runtime, spent, 30)
    assert (first.kind, first.amount, first.reverses_entry_id) == (EntryKind.REVERSAL, 30, spent)
    assert [lot[1] for lot in shape(await lots_of(runtime, m))] == [80]
    assert (await ledger.get_entry(runtime, spent)).reversed_amount == 30

    await refused(ErrorCode.INVALID_INPUT, reverse(runtime, spent, 121))
    rest = await reverse(runtime, spent)  # the rest: 120
    assert rest.amount == 120
    assert shape(await lots_of(runtime, m)) == before
    assert await ledger.get_balance(runtime, m) == Balance(200, 0, 0, 0)

    await refused(ErrorCode.ALREADY_REVERSED, reverse(runtime, spent))
    await refused(ErrorCode.NOT_REVERSIBLE, reverse(runtime, rest.id))


async def test_reversed_spend_into_an_expired_lot_expires_again(
    runtime: Runtime, clock: FrozenClock
):
    m = await new_member(runtime)
    await earn(runtime, m, 100, expires_at=clock.now() + 5 * DAY)
    spent = await spend(runtime, m, 70)
    clock.advance(6 * DAY)
    entry = await reverse(runtime, spent)
    assert entry.amount == 70
    assert await ledger.get_balance(runtime, m) == Balance(0, 0, 0, 0)
    assert await programme_balance(runtime, "bank") == 100
    assert await programme_balance(runtime, "redemption") == 0


async def test_claw_back_order_own_lot_then_available_then_pending(
    runtime: Runtime, clock: FrozenClock
):
    m = await new_member(runtime)
    now = clock.now()
    own = await earn(runtime, m, 100, expires_at=now + 30 * DAY)
    await earn(runtime, m, 50, expires_at=now + 40 * DAY)  # available, spent second
    await earn(runtime, m, 50, available_at=now + 3 * DAY, expires_at=now + 5 * DAY)  # pending
    await earn(runtime, m, 50, expires_at=now + 10 * DAY)  # available, expires first
    await spend(runtime, m, 170)  # 10-day lot 50, own lot 100, 40-day lot 20
    assert await ledger.get_balance(runtime, m) == Balance(30, 50, 0, 0)
    pending_lot, other_lot = await lots_of(runtime, m)  # open lots, by expiry
    assert (pending_lot.pending, pending_lot.remaining, other_lot.remaining) == (True, 50, 30)

    entry = await reverse(runtime, own, 60)
    assert entry.amount == -60
    # The own lot is empty: the available 40-day lot gives its 30, then the pending lot 30.
    assert [(lot.id, lot.remaining) for lot in await lots_of(runtime, m)] == [(pending_lot.id, 20)]
    assert await ledger.get_balance(runtime, m) == Balance(0, 20, 0, 0)


async def test_claw_back_with_too_few_points_leaves_a_debt(runtime: Runtime, clock: FrozenClock):
    m = await new_member(runtime)
    credit = await earn(runtime, m, 100)
    await spend(runtime, m, 80)
    entry = await reverse(runtime, credit)
    assert entry.amount == -100
    assert entry.details == {"debt_added": 80}
    balance = await ledger.get_balance(runtime, m)
    assert balance == Balance(0, 0, 0, 80) and balance.total == -80

    # The next credit pays the debt first; only the rest becomes a lot.
    await earn(runtime, m, 50)
    assert await ledger.get_balance(runtime, m) == Balance(0, 0, 0, 30)
    assert await lots_of(runtime, m) == []
    await earn(runtime, m, 50)
    assert await ledger.get_balance(runtime, m) == Balance(20, 0, 0, 0)
    (lot,) = await lots_of(runtime, m)
    assert (lot.amount, lot.remaining) == (20, 20)


async def test_claw_back_with_too_few_points_is_written_off_under_take_remaining(
    runtime: Runtime, clock: FrozenClock
):
    runtime.settings = runtime.settings.model_copy(
        update={"negative_balance_policy": NegativeBalancePolicy.TAKE_REMAINING}
    )
    m = await new_member(runtime)
    credit = await earn(runtime, m, 100)
    await spend(runtime, m, 80)
    entry = await reverse(runtime, credit)
    assert entry.amount == -20
    assert entry.details == {"written_off": 80}
    assert await ledger.get_balance(runtime, m) == Balance(0, 0, 0, 0)
    assert (await ledger.get_entry(runtime, credit)).reversed_amount == 100
    await refused(ErrorCode.ALREADY_REVERSED, reverse(runtime, credit))

    # Nothing left at all: the claw-back moves nothing and cannot itself be reversed.
    credit2 = await earn(runtime, m, 10)
    await spend(runtime, m, 10)
    empty = await reverse(runtime, credit2)
    assert empty.amount == 0
    await refused(ErrorCode.NOT_REVERSIBLE, reverse(runtime, empty.id))


async def test_reversing_twice_and_reversing_an_expiry(runtime: Runtime, clock: FrozenClock):
    m = await new_member(runtime)
    credit = await earn(runtime, m, 100, expires_at=clock.now() + DAY)
    await reverse(runtime, credit)
    await refused(ErrorCode.ALREADY_REVERSED, reverse(runtime, credit))
    await refused(ErrorCode.NOT_FOUND, reverse(runtime, 999_999))

    await earn(runtime, m, 10, expires_at=clock.now() + DAY)
    clock.advance(2 * DAY)
    await earn(runtime, m, 1)
    expiry = next(
        e for e in await ledger.list_history(runtime, m, first=10) if e.kind is EntryKind.EXPIRY
    )
    await refused(ErrorCode.NOT_REVERSIBLE, reverse(runtime, expiry.id))


# ------------------------------------------------------------------------------ adjustments


async def test_adjustments_need_a_reason_and_move_both_ways(runtime: Runtime, clock: FrozenClock):
    m = await new_member(runtime)

    async def adjust(amount: int, reason: str = "goodwill") -> Any:
        return await ledger.adjust_points(
            runtime, STAFF, Adjust(member_id=m, amount=amount, reason=reason), idempotency_key=key()
        )

    await refused(ErrorCode.INVALID_INPUT, adjust(50, reason=""))
    await refused(ErrorCode.INVALID_INPUT, adjust(50, reason="   "))
    await refused(ErrorCode.INVALID_INPUT, adjust(0))
    up = await adjust(50)
    assert (up.kind, up.amount, up.reason) == (EntryKind.ADJUSTMENT, 50, "goodwill")
    await refused(ErrorCode.INSUFFICIENT_POINTS, adjust(-51))
    down = await adjust(-20, reason="typo correction")
    assert down.amount == -20
    assert await ledger.get_balance(runtime, m) == Balance(30, 0, 0, 0)
    assert await programme_balance(runtime, "adjustment") == -30
    await reverse(runtime, down.id)
    assert await ledger.get_balance(runtime, m) == Balance(50, 0, 0, 0)


# ------------------------------------------------------------------------------ member status


async def test_a_frozen_member_cannot_spend_or_hold(runtime: Runtime, clock: FrozenClock):
    m = await new_member(runtime)
    await earn(runtime, m, 100)
    await members.set_status(
        runtime, member_id=m, status=MemberStatus.FROZEN, reason="fraud check", actor="staff:x"
    )
    before = await ledger_snapshot(runtime)
    await refused(ErrorCode.MEMBER_NOT_ACTIVE, spend(runtime, m, 10))
    await refused(ErrorCode.MEMBER_NOT_ACTIVE, hold(runtime, m, 10))
    assert await ledger_snapshot(runtime) == before
    await members.set_status(
        runtime, member_id=m, status=MemberStatus.ACTIVE, reason="cleared", actor="staff:x"
    )
    await spend(runtime, m, 10)
    assert await ledger.get_balance(runtime, m) == Balance(90, 0, 0, 0)


async def test_a_closed_member_cannot_earn(runtime: Runtime, clock: FrozenClock):
    m = await new_member(runtime)
    await members.set_status(
        runtime, member_id=m, status=MemberStatus.CLOSED, reason="asked to leave", actor="staff:x"
    )
    before = await ledger_snapshot(runtime)
    await refused(ErrorCode.MEMBER_NOT_ACTIVE, earn(runtime, m, 10))
    assert await ledger_snapshot(runtime) == before
    assert await ledger.get_balance(runtime, m) == Balance(0, 0, 0, 0)


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("amount", [0, -5, 10_000_001])
async def test_bad_amounts_are_refused_and_change_nothing(runtime: Runtime, amount: int):
    m = await new_member(runtime)
    await earn(runtime, m, 100)
    before = await ledger_snapshot(runtime)
    await refused(ErrorCode.INVALID_INPUT, earn(runtime, m, amount))
    await refused(ErrorCode.INVALID_INPUT, spend(runtime, m, amount))
    await refused(ErrorCode.INVALID_INPUT, hold(runtime, m, amount))
    assert await ledger_snapshot(runtime) == before


async def test_unknown_member_is_not_found(runtime: Runtime):
    await refused(ErrorCode.NOT_FOUND, earn(runtime, 424242, 10))
    await refused(ErrorCode.NOT_FOUND, spend(runtime, 424242, 10))
    await refused(ErrorCode.NOT_FOUND, ledger.get_balance(runtime, 424242))


# ------------------------------------------------------------------------------ idempotency


async def test_same_key_same_request_returns_the_same_entry(runtime: Runtime):
    m = await new_member(runtime)
    k = key()

    async def earn_once(amount: int = 100) -> Any:
        return await ledger.earn_points(
            runtime, STAFF, Earn(member_id=m, amount=amount, reason="order 1"), idempotency_key=k
        )

    first = await earn_once()
    again = await earn_once()
    assert again == first
    assert await ledger.get_balance(runtime, m) == Balance(100, 0, 0, 0)
    await refused(ErrorCode.IDEMPOTENCY_KEY_REUSED, earn_once(amount=101))
    # The key is the caller's: another caller may use the same string.
    other = await ledger.earn_points(
        runtime,
        Actor("partner:pos-1"),
        Earn(member_id=m, amount=100, reason="order 1"),
        idempotency_key=k,
    )
    assert other.id != first.id
    assert await ledger.get_balance(runtime, m) == Balance(200, 0, 0, 0)


async def test_a_refused_request_does_not_burn_its_key(runtime: Runtime):
    m = await new_member(runtime)
    k = key()

    async def spend_with_key() -> Any:
        return await ledger.spend_points(
            runtime, STAFF, Spend(member_id=m, amount=50, reason="order 2"), idempotency_key=k
        )

    await refused(ErrorCode.INSUFFICIENT_POINTS, spend_with_key())
    await earn(runtime, m, 50)
    entry = await spend_with_key()
    assert entry.amount == -50
    assert await spend_with_key() == entry
    assert await ledger.get_balance(runtime, m) == Balance(0, 0, 0, 0)


# ------------------------------------------------------------------------------ concurrency


async def test_fifty_concurrent_spends_of_ten_against_a_hundred(runtime: Runtime):
    m = await new_member(runtime)
    await earn(runtime, m, 100)
    results = await asyncio.gather(
        *(spend(runtime, m, 10) for _ in range(50)), return_exceptions=True
    )
    ok = [r for r in results if isinstance(r, int)]
    errors = [r for r in results if not isinstance(r, int)]
    assert len(ok) == 10 and len(set(ok)) == 10
    assert all(isinstance(e, DomainError) for e in errors), errors
    assert {e.code for e in errors if isinstance(e, DomainError)} == {ErrorCode.INSUFFICIENT_POINTS}
    assert await ledger.get_balance(runtime, m) == Balance(0, 0, 0, 0)


async def test_twenty_concurrent_replays_of_one_earn_credit_once(runtime: Runtime):
    m = await new_member(runtime)
    k = key()
    results = await asyncio.gather(
        *(
            ledger.earn_points(
                runtime, STAFF, Earn(member_id=m, amount=70, reason="order 3"), idempotency_key=k
            )
            for _ in range(20)
        )
    )
    assert all(r == results[0] for r in results)
    assert await ledger.get_balance(runtime, m) == Balance(70, 0, 0, 0)
    assert len(await ledger.list_history(runtime, m, first=50)) == 1


async def test_concurrent_mixed_writes_on_two_members_keep_the_invariants(
    runtime: Runtime, clock: FrozenClock
):
    a = await new_member(runtime, "a")
    b = await new_member(runtime, "b")
    credits = [await earn(runtime, m, 100) for m in (a, b) for _ in range(3)]

    async def attempt(coro: Any) -> Any:
        try:
            return await coro
        except DomainError as error:
            return error.code

    jobs = []
    for i in range(40):
        m = a if i % 2 else b
        jobs.append(attempt(spend(runtime, m, 15)))
        jobs.append(attempt(hold(runtime, m, 5)))
        if i % 10 == 0:
            jobs.append(attempt(reverse(runtime, credits[i // 10], 30)))
    await asyncio.gather(*jobs)
    report = await audit_ledger(runtime.engine, clock.now())
    assert report.ok, report.render()


async def test_an_account_lock_serves_its_own_member_while_it_is_current(runtime: Runtime):
    """A caller's lock (earning locks, reads the member, then earns) serves one write; a credit
    hands it back renewed (its row as the credit saved it), so it serves the next earn too.
    Once a write bypassed it, its row is stale: a write from it would save balances that miss
    that write, and is refused with nothing written."""
    member, other = await new_member(runtime, "m-1"), await new_member(runtime, "m-2")
    policy = LedgerPolicy.from_settings(runtime.settings)
    async with unit_of_work(runtime.engine) as conn:
        book = Ledger(conn, runtime.clock, policy)
        lock = await lock_account(conn, member)
        assert lock is not None
        with pytest.raises(RuntimeError):  # no status read after the lock: refused
            await book.earn(Earn(member_id=member, amount=10, reason="r"), STAFF, lock=lock)
        lock.status = MemberStatus.ACTIVE
        with pytest.raises(RuntimeError):  # another member's lock: refused
            await book.earn(Earn(member_id=other, amount=10, reason="r"), STAFF, lock=lock)
        await book.earn(Earn(member_id=member, amount=10, reason="r"), STAFF, lock=lock)
        await book.earn(Earn(member_id=member, amount=5, reason="r"), STAFF, lock=lock)
        await book.earn(
            Earn(member_id=member, amount=5, reason="r"), STAFF
        )  # locks and reads again: fine, and the caller's lock is stale now
        with pytest.raises(RuntimeError):  # the stale row: refused, nothing written
            await book.earn(Earn(member_id=member, amount=7, reason="r"), STAFF, lock=lock)
        with pytest.raises(DomainError) as unknown:  # no such member: refused
            await lock_account(conn, 10**9)
        assert unknown.value.code is ErrorCode.NOT_FOUND
    assert (await ledger.get_balance(runtime, member)).available == 20
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report.render()
    assert (await ledger.get_balance(runtime, other)).available == 0


class Abandoned(Exception):
    pass


async def test_postings_count_when_their_transaction_commits(runtime: Runtime) -> None:
    member = (await members.register_member(runtime, channel="test", external_ref="m")).member.id
    postings = growth("jifen_ledger_postings_total", kind="earn")
    points = growth("jifen_ledger_points_total", kind="earn")

    # Posted, then rolled back: nothing was written, so nothing is counted.
    with pytest.raises(Abandoned):
        async with unit_of_work(runtime.engine) as conn:
            book = Ledger(conn, runtime.clock, LedgerPolicy.from_settings(runtime.settings))
            await book.earn(Earn(member_id=member, amount=70, reason="abandoned"), STAFF)
            raise Abandoned
    assert (postings(), points()) == (0, 0)

    for amount in (10, 25):
        await ledger.earn_points(
            runtime,
            STAFF,
            Earn(member_id=member, amount=amount, reason="r"),
            idempotency_key=uuid4().hex,
        )
    assert (postings(), points()) == (2, 35)


async def test_many_balances_read_as_one_balance_reads_them_through_maturing_and_expiry(
    runtime: Runtime, clock: FrozenClock
) -> None:
    """get_balances (the DataLoaders': one prepared statement) and a member's standing read
    with its balance (app/auth/standing.py: the same rules in the standing's statement) answer
    as get_balance (the Core query) while lots mature and expire unsettled, and for an unknown
    member (absent)."""
    maturing = await new_member(runtime, "m-mature")
    expiring = await new_member(runtime, "m-expire")
    plain = await new_member(runtime, "m-plain")
    await earn(runtime, maturing, 100, available_at=clock.now() + 2 * DAY)
    await earn(
        runtime, maturing, 30, available_at=clock.now() + DAY, expires_at=clock.now() + 3 * DAY
    )
    await earn(runtime, expiring, 70, expires_at=clock.now() + DAY)
    await earn(runtime, expiring, 5)
    await earn(runtime, plain, 40)
    await spend(runtime, plain, 15)
    members_ = [maturing, expiring, plain]
    for step in range(5):
        many = await ledger.get_balances(runtime, [*members_, 10**12])
        one = {m: await ledger.get_balance(runtime, m) for m in members_}
        assert many == one, step
        for m in members_:
            standing = await in_standing(runtime, Principal.member(m), with_balance=True)
            assert standing.member_balance == one[m], (step, m)
        clock.advance(DAY)
    assert (await ledger.get_balances(runtime, [maturing]))[maturing] == Balance(100, 0, 0, 0)
