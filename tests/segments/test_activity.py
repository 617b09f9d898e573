"""The members' activity rollup against the journal from scratch: after random traffic (earns,
purchases and refunds, spends, holds, reversals of credits and debits, gifts, expiries), with
the window's start moved back and forth, events left pending while it moved, clawed-back points
written off, and rebuilt."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import uuid4

import pytest
from sqlalchemy import text

from app.analytics.rebuild import rebuild
from app.clock import FrozenClock
from app.config import NegativeBalancePolicy, Settings
from app.ledger import usecases as ledger
from app.ledger.commands import Earn, Reverse
from app.ledger.reporting import ACTIVITY_BY_MEMBER_SQL
from app.runtime import Runtime
from app.segments.activity import age_activity, apply_activity, catch_up
from tests.analytics.test_exactness import STAFF, START, Driver


@dataclass(frozen=True)
class Activity:
    last_at: datetime
    acts: int
    earned: int


_ROLLUP = text(
    "SELECT member_id, last_at, acts - aged_acts AS acts, earned - aged_earned AS earned"
    " FROM member_activity WHERE acts > aged_acts"
)
_TOP_EVENT = text("SELECT max(id) FROM events")


def key() -> str:
    return uuid4().hex


async def from_rollup(rt: Runtime, since: datetime) -> dict[int, Activity]:
    async with rt.engine.begin() as conn:
        await age_activity(conn, since)
        rows = await conn.execute(_ROLLUP)
        return {r.member_id: Activity(r.last_at, r.acts, r.earned) for r in rows}


async def from_journal(rt: Runtime, since: datetime, until: datetime) -> dict[int, Activity]:
    async with rt.engine.connect() as conn:
        rows = await conn.execute(text(ACTIVITY_BY_MEMBER_SQL), {"since": since, "until": until})
        return {r.member_id: Activity(r.last_at, r.acts, r.earned) for r in rows}


async def move_window_with_events_pending(rt: Runtime, rng: random.Random, now: datetime) -> None:
    """Apply the events but the last few, then move the window's start: the pending entries
    (and reversals of entries not pending) must come out right once applied."""
    async with rt.engine.connect() as conn:
        top = int(await conn.scalar(_TOP_EVENT) or 0)
    await apply_activity(rt, max(0, top - rng.randint(5, 30)))
    hours = rng.choice([0, 0, 2, rng.randint(0, 24 * 20)])  # 0: every entry so far aged
    async with rt.engine.begin() as conn:
        await age_activity(conn, now - timedelta(hours=hours))


@pytest.mark.parametrize("policy", list(NegativeBalancePolicy))
async def test_members_activity_equals_the_journal_for_any_window(
    settings: Settings, runtime: Runtime, clock: FrozenClock, policy: NegativeBalancePolicy
) -> None:
    rt = Runtime(
        settings=settings.model_copy(update={"negative_balance_policy": policy}),
        engine=runtime.engine,
        redis=runtime.redis,
        clock=clock,
    )
    rng = random.Random(21)
    driver = await Driver.started(rt, clock, rng)
    for round_ in range(10):
        for _ in range(25):
            await driver.step()
        clock.advance(timedelta(hours=rng.choice([1, 5, 11, 26, 24 * 9])))
        if round_ % 2 == 1 or round_ > 6:
            await move_window_with_events_pending(rt, rng, clock.now())
    await ledger.settle_due_accounts(rt)
    await catch_up(rt)
    now = clock.now()
    # Window starts before everything, inside the traffic (back and forth), after it.
    starts = [START - timedelta(days=1), now - timedelta(days=2), START + timedelta(hours=30)]
    starts += [START + timedelta(minutes=rng.randint(0, int((now - START).total_seconds() / 60)))]
    starts += [now - timedelta(minutes=1), now]
    seen: list[dict[int, Activity]] = []
    for since in starts:
        found = await from_rollup(rt, since)
        assert found == await from_journal(rt, since, now), since
        seen.append(found)
    assert len(seen[0]) >= 4 and seen[0] != seen[2] and not seen[-1]
    # Clawed-back points reached the figures (else the comparison proves little).
    async with rt.engine.connect() as conn:
        clawed = await conn.scalar(
            text("SELECT count(*) FROM entries WHERE kind = 'earn' AND reversed_amount > 0")
        )
    assert clawed
    # Rebuilt from the ledger, with the window's start where it was left: the same figures.
    await rebuild(rt)
    for since in starts[:3]:
        assert await from_rollup(rt, since) == await from_journal(rt, since, now)


async def test_the_window_moves_on_over_events_not_applied_yet(
    runtime: Runtime, clock: FrozenClock
) -> None:
    clock.set(START)
    driver = Driver(runtime, clock, random.Random(1))
    await driver.register()
    member = driver.members[0]
    await catch_up(runtime)

    async def earn_and_reverse(amount: int, taken_back: int) -> None:
        earned = await ledger.earn_points(
            runtime, STAFF, Earn(member_id=member, amount=amount, reason="t"), idempotency_key=key()
        )
        clock.advance(timedelta(hours=1))
        await ledger.reverse_entry(
            runtime,
            STAFF,
            Reverse(entry_id=earned.id, amount=taken_back, reason="refund"),
            idempotency_key=key(),
        )

    # An earning applied, its reversal not; then both not applied.
    await earn_and_reverse(100, 30)
    async with runtime.engine.connect() as conn:
        reversal_event = int(await conn.scalar(_TOP_EVENT) or 0)
    await apply_activity(runtime, reversal_event - 1)
    clock.advance(timedelta(hours=1))
    await earn_and_reverse(50, 20)
    clock.advance(timedelta(hours=1))
    now = clock.now()
    async with runtime.engine.begin() as conn:
        await age_activity(conn, now)  # everything so far is older than the window
    await catch_up(runtime)
    for since in (now, START - timedelta(hours=1), START + timedelta(minutes=90), now):
        found = await from_rollup(runtime, since)
        assert found == await from_journal(runtime, since, now), since
    assert (await from_rollup(runtime, START - timedelta(hours=1)))[member].earned == 100
