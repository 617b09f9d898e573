"""Each event applied exactly once whatever the commit order, and the board check that proves it.

The out-of-order commit is made deterministic with a test-only trigger that parks a writer on an
advisory lock the test holds, right after the outbox trigger drew its event id.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from app.earning import usecases as earning
from app.earning.commands import RecordPurchase
from app.events.outbox import append_event
from app.leaderboards.boards import PeriodKind, board_key, encode_element, period_of
from app.leaderboards.check import check_board
from app.leaderboards.projector import apply_pending
from app.ledger.audit import audit_ledger
from app.runtime import Runtime
from tests.earning.conftest import BASE, POS, STAFF, lines
from tests.earning.test_service import waits_for_a_lock
from tests.leaderboards.conftest import TZ, earn, new_member, period, scores

PAUSE_KEY = 4242
PAUSE_FUNCTION = f"""
    CREATE FUNCTION test_pause_after_event_id() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF current_setting('jifen.test_pause', true) = 'on' THEN
            PERFORM pg_advisory_xact_lock({PAUSE_KEY});
        END IF;
        RETURN NEW;
    END $$
"""
# Triggers fire in name order: this one after events_order_by_topic drew the event id.
PAUSE_TRIGGER = """
    CREATE TRIGGER zz_test_pause BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION test_pause_after_event_id()
"""


def impatient(runtime: Runtime) -> Runtime:
    """The runtime with a 0.3 s horizon timeout: a projector pass that gives up quickly."""
    settings = runtime.settings.model_copy(update={"leaderboard_horizon_timeout": 0.3})
    return Runtime(
        settings=settings, engine=runtime.engine, redis=runtime.redis, clock=runtime.clock
    )


@pytest.fixture
async def pause_trigger(runtime: Runtime) -> AsyncIterator[None]:
    async with runtime.engine.begin() as conn:
        await conn.execute(text(PAUSE_FUNCTION))
        await conn.execute(text(PAUSE_TRIGGER))
    try:
        yield
    finally:
        async with runtime.engine.begin() as conn:
            await conn.execute(text("DROP TRIGGER zz_test_pause ON events"))
            await conn.execute(text("DROP FUNCTION test_pause_after_event_id()"))


async def announce_first(runtime: Runtime, event: Any) -> None:
    """Write ``event`` again as the first write of a transaction, parked after its id is drawn."""
    async with runtime.engine.begin() as conn:
        await conn.execute(text("SET LOCAL jifen.test_pause = 'on'"))
        await append_event(conn, event.topic, event.type, event.payload)


async def assert_board_and_ledger_agree(runtime: Runtime) -> None:
    check = await check_board(runtime)
    assert check.ok, check.render()
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report.render()


async def test_an_event_drawn_before_its_writer_had_a_transaction_id_is_applied_once(
    runtime: Runtime, redis: Redis, pause_trigger: None
) -> None:
    slow, fast = await new_member(runtime), await new_member(runtime)
    await earn(runtime, slow, 10)
    # The outbox row of that earning is written again, by a writer whose first write it is: the
    # writer draws the event id (the smaller) and is parked before it has a transaction id.
    async with runtime.engine.begin() as conn:
        event = (
            await conn.execute(
                text(
                    "DELETE FROM events WHERE type = 'points.earned' RETURNING topic, type, payload"
                )
            )
        ).one()
    async with runtime.engine.connect() as holder:
        await holder.execute(text(f"SELECT pg_advisory_lock({PAUSE_KEY})"))
        writer = asyncio.create_task(announce_first(runtime, event))
        await waits_for_a_lock(runtime)
        await earn(runtime, fast, 20)  # committed meanwhile, with a larger event id
        passed = await apply_pending(impatient(runtime))
        await holder.execute(text(f"SELECT pg_advisory_unlock({PAUSE_KEY})"))
        await holder.commit()
        await writer
    await apply_pending(runtime)
    await apply_pending(runtime)  # again: nothing applies twice
    assert await scores(redis, period("all-time")) == {slow: 10, fast: 20}
    assert passed.applied == 0  # the pass waited for the parked writer, then gave up
    await assert_board_and_ledger_agree(runtime)


async def test_a_burst_of_concurrent_purchases_is_projected_exactly_once(
    runtime: Runtime, redis: Redis
) -> None:
    await earning.create_rule(runtime, STAFF, BASE)
    buyers = [await new_member(runtime) for _ in range(20)]
    stop = asyncio.Event()

    async def project() -> None:
        while not stop.is_set():
            await apply_pending(impatient(runtime), batch_size=7)

    async def buy(member: int) -> None:
        for n in range(5):
            await earning.record_purchase(
                runtime,
                POS,
                RecordPurchase(
                    member_id=member,
                    channel="pos",
                    order_id=f"{member}-{n}",
                    lines=lines(str(10 + n)),
                ),
            )

    projectors = [asyncio.create_task(project()) for _ in range(2)]
    await asyncio.gather(*(buy(m) for m in buyers))
    stop.set()
    await asyncio.gather(*projectors)
    await apply_pending(runtime)
    assert await scores(redis, period("all-time")) == dict.fromkeys(buyers, 60)
    await assert_board_and_ledger_agree(runtime)


async def test_the_check_reports_a_board_that_differs_from_the_ledger(
    runtime: Runtime, redis: Redis
) -> None:
    member, other = await new_member(runtime), await new_member(runtime)
    await earn(runtime, member, 30)
    await earn(runtime, other, 5)
    await apply_pending(runtime)
    assert (await check_board(runtime)).ok
    month = period_of(PeriodKind.MONTHLY, runtime.clock.now(), TZ)
    # One member's points counted twice, another's missing: what a lost or doubled event does.
    element = encode_element(member, runtime.clock.now())
    await redis.zincrby(board_key("points-earned", month), 30, element)
    await redis.delete(board_key("points-earned", period("all-time")))
    check = await check_board(runtime)
    found = {(d.period, d.member_id, d.board, d.ledger) for d in check.differences}
    assert found == {
        (month.field, member, 60, 30),
        ("all-time:all", member, 0, 30),
        ("all-time:all", other, 0, 5),
    }
    assert "DIFFERS" in check.render()
