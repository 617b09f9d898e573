"""The paced expiry sweep (app/ledger/pacing.py) with the test clock, and the year-end clearing
(年底清零) through it. Time is the test's: the sweep's sleep advances the frozen clock, so the
budget is checked exactly and nothing waits for real.

Every test ends with the ledger audit passing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from app.clock import FrozenClock
from app.config import Settings
from app.ledger import usecases as ledger
from app.ledger.audit import audit_ledger
from app.ledger.models import Balance
from app.ledger.pacing import TICK
from app.runtime import Runtime
from tests.ledger.test_service import DAY, earn, new_member, programme_balance, spend
from tests.ledger.test_sweep import _rows, with_policy

LOT = 10  # points in every lot these tests earn: the bank's points over LOT are lots expired


@pytest.fixture(autouse=True)
async def _audit_after(runtime: Runtime, clock: FrozenClock) -> AsyncIterator[None]:
    yield
    report = await audit_ledger(runtime.engine, clock.now())
    assert report.ok, report.render()


class SweepTime:
    """The sweep's sleep: moves the frozen clock, and after each wait checks what the sweep
    has expired so far against the budget's allowance for the time gone."""

    def __init__(self, runtime: Runtime, clock: FrozenClock, lots_per_second: int) -> None:
        self.runtime, self.clock, self.budget = runtime, clock, lots_per_second
        self.started = clock.now()
        self.waits: list[float] = []

    def elapsed(self) -> float:
        return (self.clock.now() - self.started).total_seconds()

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(timedelta(seconds=seconds))
        expired = await programme_balance(self.runtime, "bank") // LOT
        assert expired <= self.budget * self.elapsed() + 1e-6, (expired, self.elapsed())


async def members_with_due_lots(rt: Runtime, clock: FrozenClock, members: int, due: int) -> None:
    with_policy(rt, "rolling:1")
    for n in range(members):
        m = await new_member(rt, f"paced-{n}")
        for _ in range(due):
            await earn(rt, m, LOT)
    clock.advance(40 * DAY)  # every lot is due


async def test_a_paced_sweep_keeps_to_its_budget_by_the_clock(
    runtime: Runtime, clock: FrozenClock
) -> None:
    await members_with_due_lots(runtime, clock, members=30, due=4)  # 120 lots
    time = SweepTime(runtime, clock, lots_per_second=100)

    result = await ledger.settle_due_accounts(
        runtime, batch=1000, lots_per_second=100, sleep=time.sleep
    )

    assert (result.accounts, result.expired_lots) == (30, 120)
    # Never ahead of the budget (checked at every wait) and not idle either: the clock moved by
    # the budget's time for every lot but the last batch's (no wait after the last).
    assert (120 - 100 * TICK.total_seconds()) / 100 <= time.elapsed() <= 120 / 100 + 1e-6
    # Small batches, not bursts: each carries a tick of the budget at most (25 lots here: the
    # first of 2 accounts, guessing 10 lots each, then 6 accounts of 4 lots).
    assert result.batches == 6
    assert max(time.waits) <= TICK.total_seconds() + 1e-9


async def test_an_unpaced_sweep_never_waits(runtime: Runtime, clock: FrozenClock) -> None:
    await members_with_due_lots(runtime, clock, members=6, due=2)
    time = SweepTime(runtime, clock, lots_per_second=0)

    result = await ledger.settle_due_accounts(runtime, batch=4, lots_per_second=0, sleep=time.sleep)

    assert (result.expired_lots, result.batches) == (12, 2)
    assert time.waits == []


async def test_a_sweep_slower_than_its_budget_does_not_burst_to_catch_up(
    runtime: Runtime, clock: FrozenClock
) -> None:
    """A batch that took long (a loaded box: here the clock jumps a minute during the first
    wait) earns at most one tick of credit: the next batches still wait their budget's time."""
    await members_with_due_lots(runtime, clock, members=40, due=1)
    waits: list[float] = []

    async def stalled_once(seconds: float) -> None:
        waits.append(seconds)
        stall = timedelta(minutes=1) if len(waits) == 1 else timedelta(0)
        clock.advance(timedelta(seconds=seconds) + stall)

    await ledger.settle_due_accounts(runtime, batch=1000, lots_per_second=40, sleep=stalled_once)

    # At 40 lots a second a tick is 10 lots: a first batch of one account (guessing 10 lots),
    # then batches of 10 accounts, 0.25 s each. After the stall the second batch spends the tick
    # of credit (no wait); the third and fourth wait their 0.25 s again, where a schedule counted
    # from the start would owe the sweep a minute and never wait again.
    assert waits == [pytest.approx(0.025), pytest.approx(0.25), pytest.approx(0.25)]


