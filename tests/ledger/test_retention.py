"""Idempotency keys are forgotten after their retention, by the clock, a batch at a time, and
never by waiting on a key a write holds."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from app.clock import FrozenClock
from app.ledger import usecases as ledger
from app.ledger.commands import Earn
from app.ledger.retention import purge_idempotency_keys
from app.ledger.tables import idempotency_keys
from app.runtime import Runtime
from tests.ledger.test_service import STAFF, new_member

DAY = timedelta(days=1)


async def earn_with(rt: Runtime, member_id: int, key: str) -> int:
    entry = await ledger.earn_points(
        rt, STAFF, Earn(member_id, 10, "retention"), idempotency_key=key
    )
    return entry.id


async def keys_left(rt: Runtime) -> int:
    async with rt.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(idempotency_keys)) or 0)


async def test_a_key_is_kept_for_its_retention_then_forgotten(
    runtime: Runtime, clock: FrozenClock
) -> None:
    assert runtime.settings.idempotency_retention_days == 30
    m = await new_member(runtime)
    first = await earn_with(runtime, m, "till-7:receipt-1")

    clock.advance(29 * DAY)
    assert await purge_idempotency_keys(runtime) == {"deleted": 0}
    assert await earn_with(runtime, m, "till-7:receipt-1") == first  # still a replay
    assert (await ledger.get_balance(runtime, m)).available == 10

    clock.advance(2 * DAY)
    assert await purge_idempotency_keys(runtime) == {"deleted": 1}
    assert await keys_left(runtime) == 0
    # Forgotten: the same key is now a new request (docs/OPERATIONS.md, "Retention").
    assert await earn_with(runtime, m, "till-7:receipt-1") != first
    assert (await ledger.get_balance(runtime, m)).available == 20


async def test_only_keys_past_the_retention_go_in_batches(
    runtime: Runtime, clock: FrozenClock
) -> None:
    m = await new_member(runtime)
    for n in range(5):
        await earn_with(runtime, m, f"old-{n}")
    clock.advance(40 * DAY)
    await earn_with(runtime, m, "recent")
    assert await purge_idempotency_keys(runtime) == {"deleted": 5}
    assert await keys_left(runtime) == 1


async def test_the_purge_skips_a_key_a_write_holds_instead_of_waiting(
    runtime: Runtime, clock: FrozenClock
) -> None:
    m = await new_member(runtime)
    await earn_with(runtime, m, "held")
    await earn_with(runtime, m, "free")
    clock.advance(31 * DAY)
    async with runtime.engine.connect() as writer, writer.begin():
        await writer.execute(
            select(idempotency_keys.c.key).where(idempotency_keys.c.key == "held").with_for_update()
        )
        # A purge that waited on the writer's lock would never return while it is held.
        done = await asyncio.wait_for(purge_idempotency_keys(runtime), timeout=30)
        assert done == {"deleted": 1}
    assert await purge_idempotency_keys(runtime) == {"deleted": 1}
