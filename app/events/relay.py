"""The outbox relay: committed events → Redis, through ``broadcaster`` (our :class:`EventHub`).

Every process may run a :class:`Relay` (each ``jifen serve`` worker and ``jifen worker`` do); one of
them leads. The leader holds a session-level advisory lock on a dedicated PostgreSQL connection;
the others keep trying every ``poll_seconds`` and take over within about that long after the
leader's connection goes (a crash or a kill closes it, and PostgreSQL releases the lock).

The leader wakes at each commit that wrote events (app/events/wake.py: at once for this process's,
through Redis for the others') and polls every ``poll_seconds`` as a fallback (a writer outside
the app, a wake lost with Redis). A wake is served ``coalesce_seconds`` later, so that the
commits close behind it share its round: under check-ins each commit woke a round of its own
(the unpublished read, a Redis pipeline, the mark), 1.2 to 1.5 events a round
(docs/PERFORMANCE.md). Each round publishes the unpublished events in id order, a batch at a
time, to the channel of their topic (a pipeline: one round trip), and then marks the batch
published. Delivery is at least once: a crash between publishing and marking publishes the batch
again, and subscribers drop duplicates by id.

Outages: when Redis is unreachable the leader retries the batch with exponential back-off (tenacity)
and keeps its lock; when PostgreSQL is, it reconnects with back-off and competes for the lock again.

Retention: every ``retention_every`` seconds the leader deletes published events older than
``retention`` in small batches, oldest first, and records the greatest id it deleted in
``events_purge_mark`` (the projectors rebuild when it passed their cursor).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
from redis.exceptions import RedisError
from sqlalchemy.engine import make_url
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from app import metrics
from app.events.broadcast import EventHub, backoff_delay
from app.events.wake import OUTBOX_WAKE, OutboxWake
from app.logging import get_logger

# pg_try_advisory_lock(int, int): a key space of its own (the topic locks use the bigint form).
LEADER_LOCK = (0x4A494645, 1)  # "JIFE", relay #1 (relay sharding by topic would use 2, 3, …)
REDIS_OUTAGE = (RedisError, OSError)
PURGE_BATCH = 1_000
PURGE_ROUNDS = 50  # at most this many batches per purge, so that publishing never waits long

log = get_logger("app.events.relay")

SELECT_UNPUBLISHED = """
    SELECT id, topic, type, payload::text AS payload, created_at
    FROM events WHERE published_at IS NULL ORDER BY id LIMIT $1
"""
MARK_PUBLISHED = "UPDATE events SET published_at = now() WHERE id = ANY($1::bigint[])"
# The oldest rows first, through the primary key: a bounded scan even when nothing is due. The
# same statement raises the purge mark to the greatest id it deleted (the projectors read it to
# tell a purge past their cursor from a rolled-back id); how many rows it deleted.
PURGE = """
    WITH deleted AS (
        DELETE FROM events WHERE id IN (
            SELECT id
            FROM (SELECT id, created_at, published_at FROM events ORDER BY id LIMIT $1) head
            WHERE published_at IS NOT NULL AND created_at < now() - make_interval(secs => $2)
        )
        RETURNING id
    ), mark AS (
        INSERT INTO events_purge_mark AS m (id, purged_through)
        SELECT true, max(id) FROM deleted HAVING count(*) > 0
        ON CONFLICT (id) DO UPDATE
        SET purged_through = greatest(m.purged_through, excluded.purged_through)
    )
    SELECT count(*) FROM deleted
"""


def asyncpg_dsn(database_url: str) -> str:
    """SQLAlchemy's ``postgresql+asyncpg://…`` URL as a DSN asyncpg's ``connect`` accepts."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def event_message(row: asyncpg.Record | dict[str, Any]) -> str:
    """What subscribers receive: JSON with id, topic, type, payload and created_at."""
    payload = row["payload"]
    payload_json = payload if isinstance(payload, str) else json.dumps(payload)
    return (
        f'{{"id":{int(row["id"])},"topic":{json.dumps(row["topic"])},'
        f'"type":{json.dumps(row["type"])},"created_at":"{row["created_at"].isoformat()}",'
        f'"payload":{payload_json}}}'
    )


@dataclass
class RelayStats:
    published: int = 0
    rounds: int = 0  # wakes served: published / rounds is what a round costs spread over
    purged: int = 0
    terms: int = 0  # how many times this relay became the leader