async def test_a_clock_stepped_back_does_not_stall_the_sweep(
    runtime: Runtime, clock: FrozenClock
) -> None:
    """The wall clock stepped back an hour (NTP) during a wait: the next waits are still each
    batch's cost, not the hour."""
    await members_with_due_lots(runtime, clock, members=25, due=1)
    waits: list[float] = []

    async def stepped_back_once(seconds: float) -> None:
        waits.append(seconds)
        step = timedelta(hours=1) if len(waits) == 1 else timedelta(0)
        clock.advance(timedelta(seconds=seconds) - step)

    await ledger.settle_due_accounts(
        runtime, batch=1000, lots_per_second=40, sleep=stepped_back_once
    )

    assert waits == [pytest.approx(0.025), pytest.approx(0.25), pytest.approx(0.25)]


@pytest.mark.parametrize(
    ("value", "refused"),
    [(-1, True), (50, True), (99, True), ("fast", True), (0, False), (100, False), (20_000, False)],
)
def test_the_sweep_budget_setting_refuses_what_means_nothing(value: object, refused: bool) -> None:
    if refused:
        with pytest.raises(ValidationError, match="expiry_sweep_lots_per_second"):
            Settings(expiry_sweep_lots_per_second=value, _env_file=None)  # type: ignore[call-arg]
    else:
        settings = Settings(expiry_sweep_lots_per_second=value, _env_file=None)  # type: ignore[call-arg]
        assert settings.expiry_sweep_lots_per_second == value


async def test_year_end_clearing_paced_racing_earns_and_spends_is_exact(
    runtime: Runtime, clock: FrozenClock
) -> None:
    """年底清零 (year_end:1): every member's points of 2026 expire at 2028-01-01 00:00
    business-local; the paced sweep clears them in small batches while members earn and spend.
    Every 2026 lot is cleared exactly once and whole (what was left of it), the 2027 lots stay,
    the balances and the bank are exact."""
    with_policy(runtime, "year_end")
    clock.set(datetime(2026, 6, 1, 2, 0, tzinfo=UTC))
    members = [await new_member(runtime, f"year-end-{n}") for n in range(20)]
    for m in members:
        await earn(runtime, m, LOT)  # two lots of 2026
        await earn(runtime, m, LOT)
    await spend(runtime, members[0], 15)  # a lot and a half of 2026 spent: 5 left to clear
    clock.set(datetime(2027, 6, 1, 2, 0, tzinfo=UTC))
    for m in members:
        await earn(runtime, m, 7)  # 2027's: valid through 2028-12-31
    clock.set(datetime(2027, 12, 31, 16, 0, tzinfo=UTC))  # 2028-01-01 00:00 in Shanghai

    async def earns_and_spends() -> None:
        for m in members[::2]:
            await earn(runtime, m, 3)  # earned on 2028-01-01: valid through 2029-12-31
            await spend(runtime, m, 2)  # from the 2027 lot: the 2026 ones are gone

    async def yielding(seconds: float) -> None:
        clock.advance(timedelta(seconds=seconds))
        await asyncio.sleep(0)  # let the members' writes in between batches

    result, _ = await asyncio.gather(
        ledger.settle_due_accounts(runtime, batch=1000, lots_per_second=100, sleep=yielding),
        earns_and_spends(),
    )

    per_lot = await _rows(
        runtime,
        "SELECT al.lot_id, count(*) AS times, sum(al.amount) AS points, min(l.amount) AS amount "
        "FROM allocations al JOIN entries e ON e.id = al.entry_id JOIN lots l ON l.id = al.lot_id "
        "WHERE e.kind = 'expiry' GROUP BY al.lot_id",
    )
    assert len(per_lot) == 2 * len(members) - 1  # members[0]'s first lot was spent whole
    assert all(row.times == 1 and row.amount == LOT for row in per_lot)
    assert sum(row.points for row in per_lot) == 2 * LOT * len(members) - 15
    assert await programme_balance(runtime, "bank") == 2 * LOT * len(members) - 15
    assert result.expired <= 2 * LOT * len(members) - 15  # the rest: the writes' own settles
    for n, m in enumerate(members):
        assert await ledger.get_balance(runtime, m) == Balance(
            7 + (1 if n % 2 == 0 else 0), 0, 0, 0
        )
    assert (await ledger.settle_due_accounts(runtime)).accounts == 0
