"""Fan-out of published events to this process's subscribers: ``broadcaster`` with our own backend.

broadcaster 0.3.1's Redis backend cannot be used as released (docs/EVENTS.md, section 3): with
redis-py 8 it wakes its listener before SUBSCRIBE has registered, so it delivers nothing, and after
a Redis restart its listener dies on ``ConnectionError`` without a word. Its subscriber queues are
unbounded. Here:

* :class:`RedisPubSubBackend` — a ``broadcaster.BroadcastBackend`` on redis-py's asyncio pub/sub.
  One reader task owns the pub/sub connection. It is always subscribed (to a private heartbeat
  channel, so the connection is in pub/sub mode before anyone subscribes), waits for the server's
  confirmation of every SUBSCRIBE (so a subscriber that replays from the table after
  ``subscribe()`` returns cannot miss a message published after its replay), pings when idle, and on
  any connection error logs, backs off (exponentially, with jitter), reconnects and
  resubscribes every channel. Messages published while it was disconnected are lost for its
  subscribers, so after every (re)connection it delivers a :data:`RESYNC` marker on each channel:
  a subscriber replays from the events table from the last id it saw.
* :class:`EventHub` — a ``broadcaster.Broadcast`` whose subscribers have a **bounded** buffer. A
  subscriber that falls more than ``buffer_size`` events behind is cut off: its next ``get()``
  raises :class:`SlowSubscriber` (the GraphQL layer ends the subscription with a clear error; the
  client resumes with the last event id it saw). The listener task never dies silently: an error is
  logged and it carries on. Topics map to Redis channels ``<prefix><topic>``: Redis pub/sub
  channels are shared by all databases of a server, so the prefix keeps deployments apart.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress
from typing import Any

from broadcaster import Broadcast, BroadcastBackend, Event
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app import metrics
from app.logging import get_logger
from app.redisclient import is_cluster

RESYNC = "\x00jifen:resync"  # the message of the marker event (never valid JSON, never an event)

log = get_logger("app.events.broadcast")


class SlowSubscriber(Exception):
    """The subscriber fell more than its buffer behind and was cut off."""


def channel_prefix(redis_url: str, configured: str | None) -> str:
    """``configured``, else ``jifen:<db>:`` from the URL (pub/sub ignores the database number);
    ``jifen:`` on a Redis Cluster, which has no database numbers."""
    if configured is not None:
        return configured
    if is_cluster(redis_url):
        return "jifen:"
    from redis.asyncio.connection import parse_url

    db = parse_url(redis_url).get("db", 0)
    return f"jifen:{db}:"


class HubBackend(BroadcastBackend):
    """What the hub needs of a backend besides broadcaster's interface: :class:`RedisPubSubBackend`
    on one server, :class:`app.events.sharded.ShardedPubSubBackend` on a Redis Cluster."""

    connected: asyncio.Event
    connections: int

    async def publish_many(self, messages: Iterable[tuple[str, str]]) -> None:
        raise NotImplementedError


# ARGV: channel, message, channel, message, … published in this order. One command instead of
# a pipeline of PUBLISHes: redis-py's pipeline (its stack, a reply parsed per command) was three
# quarters of the relay's round (docs/PERFORMANCE.md).
PUBLISH_IN_ORDER = """
for i = 1, #ARGV, 2 do
  redis.call('PUBLISH', ARGV[i], ARGV[i + 1])
