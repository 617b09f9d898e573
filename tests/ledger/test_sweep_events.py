"""The ``points.expired`` events the expiry statement shapes in SQL are the ones the Python
path shaped: for the same data, the stored payload equals ``entry_payload`` of the entry read
back and ``balance_payload`` of the balance after settling, value for value (JSONB: the stored
text is then the same too), across held and pending points, an activation in the same batch,
an instant with and without a fraction of a second, and settle-on-write."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from app.clock import FrozenClock
from app.ledger import usecases as ledger
from app.ledger.audit import audit_ledger
from app.ledger.models import Balance
from app.ledger.payloads import balance_payload, entry_payload
from app.runtime import Runtime
from tests.ledger.test_service import DAY, earn, hold, new_member, spend
from tests.statements import counting

START = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
async def _audit_after(runtime: Runtime, clock: FrozenClock) -> AsyncIterator[None]:
    yield
    report = await audit_ledger(runtime.engine, clock.now())
    assert report.ok, report.render()


async def _events(rt: Runtime, member_id: int) -> list[Any]:
    """The member's settling events, in their order."""
    query = text(
        "SELECT id, type, payload, payload::text AS stored FROM events WHERE topic = :t "
        "AND type IN ('points.expired', 'points.available') ORDER BY id"
    ).bindparams(t=f"member:{member_id}")
    async with rt.engine.connect() as conn:
        return list((await conn.execute(query)).all())


async def _as_stored(rt: Runtime, payload: dict[str, Any]) -> str:
    """The text PostgreSQL stores for a payload shaped in Python (what the old path wrote)."""
    async with rt.engine.connect() as conn:
        stored = await conn.scalar(
            text("SELECT CAST(:p AS jsonb)::text"), {"p": json.dumps(payload)}
        )
    return str(stored)


async def _old_payload(rt: Runtime, event: Any, balance: Balance) -> dict[str, Any]:
    entry = await ledger.get_entry(rt, int(event.payload["entry"]["id"]))
    return {"entry": entry_payload(entry), "balance": balance_payload(balance)}


async def _assert_as_before(rt: Runtime, member_id: int, balance: Balance) -> list[Any]:
    events = await _events(rt, member_id)
    expired = [event for event in events if event.type == "points.expired"]
    assert len(expired) == 1
    old = await _old_payload(rt, expired[0], balance)
    assert expired[0].payload == old
    assert expired[0].stored == await _as_stored(rt, old)
    return events


@pytest.mark.parametrize("microsecond", [0, 123400])
async def test_the_sweeps_expired_events_are_the_python_paths_byte_for_byte(
    runtime: Runtime, clock: FrozenClock, microsecond: int
) -> None:
    clock.set(START)
    held = await new_member(runtime, "held")
    waiting = await new_member(runtime, "waiting")
    last_lot = START + 30 * DAY
    await earn(runtime, held, 100, expires_at=last_lot)
    await earn(runtime, waiting, 10, expires_at=last_lot)
    clock.advance(20 * DAY)
    # Points matured in the same batch as the expiry, and points still pending after it.
    await earn(runtime, held, 40, available_at=START + 35 * DAY)
    await earn(runtime, waiting, 20, available_at=START + 60 * DAY)
    await hold(runtime, held, 25)  # from the lot that expires: held points stay held

    clock.set(START + 40 * DAY + timedelta(microseconds=microsecond))
    result = await ledger.settle_due_accounts(runtime)
    assert (result.accounts, result.expired, result.activated) == (2, 75 + 10, 40)

    after_held = Balance(40, 0, 25, 0)  # whole numbers, as the Python path's accounts held
    assert await ledger.get_balance(runtime, held) == after_held
    events = await _assert_as_before(runtime, held, after_held)
    # One topic's events in their order: the expiry, then the matured points.
    assert [event.type for event in events] == ["points.expired", "points.available"]
    assert await ledger.get_balance(runtime, waiting) == Balance(0, 20, 0, 0)
    (expired,) = await _assert_as_before(runtime, waiting, Balance(0, 20, 0, 0))
    created = expired.payload["entry"]["created_at"]
    assert created == clock.now().isoformat() and created.endswith("+00:00")


async def test_a_write_settling_its_account_first_writes_the_same_event(
    runtime: Runtime, clock: FrozenClock
) -> None:
    clock.set(START)
    m = await new_member(runtime, "writer")
    await earn(runtime, m, 50, expires_at=START + 30 * DAY)
    await earn(runtime, m, 30, expires_at=START + 90 * DAY)
    clock.set(START + 40 * DAY + timedelta(microseconds=5))
    await spend(runtime, m, 10)  # settles first: the 50 expire, then the spend

    # The event's balance is the one after settling, before the spend.
    await _assert_as_before(runtime, m, Balance(30, 0, 0, 0))
    assert await ledger.get_balance(runtime, m) == Balance(20, 0, 0, 0)


async def test_a_batchs_statements_are_the_same_text_whatever_its_size(
    runtime: Runtime, clock: FrozenClock
) -> None:
    """Each of a batch's statements is one text for any number of accounts (arrays, not a
    parameter per account): built and prepared once, not compiled again for every batch."""
    clock.set(START)
    members = [await new_member(runtime, f"size-{n}") for n in range(5)]
    for m in members:
        await earn(runtime, m, 10, expires_at=START + 30 * DAY)
    clock.set(START + 40 * DAY)

    def batch_statements(statements: list[str]) -> list[str]:
        return [s for s in statements if "members" in s or "lots" in s or "accounts" in s]

    with counting(runtime) as of_two:
        assert (await ledger.settle_due_accounts(runtime, batch=2, max_batches=1)).accounts == 2
    with counting(runtime) as of_three:
        assert (await ledger.settle_due_accounts(runtime, batch=3, max_batches=1)).accounts == 3
    assert batch_statements(of_two) and batch_statements(of_two) == batch_statements(of_three)
