"""The expiry sweep (settle_due_accounts) and expiry policies, with the clock, on the database.

Every test ends with the ledger audit passing, including "no point was taken from a lot after it
expired" and "no lot expired before it was due".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from app.clock import FrozenClock
from app.errors import ErrorCode
from app.ledger import usecases as ledger
from app.ledger.audit import audit_ledger
from app.ledger.commands import CommitHold, VoidHold
from app.ledger.models import Balance, EntryKind
from app.runtime import Runtime
from tests.ledger.test_service import (
    DAY,
    STAFF,
    earn,
    hold,
    key,
    lots_of,
    new_member,
    programme_balance,
    refused,
    spend,
)


@pytest.fixture(autouse=True)
async def _audit_after(runtime: Runtime, clock: FrozenClock) -> AsyncIterator[None]:
    yield
    report = await audit_ledger(runtime.engine, clock.now())
    assert report.ok, report.render()


def with_policy(rt: Runtime, policy: str) -> None:
    rt.settings = rt.settings.model_copy(update={"expiry_policy": policy})


async def test_twelve_months_spendable_on_the_eve_gone_after_and_swept_into_the_bank(
    runtime: Runtime, clock: FrozenClock
) -> None:
    with_policy(runtime, "rolling:12")
    clock.set(datetime(2026, 1, 15, 3, 0, tzinfo=UTC))  # 11:00 in Shanghai
    m = await new_member(runtime)
    await earn(runtime, m, 500)
    (lot,) = await lots_of(runtime, m)
    # Valid through 2027-01-15 business-local: it expires at that day's end, 00:00 +08:00.
    assert lot.expires_at == datetime(2027, 1, 15, 16, 0, tzinfo=UTC)

    clock.set(datetime(2027, 1, 14, 12, 0, tzinfo=UTC))
    await spend(runtime, m, 120)  # still spendable on 2027-01-14
    assert await ledger.get_balance(runtime, m) == Balance(380, 0, 0, 0)

    clock.set(datetime(2027, 1, 16, 1, 0, tzinfo=UTC))
    assert await ledger.get_balance(runtime, m) == Balance(0, 0, 0, 0)  # gone on 2027-01-16
    result = await ledger.settle_due_accounts(runtime)
    assert (result.accounts, result.expired, result.expired_lots) == (1, 380, 1)
    assert await programme_balance(runtime, "bank") == 380
    await refused(ErrorCode.INSUFFICIENT_POINTS, spend(runtime, m, 1))
    history = await ledger.list_history(runtime, m, first=5)
    assert [(e.kind, e.amount) for e in history][:1] == [(EntryKind.EXPIRY, -380)]
    # Nothing left due: a second sweep finds nothing, and the audit has nothing to note.
    assert (await ledger.settle_due_accounts(runtime)).accounts == 0
    report = await audit_ledger(runtime.engine, clock.now())
    assert report.ok and not report.notes, report.render()


async def test_year_end_clears_last_years_points_at_business_local_midnight_of_dec_31(
    runtime: Runtime, clock: FrozenClock
) -> None:
    with_policy(runtime, "year_end")
    clock.set(datetime(2026, 3, 1, 2, 0, tzinfo=UTC))
    m = await new_member(runtime)
    await earn(runtime, m, 100)  # earned in 2026: valid through 2027-12-31
    clock.set(datetime(2027, 6, 1, 2, 0, tzinfo=UTC))
    await earn(runtime, m, 40)  # earned in 2027: valid through 2028-12-31

    # 2027-12-31 23:59:59 in Shanghai is 15:59:59 UTC: everything is still there.
    clock.set(datetime(2027, 12, 31, 15, 59, 59, tzinfo=UTC))
    assert (await ledger.settle_due_accounts(runtime)).accounts == 0
    assert await ledger.get_balance(runtime, m) == Balance(140, 0, 0, 0)

    # Business-local midnight: 2028-01-01 00:00 +08:00. The 2026 points go, the 2027 stay.
    clock.set(datetime(2027, 12, 31, 16, 0, tzinfo=UTC))
    result = await ledger.settle_due_accounts(runtime)
    assert result.expired == 100
    assert await ledger.get_balance(runtime, m) == Balance(40, 0, 0, 0)
    assert await programme_balance(runtime, "bank") == 100


async def test_a_late_sweep_catches_up_in_batches(runtime: Runtime, clock: FrozenClock) -> None:
    with_policy(runtime, "rolling:1")
    members = [await new_member(runtime, f"late-{n}") for n in range(7)]
    for _month in range(3):  # a lot a month for three months
        for m in members:
            await earn(runtime, m, 10)
        clock.advance(31 * DAY)
    await spend(runtime, members[0], 5)  # a write settled this one already
    clock.advance(400 * DAY)  # the workers were down for a year

    result = await ledger.settle_due_accounts(runtime, batch=3)

    assert result.accounts == 7 and result.batches == 3
    assert await programme_balance(runtime, "bank") == 7 * 30 - 5
    for m in members:
        assert await ledger.get_balance(runtime, m) == Balance(0, 0, 0, 0)


async def test_the_sweep_makes_matured_pending_points_available_with_an_event(
    runtime: Runtime, clock: FrozenClock
) -> None:
    m = await new_member(runtime)
    await earn(runtime, m, 70, available_at=clock.now() + 7 * DAY)
    clock.advance(8 * DAY)
    result = await ledger.settle_due_accounts(runtime)
    assert (result.accounts, result.activated, result.expired) == (1, 70, 0)
    async with runtime.engine.connect() as conn:
        payload = await conn.scalar(
            text("SELECT payload FROM events WHERE type = 'points.available' AND topic = :t"),
            {"t": f"member:{m}"},
        )
    assert payload["points"] == 70 and payload["balance"]["available"] == 70


async def test_one_batch_saves_an_account_whose_points_mature_expire_and_stay_pending(
    runtime: Runtime, clock: FrozenClock
) -> None:
    """The sweep's statement reads each account's balances from its locked row plus the points
    that just matured (app/ledger/settlement.py): an account with a lot expiring, a pending one
    maturing and another still pending in one batch is saved with each point in its place."""
    with_policy(runtime, "rolling:1")
    m = await new_member(runtime)
    bystander = await new_member(runtime, "m-2")
    await earn(runtime, m, 50)  # due in a month
    clock.advance(20 * DAY)
    await earn(runtime, m, 30, available_at=clock.now() + 10 * DAY)  # matures before the sweep
    await earn(runtime, m, 20, available_at=clock.now() + 25 * DAY)  # still pending after it
    await earn(runtime, bystander, 40, available_at=clock.now() + 10 * DAY)  # matures only
    clock.advance(15 * DAY)
    result = await ledger.settle_due_accounts(runtime)
    assert (result.accounts, result.activated, result.expired, result.expired_lots) == (
        2,
        70,
        50,
        1,
    )
    async with runtime.engine.connect() as conn:
        saved = (
            await conn.execute(
                text(
                    "SELECT member_id, available, pending, next_due_at FROM accounts "
                    "WHERE member_id IN (:m, :b) ORDER BY member_id"
                ),
                {"m": m, "b": bystander},
            )
        ).all()
        expired_balance = await conn.scalar(
            text("SELECT payload->'balance' FROM events WHERE type = 'points.expired'")
        )
    assert [tuple(row[:3]) for row in saved] == [(m, 30, 20), (bystander, 40, 0)]
    assert saved[0].next_due_at > clock.now() and saved[1].next_due_at > clock.now()
    assert expired_balance == {"available": 30, "pending": 20, "held": 0, "debt": 0, "total": 50}
    assert await ledger.get_balance(runtime, m) == Balance(30, 20, 0, 0)


async def members_with_a_due_lot_and_a_later_one(
    rt: Runtime, clock: FrozenClock, name: str, count: int, due: int, later: int
) -> list[int]:
    """``count`` members, each with a lot of ``due`` points now due and one of ``later`` points
    earned 20 days after it, still valid."""
    with_policy(rt, "rolling:1")
    members = [await new_member(rt, f"{name}-{n}") for n in range(count)]
    for m in members:
        await earn(rt, m, due)  # expires in a month
    clock.advance(20 * DAY)
    for m in members:
        await earn(rt, m, later)  # still valid after the first expires
    clock.advance(15 * DAY)  # the first lots are due, the second not
    return members


async def test_two_sweeps_and_fifty_spends_at_once_expire_each_lot_once(
    runtime: Runtime, clock: FrozenClock
) -> None:
    members = await members_with_a_due_lot_and_a_later_one(runtime, clock, "race", 10, 100, 50)

    async def try_spend(n: int) -> int:
        try:
            await spend(runtime, members[n % 10], 20)
        except Exception as error:  # refusals only: insufficient points
            assert getattr(error, "code", None) is ErrorCode.INSUFFICIENT_POINTS, error
            return 0
        return 20

    sweeps_and_spends = await asyncio.gather(
        ledger.settle_due_accounts(runtime, batch=3),
        ledger.settle_due_accounts(runtime, batch=3),
        *(try_spend(n) for n in range(50)),
    )
    sweeps = sweeps_and_spends[:2]
    spent = sum(sweeps_and_spends[2:])

    # Each member's first lot expired exactly once (by a sweep or by a spend's own settle),
    # whole: no spend could take from it once due.
    async with runtime.engine.connect() as conn:
        expired_per_lot = (
            await conn.execute(
                text(
                    "SELECT al.lot_id, count(*) AS times, sum(al.amount) AS points "
                    "FROM allocations al JOIN entries e ON e.id = al.entry_id "
                    "WHERE e.kind = 'expiry' GROUP BY al.lot_id"
                )
            )
        ).all()
    assert len(expired_per_lot) == 10
    assert all(row.times == 1 and row.points == 100 for row in expired_per_lot)
    assert await programme_balance(runtime, "bank") == 1_000
    assert sum(s.expired for s in sweeps) <= 1_000  # the rest expired in the spends' settles
    # Only the 50 still-valid points of each member could be spent: two spends of 20 each.
    assert spent == 400
    for m in members:
        assert await ledger.get_balance(runtime, m) == Balance(10, 0, 0, 0)


async def test_one_sweep_on_three_connections_expires_each_lot_once_and_counts_them_all(
    runtime: Runtime, clock: FrozenClock
) -> None:
    """Three connections take batches at once (``FOR UPDATE SKIP LOCKED`` gives each its own
    accounts): every due lot expires once, the one result adds up all three's work."""
    members = await members_with_a_due_lot_and_a_later_one(runtime, clock, "wide", 15, 30, 7)

    result = await ledger.settle_due_accounts(runtime, batch=2, connections=3)

    assert (result.accounts, result.expired, result.expired_lots) == (15, 450, 15)
    assert result.batches >= 8  # 15 accounts, two a batch
    times = await _rows(
        runtime,
        "SELECT count(*) FROM allocations al JOIN entries e ON e.id = al.entry_id "
        "WHERE e.kind = 'expiry' GROUP BY al.lot_id",
    )
    assert sorted(row[0] for row in times) == [1] * 15
    assert await programme_balance(runtime, "bank") == 450
    for m in members:
        assert await ledger.get_balance(runtime, m) == Balance(7, 0, 0, 0)


