"""The outbox's wake (app/events/wake.py): every path that writes events brings the relay round
at once without a NOTIFY, another process's commit through Redis, and a writer outside the app
through the poll."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from contextlib import suppress

import asyncpg
import pytest
from sqlalchemy import text

from app.db import unit_of_work
from app.events.outbox import append_event, member_topic
from app.events.relay import Relay, asyncpg_dsn
from app.events.wake import OutboxWake
from app.ledger.commands import Earn
from app.ledger.models import Actor
from app.ledger.usecases import earn_points
from app.members.usecases import register_member
from app.runtime import Runtime
from tests.eventually import eventually
from tests.outbox import SLOW_POLL_SECONDS, hub_of_its_own, published_promptly, slow_polling_relay

STAFF = Actor(principal="staff:alice", kind="staff")
RAW_INSERT = (
    "INSERT INTO events (member_id, topic, type, payload) VALUES (1, 'member:1', 't', '{}')"
)


async def _unit_of_work(rt: Runtime) -> None:
    async with unit_of_work(rt.engine) as conn:
        await append_event(conn, member_topic(1), "test.event", {"n": 1})


async def _hand_written_insert(rt: Runtime) -> None:
    async with rt.engine.begin() as conn:  # as the expiry alerts and reminders write theirs
        await conn.execute(text(RAW_INSERT))


async def _own_commit(rt: Runtime) -> None:
    async with rt.engine.connect() as conn:
        await conn.execute(text(RAW_INSERT))
        await conn.commit()


async def _earn(rt: Runtime, batch_max: int) -> None:
    tuned = Runtime(
        rt.settings.model_copy(update={"earn_batch_max": batch_max}), rt.engine, rt.redis, rt.clock
    )
    member = (await register_member(tuned, channel="shop", external_ref="w-1")).member.id
    await published_promptly(rt)  # the registration's own events
    await earn_points(
        tuned, STAFF, Earn(member_id=member, amount=5, reason="t"), idempotency_key="k-1"
    )


WRITERS: dict[str, Callable[[Runtime], Awaitable[None]]] = {
    "unit of work": _unit_of_work,
    "hand-written INSERT": _hand_written_insert,
    "a connection's own commit": _own_commit,
    "earn alone, one statement": lambda rt: _earn(rt, 0),
    "earn in a group commit": lambda rt: _earn(rt, 32),
}


@pytest.mark.parametrize("path", WRITERS)
async def test_an_event_each_path_writes_is_published_at_once(runtime: Runtime, path: str) -> None:
    async with slow_polling_relay(runtime):
        await WRITERS[path](runtime)
        await published_promptly(runtime)


async def test_the_outbox_sends_no_notify(runtime: Runtime) -> None:
    dsn = asyncpg_dsn(runtime.settings.database_url or "")
    listener = await asyncpg.connect(dsn)
    heard: list[str] = []
    try:
        await listener.add_listener("jifen_events", lambda *args: heard.append(args[-1]))
        await _unit_of_work(runtime)
        await _hand_written_insert(runtime)
        # Notifications arrive in commit order: once this one is heard, any the writes sent
        # would have been heard before it.
        async with runtime.engine.begin() as conn:
            await conn.execute(text("SELECT pg_notify('jifen_events', 'after the writes')"))
        await eventually(lambda: heard)
        triggers = await listener.fetch(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'events'::regclass AND NOT tgisinternal"
        )
    finally:
        await listener.close()
    assert heard == ["after the writes"]
    assert "events_notify_relay" not in {row["tgname"] for row in triggers}


async def test_another_process_commit_wakes_the_relay_through_redis(runtime: Runtime) -> None:
    # The relay hears only Redis (a wake of its own, no commit of this process reaches it); the
    # writer is another process: its own wake, its own hub on the same channels.
    async with slow_polling_relay(runtime, wake=OutboxWake()) as relay:
        writer = OutboxWake()
        async with hub_of_its_own(runtime.settings) as hub, writer.publishing(hub):
            hub.prefix = relay.hub.prefix
            await _raw_insert(runtime)  # nothing of this process sees it
            writer.committed()
            await published_promptly(runtime)
    assert writer.published == 1


async def test_a_writer_outside_the_app_is_published_by_the_poll(runtime: Runtime) -> None:
    async with hub_of_its_own(runtime.settings) as hub:
        relay = Relay(runtime.settings.database_url or "", hub, poll_seconds=0.2, wake=OutboxWake())
        task = asyncio.create_task(relay.run())
        try:
            await eventually(lambda: relay.is_leader)
            await _raw_insert(runtime)
            await published_promptly(runtime)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert relay.stats.published == 1


async def test_the_wakes_of_one_turn_are_one_publish(runtime: Runtime) -> None:
    writer = OutboxWake(interval=SLOW_POLL_SECONDS)
    async with hub_of_its_own(runtime.settings) as hub, writer.publishing(hub):
        for _ in range(100):
            writer.committed()
        await eventually(lambda: writer.published == 1)
        for _ in range(100):  # within the interval: one more publish, when it is over
            writer.committed()
        await asyncio.sleep(0.1)
    assert writer.published == 1


async def _raw_insert(rt: Runtime) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(rt.settings.database_url or ""))
    try:
        await conn.execute(RAW_INSERT)
    finally:
        await conn.close()


async def test_a_commit_on_one_loop_wakes_a_reader_waiting_on_another_threads_loop() -> None:
    """A test's live server runs its own loop in a thread: a commit on the test's loop must
    wake that loop (an asyncio.Event set from a foreign thread would not wake its selector)."""
    wake = OutboxWake()
    ready, woken = threading.Event(), threading.Event()

    async def read() -> None:
        async with wake.reader(None) as event:
            event.clear()
            ready.set()
            # Long enough that only the wake, not this timeout, can end the wait in time.
            with suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=30)
            if event.is_set():
                woken.set()

    thread = threading.Thread(target=asyncio.run, args=(read(),), daemon=True)
    thread.start()
    assert await asyncio.to_thread(ready.wait, 10)
    wake.committed()
    assert await asyncio.to_thread(woken.wait, 10), "the other loop's reader was not woken"
    await asyncio.to_thread(thread.join, 10)
