"""Recording attempts in batches through one connection: many deliveries in flight, answered at
the same moment, never take more than one connection of the pool to record themselves, and every
attempt is recorded once."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.clock import FrozenClock
from app.db import create_engine, unit_of_work
from app.events.outbox import append_event, member_topic
from app.members.service import channels_of_members
from app.runtime import Runtime
from app.webhooks.dispatch import dispatch_pending
from app.webhooks.leases import Lease, lease_due
from app.webhooks.pump import Pump
from app.webhooks.recording import Settled, settle, write
from app.webhooks.schedule import Outcome, judge
from app.webhooks.tables import (
    webhook_attempts,
    webhook_endpoints,
    webhook_leases,
    webhook_messages,
)
from app.webhooks.transport import Answer, Sender
from tests.webhooks.conftest import create_endpoint, deliver, member, tuned
from tests.webhooks.receiver import Receiver, Reply

IN_FLIGHT = 40
POOL = 4  # pool_size 2 + overflow 2: the old one-transaction-per-attempt filled it


@pytest.fixture
async def small_pool(wh_runtime: Runtime) -> AsyncIterator[Runtime]:
    engine = create_engine(str(wh_runtime.settings.database_url), pool_size=POOL // 2)
    rt = tuned(
        Runtime(wh_runtime.settings, engine, wh_runtime.redis, wh_runtime.clock),
        webhook_concurrency=IN_FLIGHT,
        webhook_endpoint_concurrency=IN_FLIGHT,
        webhook_connect_timeout_seconds=5.0,
        webhook_timeout_seconds=20.0,
        webhook_lease_seconds=30.0,
    )
    try:
        yield rt
    finally:
        await engine.dispose()


@contextmanager
def peak_connections(engine: AsyncEngine) -> Iterator[list[int]]:
    """[the most connections checked out of the engine's pool at once] while inside."""
    pool = engine.sync_engine.pool
    state = {"now": 0}
    peak = [0]

    def out(*_: Any) -> None:
        state["now"] += 1
        peak[0] = max(peak[0], state["now"])

    def back(*_: Any) -> None:
        state["now"] -= 1

    event.listen(pool, "checkout", out)
    event.listen(pool, "checkin", back)
    try:
        yield peak
    finally:
        event.remove(pool, "checkout", out)
        event.remove(pool, "checkin", back)


@contextmanager
def transactions(engine: AsyncEngine) -> Iterator[list[int]]:
    """[the transactions begun on the engine] while inside."""
    begun = [0]

    def count(*_: Any) -> None:
        begun[0] += 1

    event.listen(engine.sync_engine, "begin", count)
    try:
        yield begun
    finally:
        event.remove(engine.sync_engine, "begin", count)


def all_at_once(receiver: Receiver, count: int) -> threading.Event:
    """Hold every answer until ``count`` requests are in: they all come back together."""
    release = threading.Event()

    def script(n: int, _headers: dict[str, str]) -> Reply:
        if n >= count:
            release.set()
        return Reply(hold=release)

    receiver.script = script
    return release


def arrived(receiver: Receiver, count: int) -> None:
    """Wait (in a thread) until ``count`` requests are in."""
    while len(receiver.received) < count:
        receiver.arrived.wait(1)
        receiver.arrived.clear()


async def owed(rt: Runtime, count: int) -> None:
    """``count`` messages due to the receiver's endpoint."""
    member_id = await member(rt)
    async with unit_of_work(rt.engine) as conn:
        for n in range(count):
            await append_event(conn, member_topic(member_id), "points.earned", {"n": n})
    await dispatch_pending(rt, channels_of_members)


async def test_many_deliveries_answered_together_record_through_one_connection(
    small_pool: Runtime, receiver: Receiver
) -> None:
    rt = small_pool
    receiver.secrets = [(await create_endpoint(rt, receiver.url, ["points.earned"])).secret]
    await owed(rt, IN_FLIGHT - 1)  # and member.registered is not subscribed: 39 messages
    release = all_at_once(receiver, IN_FLIGHT - 1)
    sender = Sender(rt.settings)
    try:
        with peak_connections(rt.engine) as peak:
            outcomes = await deliver(rt, sender)
    finally:
        release.set()
        await sender.aclose()

    assert outcomes == [Outcome.DELIVERED] * (IN_FLIGHT - 1)
    assert peak[0] == 1  # was POOL: each attempt its own transaction, the rest waiting
    assert len(receiver.delivered()) == IN_FLIGHT - 1
    async with rt.engine.connect() as conn:
        recorded = await conn.scalar(select(func.count()).select_from(webhook_attempts))
        delivered = await conn.scalar(
            select(func.count())
            .select_from(webhook_messages)
            .where(webhook_messages.c.status == "delivered")
        )
        leased = await conn.scalar(select(func.count()).select_from(webhook_leases))
    assert (recorded, delivered, leased) == (IN_FLIGHT - 1, IN_FLIGHT - 1, 0)


async def test_outcomes_beyond_a_batch_are_written_in_several_and_none_is_left(
    small_pool: Runtime, receiver: Receiver
) -> None:
    rt = small_pool
    created = await create_endpoint(rt, receiver.url, ["points.earned"])
    receiver.secrets = [created.secret]
    await owed(rt, 30)
    # Every other answer a 500: failures and deliveries of one endpoint in the same batches.
    release = threading.Event()
    receiver.script = lambda n, h: Reply(status=200 if n % 2 else 500, hold=release)
    sender = Sender(rt.settings)
    pump = Pump(rt, sender, max_batch=7)
    try:
        with peak_connections(rt.engine) as peak:
            outcomes = await pump.step()  # leases the 30
            await asyncio.to_thread(arrived, receiver, 30)
            release.set()
            await pump.answers()
            while pump.busy:
                outcomes += await pump.step()
    finally:
        release.set()
        await sender.aclose()

    assert sorted(outcomes) == sorted([Outcome.DELIVERED] * 15 + [Outcome.RETRY] * 15)
    assert peak[0] == 1
    assert pump.batches == 5  # 7 + 7 + 7 + 7 + 2
    async with rt.engine.connect() as conn:
        statuses: dict[str, int] = dict(
            (
                await conn.execute(
                    select(webhook_messages.c.status, func.count()).group_by(
                        webhook_messages.c.status
                    )
                )
            ).all()
        )
        recorded = await conn.scalar(select(func.count()).select_from(webhook_attempts))
        failing = await conn.scalar(select(webhook_endpoints.c.failing_since))
        leased = await conn.scalar(select(func.count()).select_from(webhook_leases))
    assert statuses == {"delivered": 15, "pending": 15}
    assert (recorded, leased) == (30, 0)
    # The endpoint's last recorded attempt decides: failing or not, as one by one.
    async with rt.engine.connect() as conn:
        last = await conn.scalar(
            select(webhook_attempts.c.outcome).order_by(webhook_attempts.c.id.desc()).limit(1)
        )
    assert (failing is None) == (last == "delivered")


async def test_a_step_records_the_answers_and_fills_their_slots_in_one_transaction(
    small_pool: Runtime, receiver: Receiver
) -> None:
    rt = tuned(small_pool, webhook_endpoint_concurrency=2)
    receiver.secrets = [(await create_endpoint(rt, receiver.url, ["points.earned"])).secret]
    await owed(rt, 4)
    sender = Sender(rt.settings)
    pump = Pump(rt, sender)
    try:
        assert await pump.step() == []  # leases the endpoint's 2
        await pump.answers()
        with peak_connections(rt.engine) as peak, transactions(rt.engine) as begun:
            # Recorded, their leases cleared, then the next 2 leased in the same transaction:
            # the answered ones do not count against the endpoint's bound any more.
            assert await pump.step() == [Outcome.DELIVERED] * 2
            assert begun[0] == 1
            assert pump.busy
            await pump.answers()
            assert await pump.step() == [Outcome.DELIVERED] * 2
    finally:
        await sender.aclose()
    assert peak[0] == 1
    assert not pump.busy
    assert sorted(r.payload["data"]["n"] for r in receiver.delivered()) == [0, 1, 2, 3]


async def test_a_lease_writes_no_new_version_of_the_message(
    wh_runtime: Runtime, receiver: Receiver
) -> None:
    # A lease stamped on the message made a new version of it and index entries that the next
    # leases walked once dead; the lease is a row of its own (migration 0037).
    rt = wh_runtime
    await create_endpoint(rt, receiver.url, ["points.earned"])
    await owed(rt, 3)
    versions = select(webhook_messages.c.id, literal_column("ctid::text")).order_by(
        webhook_messages.c.id
    )
    async with rt.engine.connect() as conn:
        before = (await conn.execute(versions)).all()
    leased = await lease_due(rt, 10)
    async with rt.engine.connect() as conn:
        after = (await conn.execute(versions)).all()
        leases = (await conn.execute(select(webhook_leases.c.message_id))).scalars().all()
    assert len(before) == len(leased) == 3
    assert after == before  # the same row versions where they were
    assert sorted(leases) == sorted(lease.message_id for lease in leased)


async def test_an_attempt_whose_lease_ran_out_and_was_taken_again_does_not_move_the_message(
    wh_runtime: Runtime, receiver: Receiver, clock: FrozenClock
) -> None:
    rt = wh_runtime
    await create_endpoint(rt, receiver.url, ["points.earned"])
    await owed(rt, 1)
    (first,) = await lease_due(rt, 10)
    assert await lease_due(rt, 10) == []  # in flight while its lease stands
    clock.advance(timedelta(seconds=rt.settings.webhook_lease_seconds + 1))
    (second,) = await lease_due(rt, 10)  # ran out: taken by another sender
    assert second.message_id == first.message_id and second.token != first.token

    def answered(lease: Lease, status: int) -> Settled:
        answer = Answer(status=status, retry_after=None, excerpt=None, error=None, duration_ms=1)
        return settle(lease, answer, judge(status, None), clock.now())

    async with unit_of_work(rt.engine) as conn:  # the first sender, late: a 500
        await write(conn, rt, [answered(first, 500)])
    async with rt.engine.connect() as conn:
        message = (await conn.execute(select(webhook_messages))).one()
        logged = await conn.scalar(select(func.count()).select_from(webhook_attempts))
        held = await conn.scalar(select(func.count()).select_from(webhook_leases))
    assert (message.status, message.attempts, logged, held) == ("pending", 0, 1, 1)
    async with unit_of_work(rt.engine) as conn:  # the lease standing: delivered
        await write(conn, rt, [answered(second, 200)])
    async with rt.engine.connect() as conn:
        message = (await conn.execute(select(webhook_messages))).one()
        held = await conn.scalar(select(func.count()).select_from(webhook_leases))
    assert (message.status, message.attempts, held) == ("delivered", 1, 0)