async def test_max_batches_bounds_all_the_connections_together(
    runtime: Runtime, clock: FrozenClock
) -> None:
    with_policy(runtime, "rolling:1")
    for n in range(9):
        await earn(runtime, await new_member(runtime, f"bounded-{n}"), 10)
    clock.advance(40 * DAY)

    first = await ledger.settle_due_accounts(runtime, batch=2, max_batches=2, connections=3)
    rest = await ledger.settle_due_accounts(runtime, batch=2, connections=3)

    assert (first.batches, first.accounts) == (2, 4)
    assert (rest.accounts, first.expired + rest.expired) == (5, 90)


async def _rows(rt: Runtime, sql: str) -> list[Any]:
    async with rt.engine.connect() as conn:
        return list((await conn.execute(text(sql))).all())


async def test_set_based_sweeps_racing_spends_and_holds_on_the_same_members(
    runtime: Runtime, clock: FrozenClock
) -> None:
    """Two sweeps settle whole batches at once while every member spends, places and commits
    a hold and voids an older hold whose lot expired meanwhile: each due point expires exactly
    once (the voided points return into their expired lot and expire then), matured pending
    points become available once, and every expiry entry has its event."""
    with_policy(runtime, "rolling:1")
    members = [await new_member(runtime, f"batch-race-{n}") for n in range(24)]
    old_holds = {}
    for m in members:
        await earn(runtime, m, 100)  # expires in a month
        old_holds[m] = await hold(runtime, m, 40, expires_at=clock.now() + 90 * DAY)
    clock.advance(20 * DAY)
    for m in members:
        await earn(runtime, m, 50)  # still valid after the first expires
        await earn(runtime, m, 30, available_at=clock.now() + 10 * DAY)  # pending
    clock.advance(15 * DAY)  # the first lots are due, the pending ones matured

    async def spend_20(m: int) -> None:
        await spend(runtime, m, 20)

    async def hold_and_commit_10(m: int) -> None:
        placed = await hold(runtime, m, 10)
        await ledger.commit_hold(runtime, STAFF, CommitHold(placed.id), idempotency_key=key())

    async def void_old_hold(m: int) -> None:
        await ledger.void_hold(
            runtime, STAFF, VoidHold(old_holds[m].id, "released"), idempotency_key=key()
        )

    results = await asyncio.gather(
        ledger.settle_due_accounts(runtime, batch=7),
        ledger.settle_due_accounts(runtime, batch=7),
        *(write(m) for m in members for write in (spend_20, hold_and_commit_10, void_old_hold)),
    )
    sweeps = results[:2]

    # Nothing of the first lots is left anywhere: 60 expired while held, the 40 returned by
    # the void expired after it, 100 a member in all, into the bank.
    assert await programme_balance(runtime, "bank") == 100 * len(members)
    assert sum(s.expired for s in sweeps) <= 100 * len(members)
    for m in members:
        assert await ledger.get_balance(runtime, m) == Balance(50, 0, 0, 0)  # 50 + 30 - 30
    per_lot = await _rows(
        runtime,
        "SELECT al.lot_id, sum(al.amount) AS points FROM allocations al "
        "JOIN entries e ON e.id = al.entry_id WHERE e.kind = 'expiry' GROUP BY al.lot_id",
    )
    expiry_entries = {
        row.id for row in await _rows(runtime, "SELECT id FROM entries WHERE kind = 'expiry'")
    }
    expired_events = await _rows(
        runtime,
        "SELECT (payload -> 'entry' ->> 'id')::bigint AS entry_id, payload -> 'balance' AS balance "
        "FROM events WHERE type = 'points.expired'",
    )
    available_events = await _rows(
        runtime,
        "SELECT topic, (payload ->> 'points')::int AS points FROM events "
        "WHERE type = 'points.available'",
    )
    assert len(per_lot) == len(members) and all(row.points == 100 for row in per_lot)
    assert sorted(row.entry_id for row in expired_events) == sorted(expiry_entries)
    assert all(
        set(row.balance) == {"available", "pending", "held", "debt", "total"}
        for row in expired_events
    )
    assert sorted(row.topic for row in available_events) == sorted(f"member:{m}" for m in members)
    assert all(row.points == 30 for row in available_events)
