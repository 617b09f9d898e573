"""The hub's backend on a Redis Cluster: sharded pub/sub (``SPUBLISH`` / ``SSUBSCRIBE``).

Classic ``PUBLISH`` on a cluster is broadcast to every node; a sharded channel lives on the master
that owns its hash slot, like a key, so pub/sub scales with the cluster. broadcaster has no
sharded backend, and redis-py's ``ClusterPubSub`` re-routes subscriptions silently, where the hub
must know when messages may have been lost (to send :data:`RESYNC`). So, with the same promises
as :class:`app.events.broadcast.RedisPubSubBackend`:

* Publishing goes through redis-py's ``RedisCluster`` (``SPUBLISH``; a batch is one pipeline,
  which redis-py splits per master). A dead master fails the publish; the relay retries it, and
  the client finds the promoted replica.
* One :class:`_Shard` per master this process has subscribers on: its own pub/sub connection,
  ``SSUBSCRIBE`` per channel, confirmation awaited by :meth:`subscribe`, a ping when idle.
* A shard whose connection fails (its master died, a network cut) or that the server tells to
  drop a channel (``SUNSUBSCRIBE`` pushed when its slot moves) hands its channels back to the
  **router**, which refreshes the slot map (with back-off while nothing works), subscribes each
  channel on its owner now, and — once that is confirmed — delivers :data:`RESYNC` on it: its
  subscribers replay from the events table, so nothing published meanwhile is lost to them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from contextlib import suppress
from typing import Any

from broadcaster import Event
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app import metrics
from app.events.broadcast import RESYNC, HubBackend, backoff_delay
from app.logging import get_logger
from app.redisclient import cluster_credentials, open_redis

log = get_logger("app.events.sharded")


class _Shard:
    """One master's pub/sub connection and the channels it carries (owned by the backend)."""

    def __init__(self, backend: ShardedPubSubBackend, name: str, host: str, port: int) -> None:
        self.backend = backend
        self.name = name
        self.channels: set[str] = set()
        self.pubsub: PubSub | None = None
        self.closed = False
        # No silent retries on the pub/sub connection: the router must know when it dropped.
        self.client = Redis(
            host=host,
            port=port,
            decode_responses=True,
            socket_connect_timeout=2,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
            **backend.credentials,
        )
        self.task = asyncio.create_task(self._run(), name=f"jifen-shard-{name}")

    async def add(self, channel: str) -> None:
        """Carry ``channel`` (called under the backend's lock)."""
        self.channels.add(channel)
        if self.pubsub is not None:
            try:
                await self.pubsub.ssubscribe(channel)
            except Exception as exc:  # the reader notices too, and hands the channels back
                log.warning("pubsub.ssubscribe_failed", channel=channel, error=repr(exc))

    async def remove(self, channel: str) -> None:
        self.channels.discard(channel)
        if self.pubsub is not None:
            with suppress(Exception):
                await self.pubsub.sunsubscribe(channel)

    async def _run(self) -> None:
        try:
            async with self.backend.lock:
                pubsub = self.client.pubsub()
                for channel in sorted(self.channels):  # one command each: they span slots
                    await pubsub.ssubscribe(channel)
                self.pubsub = pubsub
            await self._read(pubsub)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self.closed:  # closed under its reader (no channel left here): not a failure
                return
            metrics.redis_errors.labels("pubsub").inc()
            log.warning("pubsub.shard_lost", node=self.name, error=repr(exc))
            await self.backend.shard_failed(self)

    async def _read(self, pubsub: PubSub) -> None:
        loop = asyncio.get_running_loop()
        interval = self.backend.ping_interval
        last_traffic = loop.time()
        while not self.closed:
            message = await pubsub.get_message(timeout=min(1.0, interval / 2))
            now = loop.time()
            if message is None:
                if now - last_traffic >= interval:
                    await pubsub.ping()  # a dead connection raises here, or on the next read
                    last_traffic = now
                continue
            last_traffic = now
            kind, channel = message["type"], message.get("channel")
            if not isinstance(channel, str):
                continue
            if kind == "smessage":
                self.backend.deliver(channel, message["data"])
            elif kind == "ssubscribe":
                self.backend.confirmed(self, channel)
            elif kind == "sunsubscribe" and channel in self.channels:
                # Not asked for: the slot moved to another master (resharding).
                await self.backend.channel_moved(self, channel)

    async def close(self) -> None:
        self.closed = True
        task = self.task
        if task is not asyncio.current_task():
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
        pubsub, self.pubsub = self.pubsub, None
        if pubsub is not None:
            with suppress(Exception):
                await pubsub.aclose()
        with suppress(Exception):
            await self.client.aclose()


