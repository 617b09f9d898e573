"""Waking the outbox's readers after a commit, without NOTIFY in the writing transaction.

PostgreSQL serialises the commits of every transaction that sent a NOTIFY: it holds a
database-wide lock from pre-commit until the commit (WAL flush included) is done. With a NOTIFY
at each commit that wrote events, a quarter of the write path's backends queued on that lock
(docs/DECISIONS.md, "The outbox's wake leaves the writing transaction"). Instead, once a
transaction that wrote events has committed (app/db.py ``watch_commits``: one that ran an INSERT
into ``events``, or a writing server-side function's call), the process that committed it wakes
the readers itself:

* in this process, at once: each reader's :class:`asyncio.Event` (the relay leader's, the
  webhook dispatcher's) is set;
* in the others, through Redis: a message on the hub's :data:`WAKE_TOPIC` (plain pub/sub on one
  server, sharded pub/sub on a Redis Cluster, like every hub topic). The first commit after a
  quiet spell is published in the same event-loop turn; commits within ``interval`` of a
  publish share the next one (the readers gather commits for longer than that themselves).
  The message is the sender's token, so a reader ignores its own process's wakes (it had them
  at once).

A server-side function's call wakes them whether or not it wrote events (a declined or replayed
posting): a wake that finds nothing costs a reader one empty read. A wake can be lost (Redis
down, a writer outside the app, a command with no hub): the readers keep polling
(``relay_poll_seconds``, ``webhook_poll_seconds``), so delivery stays at least once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from app.db import watch_commits
from app.events.broadcast import BoundedSubscriber, EventHub, SlowSubscriber
from app.logging import get_logger

WAKE_TOPIC = "outbox:committed"
# What every statement that writes the outbox contains (SQLAlchemy's INSERT, the hand-written
# ones): the transactions that ran one wake the readers when they commit.
OUTBOX_INSERT = "INSERT INTO events ("
# A publish at most this often per process: the relay gathers a wake's commits for
# ``relay_coalesce_seconds`` (10 ms) anyway, the webhook dispatcher for longer.
PUBLISH_INTERVAL_SECONDS = 0.005

log = get_logger("app.events.wake")


class OutboxWake:
    """One process's wake: the readers in it, and the hubs that carry its wakes to others."""

    def __init__(self, interval: float = PUBLISH_INTERVAL_SECONDS) -> None:
        self.token = uuid.uuid4().hex
        self.interval = interval
        # Each reader with the event loop it waits on: a commit on another loop (a test's live
        # server runs in a thread of its own) must wake it through that loop, thread-safely.
        self.readers: dict[asyncio.Event, asyncio.AbstractEventLoop] = {}
        self.hubs: list[EventHub] = []
        self._due: asyncio.AbstractEventLoop | None = None  # a publish is scheduled on it
        self._next_publish = 0.0
        self._publishing: set[asyncio.Task[None]] = set()
        self.published = 0  # wakes sent through Redis (tests, benches)

    def committed(self) -> None:
        """A transaction of this process committed: wake its readers here and, soon, elsewhere."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a synchronous engine (migrations), maybe in another thread
            return
        for reader, owner in list(self.readers.items()):
            if owner is loop:
                reader.set()
            else:
                with suppress(RuntimeError):  # its loop closed meanwhile: nobody waits
                    owner.call_soon_threadsafe(reader.set)
        if not self.hubs or self._due is loop:
            return
        self._due = loop
        loop.call_at(max(loop.time(), self._next_publish), self._publish)

    def _publish(self) -> None:
        loop = asyncio.get_running_loop()
        self._due = None
        self._next_publish = loop.time() + self.interval
        for hub in self.hubs:
            task = loop.create_task(self._send(hub))
            self._publishing.add(task)
            task.add_done_callback(self._publishing.discard)

    async def _send(self, hub: EventHub) -> None:
        try:
            await hub.publish(WAKE_TOPIC, self.token)
            self.published += 1
        except Exception as error:  # the readers' poll finds the events
            log.warning("wake.publish_failed", error=repr(error))

    @asynccontextmanager
    async def publishing(self, hub: EventHub) -> AsyncIterator[None]:
        """Carry this process's wakes to the other processes through ``hub`` within the block."""
        self.hubs.append(hub)
        try:
            yield
        finally:
            self.hubs.remove(hub)

    @asynccontextmanager
    async def reader(self, hub: EventHub | None) -> AsyncIterator[asyncio.Event]:
        """An event set at each commit that wrote events, in any process (clear it once
        seen): this process's at once, the others' through ``hub`` (none: this process's
        only). Set on entering, and whenever the hub reconnects: a wake may have been lost
        meanwhile."""
        woken = asyncio.Event()
        woken.set()
        self.readers[woken] = asyncio.get_running_loop()
        try:
            if hub is None:
                yield woken
                return
            async with hub.subscribe(WAKE_TOPIC) as subscriber:
                listener = asyncio.create_task(self._listen(subscriber, woken))
                try:
                    yield woken
                finally:
                    listener.cancel()
                    with suppress(asyncio.CancelledError):
                        await listener
        finally:
            self.readers.pop(woken, None)

    async def _listen(self, subscriber: BoundedSubscriber, woken: asyncio.Event) -> None:
        # Another process's token, or the hub's RESYNC marker after a reconnection.
        while True:
            try:
                if (await subscriber.get()).message != self.token:
                    woken.set()
            except SlowSubscriber:  # every wake says the same: those dropped are not missed
                subscriber.resume()
                woken.set()


# The process's wake: every engine's commits call it (app/db.py).
OUTBOX_WAKE = OutboxWake()
watch_commits(OUTBOX_INSERT, OUTBOX_WAKE.committed)
