"""The relay on the real database and Redis: one leader, id order, marking, fail-over, retention;
and the outbox's per-topic commit order (migration 0002)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.events.broadcast import EventHub
from app.events.outbox import SIGNAL_PREFIX, append_event
from app.events.relay import Relay, asyncpg_dsn
from tests.eventually import eventually

# A raw insert of one event (topic, member_id), as a writer outside the app would send it.
INSERT_RETURNING_ID = (
    "INSERT INTO events (topic, member_id, type, payload) VALUES ($1, $2, 't', '{}') RETURNING id"
)


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[EventHub]:
    # A prefix of its own: nothing else on this Redis server hears these channels.
    hub = EventHub.from_settings(settings.redis_url or "", f"test:{uuid.uuid4().hex}:", 100)
    await hub.connect()
    yield hub
    await hub.disconnect()


@pytest.fixture
async def published(hub: EventHub, settings: Settings) -> AsyncIterator[list[dict[str, Any]]]:
    """Every message the relay publishes under the hub's prefix, in the order Redis delivered."""
    received: list[dict[str, Any]] = []
    client = Redis.from_url(settings.redis_url or "", decode_responses=True)
    pubsub = client.pubsub()
    await pubsub.psubscribe(hub.prefix + "*")

    async def read() -> None:
        async for message in pubsub.listen():
            if message["type"] == "pmessage":
                received.append(json.loads(message["data"]))

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.05)
    yield received
    reader.cancel()
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    await client.aclose()


async def append(engine: AsyncEngine, topic: str, n: int) -> None:
    async with engine.begin() as conn:
        for i in range(n):
            await append_event(conn, topic, "test.event", {"n": i})


async def unpublished(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(text("SELECT count(*) FROM events WHERE published_at IS NULL"))
    return int(count or 0)


async def all_published(engine: AsyncEngine) -> bool:
    return await unpublished(engine) == 0


def relay_of(settings: Settings, hub: EventHub, name: str, **kwargs: Any) -> Relay:
    return Relay(settings.database_url or "", hub, poll_seconds=0.1, name=name, **kwargs)


async def test_one_leader_publishes_everything_once_in_order_and_marks_it(
    settings: Settings, engine: AsyncEngine, hub: EventHub, published: list[dict[str, Any]]
) -> None:
    relays = [relay_of(settings, hub, f"r{i}", batch_size=7) for i in range(2)]
    tasks = [asyncio.create_task(relay.run()) for relay in relays]
    try:
        await eventually(lambda: any(r.is_leader for r in relays))
        for i in range(5):
            await append(engine, f"member:{i % 2}", 10)
        await eventually(lambda: len(published) >= 50)
        await eventually(lambda: all_published(engine))
        await asyncio.sleep(0.2)
        assert sum(r.is_leader for r in relays) == 1
        assert [r.stats.published for r in relays if not r.is_leader] == [0]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    ids = [m["id"] for m in published]
    assert ids == sorted(ids) and len(set(ids)) == 50
    first = published[0]
    assert set(first) == {"id", "topic", "type", "payload", "created_at"}
    assert first["type"] == "test.event" and first["payload"] == {"n": 0}


async def test_the_standby_takes_over_when_the_leader_goes(
    settings: Settings, engine: AsyncEngine, hub: EventHub, published: list[dict[str, Any]]
) -> None:
    first, second = relay_of(settings, hub, "first"), relay_of(settings, hub, "second")
    first_task = asyncio.create_task(first.run())
    await eventually(lambda: first.is_leader)
    second_task = asyncio.create_task(second.run())
    try:
        await append(engine, "member:1", 3)
        await eventually(lambda: len(published) == 3)
        await eventually(lambda: all_published(engine))  # marked, not only sent
        first_task.cancel()  # its connection closes; PostgreSQL releases the lock
        await asyncio.gather(first_task, return_exceptions=True)
        await eventually(lambda: second.is_leader)
        await append(engine, "member:1", 2)
        await eventually(lambda: len(published) == 5)
        await eventually(lambda: all_published(engine))  # stats count marked events
        assert second.stats.published == 2
    finally:
        second_task.cancel()
        await asyncio.gather(second_task, return_exceptions=True)


async def test_a_commit_in_this_process_wakes_the_relay_long_before_its_poll(
    settings: Settings, engine: AsyncEngine, hub: EventHub, published: list[dict[str, Any]]
) -> None:
    relay = Relay(settings.database_url or "", hub, poll_seconds=30, name="slow-poll")
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: relay.is_leader)
        await asyncio.sleep(0.1)  # the first (empty) round is done; now it waits up to 30 s
        await append(engine, "member:1", 1)
        await eventually(lambda: len(published) == 1, within=2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_commits_close_together_share_one_round_of_the_relay(
    settings: Settings, engine: AsyncEngine, hub: EventHub, published: list[dict[str, Any]]
) -> None:
    relay = Relay(
        settings.database_url or "", hub, poll_seconds=30, coalesce_seconds=1.0, name="coalescing"
    )
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: relay.is_leader and relay.stats.rounds == 1)
        await asyncio.sleep(0.1)  # the first (empty) round is done; now it waits for a wake
        for _ in range(10):  # ten commits, each a wake, as ten check-ins
            await append(engine, "member:1", 1)
            await asyncio.sleep(0.01)
        await eventually(lambda: len(published) == 10, within=5)
        # The first commit's wake was served a second later, with the nine behind it.
        assert relay.stats.rounds - 1 <= 2, relay.stats
        assert [m["id"] for m in published] == sorted(m["id"] for m in published)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_retention_deletes_only_old_published_events(
    settings: Settings, engine: AsyncEngine, hub: EventHub
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                """INSERT INTO events (member_id, topic, type, payload, created_at, published_at)
                   SELECT 1, 'member:1', 'old', '{}', now() - interval '100 hours',
                          CASE WHEN n <= 2500 THEN now() END
                   FROM generate_series(1, 2600) AS n"""
            )
        )
        await append_event(conn, "member:1", "recent", {})
    relay = relay_of(settings, hub, "purger", retention=timedelta(hours=72))
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url or ""))
    try:
        last_due = await conn.fetchval("SELECT max(id) FROM events WHERE published_at IS NOT NULL")
        assert await relay.purge(conn) == 2500
        left = await conn.fetch("SELECT type, published_at IS NULL AS pending FROM events")
        # The purge mark: the greatest id deleted.
        assert await conn.fetchval("SELECT purged_through FROM events_purge_mark") == last_due
    finally:
        await conn.close()
    assert sorted((row["type"], row["pending"]) for row in left) == [
        *[("old", True)] * 100,
        ("recent", True),
    ]