end
return #ARGV / 2
"""


class RedisPubSubBackend(HubBackend):
    """A broadcaster backend that subscribes before it listens and survives Redis restarts."""

    def __init__(
        self,
        url: str,
        *,
        subscribe_timeout: float = 5.0,
        ping_interval: float = 5.0,
    ) -> None:
        self._url = url
        self._subscribe_timeout = subscribe_timeout
        self._ping_interval = ping_interval
        self._heartbeat = f"jifen:hub:{uuid.uuid4().hex}"
        self._channels: set[str] = set()
        self._confirmed: dict[str, asyncio.Event] = {}
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._lock = asyncio.Lock()
        self._pubsub: PubSub | None = None
        self._publisher: Redis | None = None
        self._publish_script: AsyncScript | None = None
        self._subscriber_client: Redis | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closing = False
        self.connected = asyncio.Event()
        self.connections = 0  # how many times the reader connected (tests, metrics)

    # -- life cycle -------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Start the reader; it connects (and reconnects) on its own, so Redis may be down now."""
        # A pooled connection broken by a Redis restart fails its next command: retry that
        # (a duplicate PUBLISH is harmless: subscribers drop duplicates by event id).
        self._publisher = Redis.from_url(
            self._url,
            socket_connect_timeout=2,
            socket_keepalive=True,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.02), 3),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        # No silent retries on the pub/sub connection: we must know when it dropped.
        self._subscriber_client = Redis.from_url(
            self._url,
            decode_responses=True,
            socket_connect_timeout=2,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
        )
        self._reader = asyncio.create_task(self._run(), name="jifen-pubsub-reader")

    async def disconnect(self) -> None:
        self._closing = True
        reader, self._reader = self._reader, None
        if reader is not None:
            # redis-py's reads may absorb a cancellation that lands inside their own time-outs:
            # cancel until the task is done (the closing flag ends its loop anyway).
            while not reader.done():
                reader.cancel()
                await asyncio.wait({reader}, timeout=1.0)
            with suppress(asyncio.CancelledError):
                await reader
        await self._drop_pubsub()
        for client in (self._publisher, self._subscriber_client):
            if client is not None:
                with suppress(Exception):
                    await client.aclose()

    # -- broadcaster's interface -----------------------------------------------------------------

    async def subscribe(self, group: str) -> None:
        """Subscribe and wait (bounded) until Redis confirms. If Redis is unreachable now, return
        at once: the caller's replay from the table need not wait for Redis, and the reader
        subscribes on reconnection and then sends :data:`RESYNC` on this channel."""
        async with self._lock:
            confirmed = self._confirmed.setdefault(group, asyncio.Event())
            if group not in self._channels:
                self._channels.add(group)
                confirmed.clear()
                if self._pubsub is None:  # down: the reconnection covers this channel
                    return
                try:
                    await self._pubsub.subscribe(group)
                except Exception as exc:  # the reader notices too, and reconnects
                    log.warning("pubsub.subscribe_failed", channel=group, error=repr(exc))
                    return
            elif self._pubsub is None:
                return
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for may swallow a cancellation
            # that arrives as the inner wait completes.
            async with asyncio.timeout(self._subscribe_timeout):
                await confirmed.wait()
        except TimeoutError:
            log.warning("pubsub.subscribe_unconfirmed", channel=group)

    async def unsubscribe(self, group: str) -> None:
        async with self._lock:
            self._channels.discard(group)
            event = self._confirmed.pop(group, None)
            if event is not None:
                event.clear()
            if self._pubsub is not None:
                with suppress(Exception):
                    await self._pubsub.unsubscribe(group)

    async def publish(self, channel: str, message: Any) -> None:
        await self._client().publish(channel, message)

    async def publish_many(self, messages: Iterable[tuple[str, str]]) -> None:
        """Publish in order, in one round trip: one script call that publishes each in turn."""
        client = self._client()
        if self._publish_script is None:
            self._publish_script = client.register_script(PUBLISH_IN_ORDER)
        args = [part for pair in messages for part in pair]
        if args:
            await self._publish_script(keys=[], args=args, client=client)

    async def next_published(self) -> Event:
        return await self._queue.get()

    # -- the reader -----------------------------------------------------------------------------

    def _client(self) -> Redis:
        if self._publisher is None:
            raise RuntimeError("the broadcast backend is not connected")
        return self._publisher

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                await self._open()
                attempt = 0
                await self._read()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never die: log, back off, reconnect
                attempt += 1
                metrics.redis_errors.labels("pubsub").inc()
                self.connected.clear()
                await self._drop_pubsub()
                delay = backoff_delay(attempt)
                log.warning(
                    "pubsub.disconnected",
                    error=repr(exc),
                    retry_in=round(delay, 3),
                    attempt=attempt,
                )
                await asyncio.sleep(delay)

    async def _open(self) -> None:
        assert self._subscriber_client is not None
        async with self._lock:
            pubsub = self._subscriber_client.pubsub()
            channels = sorted(self._channels)
            for event in self._confirmed.values():
                event.clear()
            await pubsub.subscribe(self._heartbeat, *channels)
            self._pubsub = pubsub
        self.connections += 1
        self.connected.set()
        if self.connections > 1:
            log.info("pubsub.reconnected", channels=len(channels))
        # Whatever was published while we were away is lost for our subscribers: tell them.
        for channel in channels:
            self._queue.put_nowait(Event(channel, RESYNC))

    async def _read(self) -> None:
        pubsub = self._pubsub
        assert pubsub is not None
        loop = asyncio.get_running_loop()
        last_traffic = loop.time()
        while not self._closing:
            message = await pubsub.get_message(timeout=min(1.0, self._ping_interval / 2))
            now = loop.time()
            if message is None:
                if now - last_traffic >= self._ping_interval:
                    await pubsub.ping()  # a dead connection raises here, or on the next read
                    last_traffic = now
                continue
            last_traffic = now
            kind, channel = message["type"], message.get("channel")
            if kind == "message" and isinstance(channel, str):
                self._queue.put_nowait(Event(channel, message["data"]))
            elif kind == "subscribe" and isinstance(channel, str):
                confirmed = self._confirmed.get(channel)
                if confirmed is not None and channel in self._channels:
                    confirmed.set()

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with suppress(Exception):
                await pubsub.aclose()


