"""Sharded pub/sub and commands on a Redis Cluster, including a master that dies: its replica takes
over, the clients find it, and a subscriber that follows a topic (replay from the table on every
``RESYNC``, as the gateway does) misses nothing and sees nothing twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.db import unit_of_work
from app.events.broadcast import RESYNC, EventHub
from app.events.gateway import event_gateway
from app.events.outbox import append_event
from app.events.sharded import ShardedPubSubBackend
from app.events.stream import StoredEvent, follow
from app.mall.flash import FlashGate, Ticket, Verdict
from app.redisclient import RedisClient
from tests.redis_cluster import RedisClusterNodes

TOPICS = [f"member:{n}" for n in range(1, 31)]  # thirty channels: every master owns some


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[EventHub]:
    hub = EventHub.from_settings(settings.redis_url or "", "t:", buffer_size=100)
    assert isinstance(hub.backend, ShardedPubSubBackend)
    await hub.connect()
    yield hub
    await hub.disconnect()


async def test_sharded_channels_span_every_master_and_each_hears_only_its_own(
    hub: EventHub, redis_cluster: RedisClusterNodes
) -> None:
    owners = {redis_cluster.master_of("t:" + topic).port for topic in TOPICS}
    assert owners == set(redis_cluster.master_ports())

    async with AsyncExitStack() as stack:
        subscribers = [await stack.enter_async_context(hub.subscribe(t)) for t in TOPICS]
        # No sleep: each subscribe() returned once its master confirmed.
        await hub.publish_many([(topic, f"to {topic}") for topic in TOPICS])
        for topic, subscriber in zip(TOPICS, subscribers, strict=True):
            got = await asyncio.wait_for(subscriber.get(), 5)
            assert (got.channel, got.message) == ("t:" + topic, f"to {topic}")
            assert subscriber.get_nowait() is None


async def write(engine: AsyncEngine, topic: str, n: int) -> None:
    async with unit_of_work(engine) as conn:
        await append_event(conn, topic, "test.stored", {"n": n})


async def take(events: AsyncIterator[StoredEvent], count: int) -> list[int]:
    return [(await asyncio.wait_for(anext(events), 30)).payload["n"] for _ in range(count)]


async def test_a_master_fails_over_and_followers_lose_nothing(
    settings: Settings,
    engine: AsyncEngine,
    redis: RedisClient,
    redis_cluster: RedisClusterNodes,
) -> None:
    topic = "member:7"
    gate = FlashGate(redis)
    async with event_gateway(settings, relay=True) as hub:
        channel = hub.channel(topic)
        await gate.arm(10, 7, "ever", {}, [])
        events = follow(engine, hub, topic)
        for n in range(1, 4):
            await write(engine, topic, n)
        assert await take(events, 3) == [1, 2, 3]  # live, through the relay and the shard

        # The gate's keys and the channel live on whichever masters own their slots: kill the
        # channel's master and write on while its replica takes over.
        killed, promoted = await asyncio.to_thread(redis_cluster.fail_over, channel)
        try:
            for n in range(4, 11):
                await write(engine, topic, n)
            # Replayed (after RESYNC) or live: every event once, in order.
            assert await take(events, 7) == list(range(4, 11))
            for n in range(11, 14):
                await write(engine, topic, n)
            assert await take(events, 3) == [11, 12, 13]
            # Commands reach the new owners too (the gate may have lost its keys with the
            # master: either verdict is the gate's documented answer, never an error).
            ticket = Ticket(item_id=7, member_id=1, quantity=1, limit=0, period="ever")
            assert await gate.take(ticket) in {Verdict.TAKEN, Verdict.NOT_ARMED}
            assert redis_cluster.master_of(channel).port == promoted.port
        finally:
            await events.aclose()
            redis_cluster.restart(killed)


async def test_a_subscriber_of_a_dead_master_is_told_to_resync(
    hub: EventHub, redis_cluster: RedisClusterNodes
) -> None:
    topic = "member:11"
    async with hub.subscribe(topic) as subscriber:
        await hub.publish(topic, "before")
        assert (await asyncio.wait_for(subscriber.get(), 5)).message == "before"
        killed, _ = await asyncio.to_thread(redis_cluster.fail_over, hub.channel(topic))
        try:
            assert (await asyncio.wait_for(subscriber.get(), 30)).message == RESYNC
            await hub.publish(topic, "after")
            assert (await asyncio.wait_for(subscriber.get(), 5)).message == "after"
        finally:
            redis_cluster.restart(killed)


async def test_a_slot_moved_to_another_master_is_followed_with_a_resync(
    hub: EventHub, redis_cluster: RedisClusterNodes
) -> None:
    topic = "member:12"
    channel = hub.channel(topic)
    async with hub.subscribe(topic) as subscriber:
        await hub.publish(topic, "before")
        assert (await asyncio.wait_for(subscriber.get(), 5)).message == "before"
        source = redis_cluster.master_of(channel)
        others = [p for p in redis_cluster.master_ports() if p != source.port]
        target = redis_cluster.node(others[0])
        # Resharding: the source drops the slot's shard channels (SUNSUBSCRIBE, pushed).
        await asyncio.to_thread(redis_cluster.move_slot, channel, target)
        try:
            assert (await asyncio.wait_for(subscriber.get(), 30)).message == RESYNC
            await hub.publish(topic, "after")
            assert (await asyncio.wait_for(subscriber.get(), 5)).message == "after"
        finally:
            await asyncio.to_thread(redis_cluster.move_slot, channel, source)
