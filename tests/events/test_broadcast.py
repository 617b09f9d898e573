"""Our broadcaster backend against a dedicated redis-server that the test kills and restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import unit_of_work
from app.events.broadcast import RESYNC, EventHub, RedisPubSubBackend, SlowSubscriber
from app.events.outbox import append_event
from app.events.stream import follow
from tests.redis_server import RedisServer


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.kill()


@pytest.fixture
async def hub(redis_server: RedisServer) -> AsyncIterator[EventHub]:
    hub = EventHub(RedisPubSubBackend(redis_server.url), prefix="t:", buffer_size=5)
    await hub.connect()
    yield hub
    await hub.disconnect()


async def test_subscribed_before_it_returns_and_delivers(hub: EventHub) -> None:
    async with hub.subscribe("a") as subscriber:
        # No sleep: subscribe() returned after Redis confirmed, so this publish is heard.
        await hub.publish("a", "one")
        await hub.publish_many([("b", "not for us"), ("a", "two")])
        first = await asyncio.wait_for(subscriber.get(), 2)
        second = await asyncio.wait_for(subscriber.get(), 2)
    assert (first.channel, first.message, second.message) == ("t:a", "one", "two")


async def test_after_a_redis_restart_it_resyncs_and_delivers_again(
    hub: EventHub, redis_server: RedisServer
) -> None:
    async with hub.subscribe("a") as subscriber:
        await hub.publish("a", "before")
        assert (await asyncio.wait_for(subscriber.get(), 2)).message == "before"
        redis_server.kill()
        await asyncio.sleep(0.2)
        redis_server.start()
        # The subscriber is told that it may have missed messages...
        assert (await asyncio.wait_for(subscriber.get(), 10)).message == RESYNC
        # ...and the subscription works again.
        await hub.publish("a", "after")
        assert (await asyncio.wait_for(subscriber.get(), 2)).message == "after"
    assert hub.backend.connections == 2


async def test_a_slow_subscriber_is_cut_off_and_others_are_not(hub: EventHub) -> None:
    async with hub.subscribe("a") as slow, hub.subscribe("a") as quick:
        for i in range(8):
            await hub.publish("a", str(i))
            assert (await asyncio.wait_for(quick.get(), 2)).message == str(i)
        with pytest.raises(SlowSubscriber):
            await slow.get()
    assert hub.subscriber_count() == 0


async def test_subscribing_while_redis_is_down_resyncs_once_it_is_back(
    hub: EventHub, redis_server: RedisServer
) -> None:
    redis_server.kill()
    await asyncio.sleep(0.1)
    hub.backend._subscribe_timeout = 0.5
    async with hub.subscribe("a") as subscriber:
        redis_server.start()
        assert (await asyncio.wait_for(subscriber.get(), 10)).message == RESYNC
        await hub.publish("a", "x")
        assert (await asyncio.wait_for(subscriber.get(), 2)).message == "x"


async def test_a_subscriber_gets_its_replay_at_once_while_redis_is_down(
    hub: EventHub, redis_server: RedisServer, engine: AsyncEngine
) -> None:
    async with unit_of_work(engine) as conn:
        await append_event(conn, "member:1", "test.stored", {"n": 1})
    redis_server.kill()
    # The reader notices within its ping interval (the backend has no event for "down").
    while hub.backend.connected.is_set():  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    # A confirmation that can never come must not hold the replay up: waiting for it (the
    # bounded wait, made an hour here) would outlast the test's own limit below.
    hub.backend._subscribe_timeout = 3600
    events = follow(engine, hub, "member:1")
    replayed = await asyncio.wait_for(anext(events), 30)
    assert (replayed.type, replayed.payload) == ("test.stored", {"n": 1})

    await events.aclose()


async def test_publish_many_keeps_the_order_and_survives_a_restart(
    redis_server: RedisServer,
) -> None:
    """One script call publishes the batch: each channel hears its messages in order, also
    after a restart emptied Redis's script cache."""
    backend = RedisPubSubBackend(redis_server.url)
    hub = EventHub(backend, prefix="t:", buffer_size=100)
    await hub.connect()
    await asyncio.wait_for(backend.connected.wait(), 10)  # else a RESYNC comes first
    try:
        async with hub.subscribe("a") as a, hub.subscribe("b") as b:
            batch = [("b" if i % 3 == 0 else "a", f"m{i}") for i in range(40)]
            await hub.publish_many(batch)
            heard_a = [(await asyncio.wait_for(a.get(), 2)).message for _ in range(26)]
            heard_b = [(await asyncio.wait_for(b.get(), 2)).message for _ in range(14)]
            assert heard_a == [m for topic, m in batch if topic == "a"]
            assert heard_b == [m for topic, m in batch if topic == "b"]

            redis_server.kill()
            await asyncio.sleep(0.2)
            redis_server.start()
            assert (await asyncio.wait_for(a.get(), 10)).message == RESYNC
            await hub.publish_many([("a", "after"), ("a", "restart")])
            assert (await asyncio.wait_for(a.get(), 2)).message == "after"
            assert (await asyncio.wait_for(a.get(), 2)).message == "restart"
    finally:
        await hub.disconnect()