def backoff_delay(attempt: int, initial: float = 0.05, cap: float = 2.0) -> float:
    """Exponential back-off with jitter: 0.05 s, 0.1 s, 0.2 s … capped at ``cap`` seconds."""
    base: float = min(cap, initial * 2 ** max(attempt - 1, 0))
    return base + random.uniform(0, base / 4)


class BoundedSubscriber:
    """One subscriber's buffer: at most ``limit`` events, then it is cut off."""

    def __init__(self, topic: str, limit: int) -> None:
        self.topic = topic
        self._limit = limit
        self._items: deque[Event] = deque()
        self._ready = asyncio.Event()
        self.overflowed = False

    def offer(self, event: Event) -> None:
        if self.overflowed:
            return
        if len(self._items) >= self._limit:
            self.overflowed = True
            self._items.clear()
            log.warning("subscriber.too_slow", topic=self.topic, limit=self._limit)
            metrics.slow_consumer_closes.inc()
        else:
            self._items.append(event)
        self._ready.set()

    def pending(self) -> int:
        return len(self._items)

    def resume(self) -> None:
        """Take events again after being cut off: for a subscriber to which every message
        says the same (the outbox's wake), so that those dropped are not missed."""
        self.overflowed = False

    async def get(self) -> Event:
        """The next event (or :data:`RESYNC` marker); :class:`SlowSubscriber` once cut off."""
        while True:
            if self.overflowed:
                raise SlowSubscriber(f"more than {self._limit} events behind")
            if self._items:
                return self._items.popleft()
            self._ready.clear()
            await self._ready.wait()

    def get_nowait(self) -> Event | None:
        if self.overflowed:
            raise SlowSubscriber(f"more than {self._limit} events behind")
        return self._items.popleft() if self._items else None


class EventHub(Broadcast):
    """``broadcaster.Broadcast`` with bounded subscribers, topic prefixes and a listener that
    never dies. Use as ``async with hub.subscribe(topic) as subscriber: await subscriber.get()``.
    """

    def __init__(self, backend: HubBackend, *, prefix: str, buffer_size: int) -> None:
        super().__init__(backend=backend)
        self.backend = backend
        self.prefix = prefix
        self.buffer_size = buffer_size
        self._bounded: dict[str, set[BoundedSubscriber]] = {}

    @classmethod
    def from_settings(cls, redis_url: str, prefix: str | None, buffer_size: int) -> EventHub:
        backend: HubBackend
        if is_cluster(redis_url):
            from app.events.sharded import ShardedPubSubBackend  # it imports this module

            backend = ShardedPubSubBackend(redis_url)
        else:
            backend = RedisPubSubBackend(redis_url)
        return cls(backend, prefix=channel_prefix(redis_url, prefix), buffer_size=buffer_size)

    def channel(self, topic: str) -> str:
        return self.prefix + topic

    async def _listener(self) -> None:
        while True:
            try:
                event = await self._backend.next_published()
                for subscriber in list(self._bounded.get(event.channel, ())):
                    subscriber.offer(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("hub.listener_error")
                await asyncio.sleep(0.1)

    async def publish(self, channel: str, message: Any) -> None:
        """Publish ``message`` on ``channel`` (a topic; the prefix is added here)."""
        await self.backend.publish(self.channel(channel), message)

    async def publish_many(self, messages: Iterable[tuple[str, str]]) -> None:
        """Publish (topic, message) pairs in order, in one round trip."""
        await self.backend.publish_many((self.channel(t), m) for t, m in messages)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[BoundedSubscriber]:  # type: ignore[override]
        """Subscribe to a topic. When the block is entered Redis has confirmed the subscription
        (or is unreachable, in which case a :data:`RESYNC` marker follows the reconnection)."""
        name = self.channel(channel)
        subscriber = BoundedSubscriber(channel, self.buffer_size)
        subscribers = self._bounded.setdefault(name, set())
        subscribers.add(subscriber)
        try:
            await self.backend.subscribe(name)
            yield subscriber
        finally:
            subscribers.discard(subscriber)
            if not subscribers and self._bounded.get(name) is subscribers:
                del self._bounded[name]
                await self.backend.unsubscribe(name)

    def subscriber_count(self, topics: str = "") -> int:
        """How many subscribers the topics starting with ``topics`` have (all: also the
        process's own, as the outbox's wake)."""
        channels = self.channel(topics)
        return sum(len(subs) for name, subs in self._bounded.items() if name.startswith(channels))