class Relay:
    def __init__(
        self,
        database_url: str,
        hub: EventHub,
        *,
        poll_seconds: float = 1.0,
        batch_size: int = 500,
        retention: timedelta = timedelta(hours=72),
        retention_every: float = 60.0,
        coalesce_seconds: float = 0.01,
        name: str = "relay",
        wake: OutboxWake = OUTBOX_WAKE,
    ) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.hub = hub
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.retention = retention
        self.retention_every = retention_every
        self.coalesce_seconds = coalesce_seconds
        self.wake = wake
        self.stats = RelayStats()
        self.is_leader = False
        self.leader_gauge = metrics.relay_leader.labels(relay=name)
        self.leader_gauge.set(0)  # a standby until it takes the lock
        self.log = log.bind(relay=name)
        self.redis_retry = AsyncRetrying(
            retry=retry_if_exception_type(REDIS_OUTAGE),
            wait=wait_exponential_jitter(multiplier=0.05, max=2.0, jitter=0.1),
            before_sleep=self._redis_retry_log,
            reraise=True,
        )

    async def run(self) -> None:
        """Compete for leadership and relay while leading, until cancelled. Never raises else."""
        attempt = 0
        while True:
            try:
                conn = await asyncpg.connect(self.dsn, timeout=5)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempt += 1
                delay = backoff_delay(attempt, initial=0.2, cap=5.0)
                self.log.warning("relay.connect_failed", error=repr(exc), retry_in=round(delay, 2))
                await asyncio.sleep(delay)
                continue
            attempt = 0
            try:
                await self._on_connection(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = backoff_delay(1, initial=0.2)
                self.log.warning("relay.connection_lost", error=repr(exc), retry_in=round(delay, 2))
                await asyncio.sleep(delay)
            finally:
                if self.is_leader:
                    self.log.info("relay.stepped_down")
                self._lead_as(False)
                await _close(conn)

    async def _on_connection(self, conn: asyncpg.Connection) -> None:
        # A standby polls: PostgreSQL has no way to tell it that the lock came free.
        while True:
            if await self._try_lock(conn):
                break
            await asyncio.sleep(self.poll_seconds)
        self._lead_as(True)
        self.stats.terms += 1
        self.log.info("relay.leading")
        await self._lead(conn)

    def _lead_as(self, leader: bool) -> None:
        self.is_leader = leader
        self.leader_gauge.set(1 if leader else 0)

    @staticmethod
    async def _try_lock(conn: asyncpg.Connection) -> bool:
        return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", *LEADER_LOCK))

    async def _lead(self, conn: asyncpg.Connection) -> None:
        async with self.wake.reader(self.hub) as wake:
            await self._relay(conn, wake)

    async def _relay(self, conn: asyncpg.Connection, wake: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        poll: asyncio.TimerHandle | None = None

        # The fallback poll is a timer that re-arms itself once per ``poll_seconds``, not a
        # timeout around each wait: the relay wakes at every commit, and a timeout per wake
        # cost more than the rest of its loop but the statements.
        def on_poll() -> None:
            nonlocal poll
            wake.set()
            poll = loop.call_later(self.poll_seconds, on_poll)

        poll = loop.call_later(self.poll_seconds, on_poll)
        next_purge = loop.time()
        try:
            while True:
                wake.clear()
                self.stats.rounds += 1
                while await self.publish_batch(conn) == self.batch_size:
                    pass
                if loop.time() >= next_purge:
                    await self.purge(conn)
                    next_purge = loop.time() + self.retention_every
                await wake.wait()
                await asyncio.sleep(self.coalesce_seconds)  # the commits close behind join it
        finally:
            poll.cancel()

    async def publish_batch(self, conn: asyncpg.Connection) -> int:
        """Publish up to ``batch_size`` unpublished events in id order, mark them; how many."""
        rows: Sequence[asyncpg.Record] = await conn.fetch(SELECT_UNPUBLISHED, self.batch_size)
        if not rows:
            return 0
        messages = [(row["topic"], event_message(row)) for row in rows]
        try:
            await self.hub.publish_many(messages)
        except REDIS_OUTAGE as exc:
            self._redis_failed(exc, attempt=1, retry_in=0.0)
            # Only now the retry machinery, a copy of the policy built once: the first attempt
            # almost always succeeds, and building it each wake cost a tenth of the relay's CPU.
            async for attempt in self.redis_retry.copy():
                with attempt:
                    await self.hub.publish_many(messages)
        await conn.execute(MARK_PUBLISHED, [row["id"] for row in rows])
        self.stats.published += len(rows)
        metrics.relay_published.inc(len(rows))
        return len(rows)

    def _redis_retry_log(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        self._redis_failed(error, attempt=state.attempt_number + 1, retry_in=wait)

    def _redis_failed(self, error: BaseException | None, *, attempt: int, retry_in: float) -> None:
        metrics.redis_errors.labels("relay").inc()
        self.log.warning(
            "relay.redis_unavailable",
            error=repr(error),
            attempt=attempt,
            retry_in=round(retry_in, 2),
        )

    async def purge(self, conn: asyncpg.Connection) -> int:
        """Delete published events older than the retention time, a small batch at a time."""
        total = await purge_events(conn, self.retention)
        if total:
            self.stats.purged += total
            self.log.info("relay.purged", events=total)
        return total


async def purge_events(conn: asyncpg.Connection, retention: timedelta) -> int:
    """Delete published events older than ``retention``, oldest first, a small batch at a time,
    raising the purge mark; how many (at most ``PURGE_ROUNDS`` batches)."""
    seconds = retention.total_seconds()
    total = 0
    for _round in range(PURGE_ROUNDS):
        deleted = int(await conn.fetchval(PURGE, PURGE_BATCH, seconds))
        total += deleted
        if deleted == 0:
            break
        await asyncio.sleep(0)
    return total


async def _close(conn: asyncpg.Connection) -> None:
    try:
        async with asyncio.timeout(2):
            await conn.close()
    except Exception:
        conn.terminate()


async def run_relay_until_cancelled(relay: Relay) -> None:
    """For a lifespan: run the relay; log (never propagate) an unexpected end."""
    try:
        await relay.run()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("relay.crashed")