class ShardedPubSubBackend(HubBackend):
    """A broadcaster backend on a Redis Cluster's sharded pub/sub (see the module's docstring)."""

    def __init__(
        self, url: str, *, subscribe_timeout: float = 5.0, ping_interval: float = 5.0
    ) -> None:
        self._url = url
        self._subscribe_timeout = subscribe_timeout
        self.ping_interval = ping_interval
        self.credentials = cluster_credentials(url)
        self.lock = asyncio.Lock()
        self._channels: set[str] = set()
        self._confirmed: dict[str, asyncio.Event] = {}
        self._resync: set[str] = set()  # channels that may have missed messages
        self._unrouted: set[str] = set()  # channels the router must (re)place
        self._shards: dict[str, _Shard] = {}
        self._owner: dict[str, _Shard] = {}
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._failures = 0  # shard losses since a subscription was last confirmed
        self._cluster: RedisCluster | None = None
        self._router: asyncio.Task[None] | None = None
        self._closing = False
        self.connected = asyncio.Event()  # set once the slot map is known
        # False from a failure (no slot map, a shard lost) until a subscription is confirmed.
        self.reachable = True
        self.connections = 0  # shard connections confirmed (tests, metrics)

    # -- life cycle -------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Start the router; it learns the slot map (and retries) on its own: the cluster may be
        down now."""
        client = open_redis(self._url, socket_connect_timeout=2, socket_keepalive=True)
        assert isinstance(client, RedisCluster)
        self._cluster = client
        self._router = asyncio.create_task(self._route(), name="jifen-pubsub-router")
        self._wake.set()

    async def disconnect(self) -> None:
        self._closing = True
        router, self._router = self._router, None
        if router is not None:
            while not router.done():
                router.cancel()
                await asyncio.wait({router}, timeout=1.0)
            with suppress(asyncio.CancelledError):
                await router
        for shard in list(self._shards.values()):
            await shard.close()
        self._shards.clear()
        if self._cluster is not None:
            with suppress(Exception):
                await self._cluster.aclose()

    # -- broadcaster's interface -----------------------------------------------------------------

    async def subscribe(self, group: str) -> None:
        """Subscribe and wait (bounded) until the owning master confirms. When the cluster (or
        the channel's master) cannot be reached now, return at once: :data:`RESYNC` follows the
        subscription later."""
        async with self.lock:
            confirmed = self._confirmed.setdefault(group, asyncio.Event())
            if group not in self._channels:
                self._channels.add(group)
                confirmed.clear()
                await self._place(group)
        if not self.reachable:  # do not hold the caller's replay up: RESYNC follows
            self._resync.add(group)
            return
        try:
            async with asyncio.timeout(self._subscribe_timeout):
                await confirmed.wait()
        except TimeoutError:
            self._resync.add(group)  # whenever it is confirmed, its subscribers replay
            log.warning("pubsub.subscribe_unconfirmed", channel=group)

    async def unsubscribe(self, group: str) -> None:
        async with self.lock:
            self._channels.discard(group)
            self._unrouted.discard(group)
            self._resync.discard(group)
            event = self._confirmed.pop(group, None)
            if event is not None:
                event.clear()
            shard = self._owner.pop(group, None)
            if shard is not None:
                await shard.remove(group)
                if not shard.channels:
                    self._shards.pop(shard.name, None)
                    await shard.close()

    async def publish(self, channel: str, message: Any) -> None:
        await self._client().spublish(channel, message)

    async def publish_many(self, messages: Iterable[tuple[str, str]]) -> None:
        """``SPUBLISH`` in one pipeline; redis-py sends each master its part in order, so the
        messages of one channel (one slot) keep their order."""
        async with self._client().pipeline(transaction=False) as pipe:
            for channel, message in messages:
                pipe.spublish(channel, message)
            await pipe.execute()

    async def next_published(self) -> Event:
        return await self._queue.get()

    # -- called by the shards -------------------------------------------------------------------

    def deliver(self, channel: str, message: str) -> None:
        self._queue.put_nowait(Event(channel, message))

    def confirmed(self, shard: _Shard, channel: str) -> None:
        if self._owner.get(channel) is not shard:
            return
        self._failures = 0
        self.reachable = True
        self.connections += 1
        event = self._confirmed.get(channel)
        if event is not None:
            event.set()
        if channel in self._resync:
            # Subscribed again: whatever was published while it was not is lost for its
            # subscribers, who replay from the table on this marker.
            self._resync.discard(channel)
            self._queue.put_nowait(Event(channel, RESYNC))

    async def shard_failed(self, shard: _Shard) -> None:
        async with self.lock:
            if self._shards.get(shard.name) is shard:
                del self._shards[shard.name]
            self._failures += 1
            self.reachable = False
            for channel in shard.channels:
                if self._owner.get(channel) is shard:
                    self._hand_back(channel)
            shard.channels.clear()
        await shard.close()
        self._wake.set()

    async def channel_moved(self, shard: _Shard, channel: str) -> None:
        async with self.lock:
            if self._owner.get(channel) is shard:
                shard.channels.discard(channel)
                self._hand_back(channel)
            idle = not shard.channels and self._shards.get(shard.name) is shard
            if idle:  # its master owns none of our channels now
                del self._shards[shard.name]
        self._wake.set()
        if idle:
            await shard.close()  # ends this very task (its reader called us): last thing it does

    # -- the router -----------------------------------------------------------------------------

    def _client(self) -> RedisCluster:
        if self._cluster is None:
            raise RuntimeError("the broadcast backend is not connected")
        return self._cluster

    def _hand_back(self, channel: str) -> None:
        """``channel`` has no subscription on the cluster now (call under the lock)."""
        self._owner.pop(channel, None)
        self._unrouted.add(channel)
        self._resync.add(channel)
        event = self._confirmed.get(channel)
        if event is not None:
            event.clear()

    async def _place(self, channel: str) -> None:
        """Subscribe ``channel`` on its owner if the slot map is known, else leave it to the
        router (call under the lock)."""
        if not self.connected.is_set() or self._unrouted:
            self._unrouted.add(channel)
            self._wake.set()
            return
        node = self._client().get_node_from_key(channel)
        if node is None:
            self._unrouted.add(channel)
            self._wake.set()
            return
        shard = self._shards.get(node.name)
        if shard is None:
            shard = self._shards[node.name] = _Shard(self, node.name, node.host, int(node.port))
        self._owner[channel] = shard
        await shard.add(channel)

    async def _route(self) -> None:
        attempt = 0
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            if self._failures:
                # A shard was just lost: its master may be dead and the slot map not yet
                # updated by a failover; do not hammer it.
                await asyncio.sleep(backoff_delay(self._failures))
            try:
                cluster = self._client()
                if self.connected.is_set():
                    await cluster.nodes_manager.initialize()  # a fresh slot map
                else:
                    await cluster.initialize()  # the slot map and the client's command table
                self.connected.set()
                attempt = 0
                async with self.lock:
                    waiting, self._unrouted = sorted(self._unrouted & self._channels), set()
                    for channel in waiting:
                        await self._place(channel)
                if waiting:
                    log.info("pubsub.rerouted", channels=len(waiting), shards=len(self._shards))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never die: log, back off, try again
                attempt += 1
                self.reachable = False
                metrics.redis_errors.labels("pubsub").inc()
                delay = backoff_delay(attempt)
                log.warning("pubsub.cluster_unreachable", error=repr(exc), retry_in=round(delay, 3))
                await asyncio.sleep(delay)
                self._wake.set()