async def test_within_a_topic_ids_follow_commit_order(settings: Settings) -> None:
    """A transaction that inserts into a topic later gets a larger id, even if another
    transaction drew its id earlier: migration 0002 draws the id under the topic's lock."""
    dsn = asyncpg_dsn(settings.database_url or "")
    first, second = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    insert = INSERT_RETURNING_ID
    try:
        async with first.transaction():
            first_id = await first.fetchval(insert, "member:7", 7)
            # The second writer of the same topic waits for the first's commit.
            second_insert = asyncio.create_task(second.fetchval(insert, "member:7", 7))
            await asyncio.sleep(0.2)
            assert not second_insert.done()
            # Another topic is not held up (bounded: were it held up, it would wait for this
            # very transaction, and the test would hang instead of failing).
            other = await asyncio.wait_for(second_insert_other(dsn), 5)
            assert other > first_id
        second_id = await asyncio.wait_for(second_insert, 5)
        assert second_id > other > first_id
    finally:
        await first.close()
        await second.close()


async def test_writers_of_a_signal_topic_do_not_wait_for_each_other(settings: Settings) -> None:
    """A ``signal:`` topic (its subscribers re-read state) takes no topic lock (migration 0008):
    a second writer goes on while the first is still open; an ordered topic's waits."""
    dsn = asyncpg_dsn(settings.database_url or "")
    first, second = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    insert = INSERT_RETURNING_ID
    topic = f"{SIGNAL_PREFIX}challenge:1"
    try:
        async with first.transaction():
            await first.fetchval(insert, topic, 0)
            await first.fetchval(insert, "member:9", 9)
            assert await asyncio.wait_for(second.fetchval(insert, topic, 0), 5) > 0
            ordered = asyncio.create_task(second.fetchval(insert, "member:9", 9))
            done, _ = await asyncio.wait({ordered}, timeout=0.3)
            assert not done  # the ordered topic still waits for the first's commit
        await asyncio.wait_for(ordered, 5)
    finally:
        await first.close()
        await second.close()


async def second_insert_other(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        value: int = await conn.fetchval(INSERT_RETURNING_ID, "member:8", 8)
        return value
    finally:
        await conn.close()


class FlakyHub:
    """The hub, but its first ``failures`` publications fail as when Redis is unreachable."""

    def __init__(self, hub: EventHub, failures: int) -> None:
        self.hub, self.failures, self.calls = hub, failures, 0
        self.subscribe = hub.subscribe  # the wake's subscription (app/events/wake.py) is fine

    async def publish_many(self, messages: list[tuple[str, str]]) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("Redis is away")
        await self.hub.publish_many(messages)


async def test_a_redis_outage_is_retried_and_every_event_published_once_in_order(
    settings: Settings, engine: AsyncEngine, hub: EventHub, published: list[dict[str, Any]]
) -> None:
    flaky = FlakyHub(hub, failures=3)
    relay = relay_of(settings, flaky, "flaky")  # type: ignore[arg-type]
    await append(engine, "member:7", 4)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: all_published(engine))
        await append(engine, "member:7", 2)  # after the outage: the first attempt goes through
        await eventually(lambda: all_published(engine))
        await eventually(lambda: len(published) >= 6)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [m["payload"]["n"] for m in published] == [0, 1, 2, 3, 0, 1]
    ids = [m["id"] for m in published]
    assert ids == sorted(ids) and len(set(ids)) == 6
    assert flaky.calls == 3 + 2  # three failures, the batch once, the later batch once
    assert relay.stats.published == 6
