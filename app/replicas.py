"""Read replicas: reads that decide nothing go to PostgreSQL streaming standbys.

The rule (docs/SCALING.md, "Read replicas"): a read goes to a replica only when its caller opted
in — a GraphQL **query** (never a mutation: what a mutation reads may decide its write), and the
replay of a subscription — and only through :meth:`app.runtime.Runtime.read`. Everything else
(writes, the reads inside a write's transaction, jobs, the CLI) stays on the primary, and so does
every read when no replica URL is set.

**Read-your-writes.** After a mutation commits, the primary's WAL position
(``pg_current_wal_lsn()``, taken after the COMMIT, so at or past the commit record) is kept in
Redis under the caller's key and the key of every member the mutation named (``member:<id>``)
for a while (:attr:`ReadReplicas.mark_ttl`); a write no mutation made (a job's) is marked for
the members it touched (:meth:`app.runtime.Runtime.members_written`). A later read by that
caller, or of that member, goes to a replica only if the replica's ``pg_last_wal_replay_lsn()``
is at or past the largest of those positions; otherwise the primary answers. A replay (a
subscription catching up from the events table) needs the replica to have replayed what the
primary had committed when the subscription was confirmed, so no event published before then
is missed.

**Health.** One loop per process samples the primary's position and each replica's replay
position every ``JIFEN_REPLICA_CHECK_SECONDS``. A replica that does not answer, is not in
recovery, or has not reached a position the primary had more than ``JIFEN_REPLICA_MAX_LAG_SECONDS``
ago is skipped until it recovers; a replica whose connection fails at checkout is skipped at
once. Reads it would have taken go to the primary, without an error. Both show in /metrics.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app import metrics
from app.background import pause, running
from app.db import create_engine, one_statement_read
from app.redisclient import RedisClient

log = structlog.get_logger(__name__)

# Marks of recent writes: "<MARK_PREFIX><key>" → the primary's LSN, 16 hex digits (so that
# comparing strings compares positions, in Lua too: its numbers cannot hold 64 bits).
MARK_PREFIX = "replicas:written:"
# Keep the larger position: two writes of one caller may finish in either order.
KEEP_LARGEST = """
local current = redis.call('GET', KEYS[1])
if (not current) or current < ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
"""

# Marks written in one pipeline at most (a job marks a whole batch of members at once).
MARKS_PER_TRIP = 1000

# A replay (a subscription's start) may wait this long for a replica to reach the primary's
# position: a healthy replica is milliseconds behind, and the primary keeps its table reads.
REPLAY_WAIT_SECONDS = 0.5
CATCH_UP_POLL = 0.01


@dataclass
class Reading:
    """An operation whose reads may go to a replica: whose marks they must see (the caller's),
    and the marks already read from Redis (an operation writes nothing: they hold for all of
    its reads, so each key costs one look-up per operation)."""

    keys: tuple[str, ...]
    marks: dict[str, int] = field(default_factory=dict)


# The operation reading now, or None — the default — for "this read may decide a write: the
# primary".
_reading: ContextVar[Reading | None] = ContextVar("replica_reading", default=None)


def parse_lsn(value: str) -> int:
    """``'16/B374D848'`` → its position as an integer."""
    high, _, low = value.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def member_key(member_id: int) -> str:
    return f"member:{member_id}"


@asynccontextmanager
async def replica_reads(keys: Iterable[str]) -> AsyncIterator[None]:
    """Within the block, :meth:`ReadReplicas.connect` may use a replica, provided it has seen
    the writes marked under ``keys`` (the caller's own)."""
    token = _reading.set(Reading(tuple(keys)))
    try:
        yield
    finally:
        _reading.reset(token)


def enter_replica_reads(keys: Iterable[str]) -> object:
    """The same as :func:`replica_reads` for a hook that cannot hold a block open (a GraphQL
    extension's); give the token back to :func:`leave_replica_reads`."""
    return _reading.set(Reading(tuple(keys)))


def leave_replica_reads(token: object) -> None:
    _reading.reset(token)  # type: ignore[arg-type]


@dataclass
class Replica:
    name: str  # host:port/database, for logs and metrics (never the password)
    engine: AsyncEngine
    up: bool = False
    replay_lsn: int = 0
    lag_seconds: float = math.inf
    checked_at: float = -math.inf  # monotonic time of the last health check that answered

    def usable(self, now: float, max_lag: float, fresh_for: float) -> bool:
        return self.up and self.lag_seconds <= max_lag and now - self.checked_at <= fresh_for


def replica_name(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}{parts.path}"


@dataclass
class ReadReplicas:
    """The replicas of one process, their health, and the routing of reads between them."""

    primary: AsyncEngine
    replicas: list[Replica]
    redis: RedisClient
    max_lag_seconds: float = 5.0
    check_seconds: float = 1.0
    # (monotonic time, primary LSN) samples, oldest first: how far back a replica is, in time.
    _samples: deque[tuple[float, int]] = field(default_factory=deque)
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def mark_ttl(self) -> float:
        """How long a write's mark is kept: past this, any replica not skipped for lag has
        replayed it (its lag is measured at most a check ago, in steps of a check)."""
        return self.max_lag_seconds + 2 * self.check_seconds + 5.0

    @property
    def _fresh_for(self) -> float:
        """A replica not checked for this long (the loop is stuck) is not trusted."""
        return 3 * self.check_seconds + 1.0

    # -- writes: remember where the primary was ------------------------------------------------

    async def primary_lsn(self) -> int:
        async with one_statement_read(self.primary) as conn:  # one round trip
            found = await conn.scalar(text("SELECT pg_current_wal_lsn()::text"))
        return parse_lsn(str(found))

    async def remember_write(self, keys: Iterable[str]) -> None:
        """Mark a committed write for ``keys``: their next reads need a replica that replayed
        it. A failure is logged, not raised: the write is done (reads may then lag, by at most
        the lag bound)."""
        keys = sorted(set(keys))
        if not keys:
            return
        try:
            position = f"{await self.primary_lsn():016x}"
            ttl_ms = int(self.mark_ttl * 1000)
            # One round trip (a node's, on a cluster) per MARKS_PER_TRIP keys: a job's batch
            # of members is not one unbounded request. EVAL, not EVALSHA: a pipeline cannot
            # load a script a node does not know yet, and this one is short.
            for start in range(0, len(keys), MARKS_PER_TRIP):
                pipe = self.redis.pipeline(transaction=False)
                for key in keys[start : start + MARKS_PER_TRIP]:
                    pipe.eval(KEEP_LARGEST, 1, MARK_PREFIX + key, position, ttl_ms)
                await pipe.execute()
        except Exception as error:
            metrics.redis_errors.labels("replica_marks").inc()
            log.warning("replicas.mark_failed", keys=keys, error=repr(error))

    async def _marked(self, keys: Sequence[str], known: dict[str, int]) -> int:
        """The largest position marked for ``keys``; ``known`` holds those already read."""
        missing = [key for key in dict.fromkeys(keys) if key not in known]
        if len(missing) == 1:
            found = [await self.redis.get(MARK_PREFIX + missing[0])]
        elif missing:  # a page of members: one round trip (per node, on a cluster)
            pipe = self.redis.pipeline(transaction=False)
            for key in missing:
                pipe.get(MARK_PREFIX + key)
            found = await pipe.execute()
        else:
            found = []
        for key, value in zip(missing, found, strict=True):
            known[key] = 0 if value is None else int(value, 16)
        return max((known[key] for key in keys), default=0)

    # -- reads -----------------------------------------------------------------------------------

    @asynccontextmanager
    async def connect(
        self,
        members: Iterable[int] = (),
        *,
        at_least: int = 0,
        force: bool = False,
        wait: float = 0.0,
        one_statement: bool = False,
    ) -> AsyncIterator[AsyncConnection]:
        """A connection for a read: a replica when the caller opted in (or ``force``) and one
        has replayed every write marked for the caller and ``members``, and ``at_least``
        (waiting up to ``wait`` seconds for it); else the primary. ``one_statement``: in
        autocommit (app/db.py, :func:`one_statement_read`)."""
        reading = _reading.get()
        conn: AsyncConnection | None = None
        if reading is not None or force:
            reading = reading or Reading(())
            keys = [*reading.keys, *map(member_key, members)]
            conn = await self._replica_connection(keys, reading.marks, at_least, wait)
            if conn is not None and one_statement:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
        if conn is None:
            opened = one_statement_read(self.primary) if one_statement else self.primary.connect()
            conn = await opened.start()
        try:
            yield conn
        finally:
            await conn.close()

    async def _replica_connection(
        self, keys: Sequence[str], known: dict[str, int], at_least: int, wait: float
    ) -> AsyncConnection | None:
        try:
            needed = max(at_least, await self._marked(keys, known))
        except Exception as error:  # no marks to go by: the primary is always fresh
            metrics.redis_errors.labels("replica_marks").inc()
            log.warning("replicas.marks_unreadable", error=repr(error))
            self._to_primary("marks_unreadable")
            return None
        now = time.monotonic()
        usable = [r for r in self.replicas if r.usable(now, self.max_lag_seconds, self._fresh_for)]
        if not usable:
            self._to_primary("lagging" if any(r.up for r in self.replicas) else "down")
            return None
        start = next(self._turn)
        behind = False
        for i in range(len(usable)):
            replica = usable[(start + i) % len(usable)]
            try:
                conn = await replica.engine.connect().start()
            except Exception as error:
                self._lost(replica, error)
                continue
            try:
                fresh = replica.replay_lsn >= needed or await self._caught_up(
                    replica, conn, needed, wait
                )
            except Exception as error:  # it went away between checkout and the question
                with suppress(Exception):
                    await conn.invalidate()
                    await conn.close()
                self._lost(replica, error)
                continue
            if fresh:
                metrics.db_reads.labels("replica", "fresh").inc()
                return conn
            await conn.close()
            behind = True
        self._to_primary("behind_write" if behind else "down")
        return None

    async def _caught_up(
        self, replica: Replica, conn: AsyncConnection, needed: int, wait: float
    ) -> bool:
        """Ask the replica now (its last check may predate the write), and again every
        CATCH_UP_POLL seconds for ``wait`` seconds."""
        deadline = time.monotonic() + wait
        while True:
            found = await conn.scalar(text("SELECT pg_last_wal_replay_lsn()::text"))
            await conn.rollback()  # the read's own statements start a fresh snapshot
            if found is not None:
                replica.replay_lsn = max(replica.replay_lsn, parse_lsn(str(found)))
            if replica.replay_lsn >= needed:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(CATCH_UP_POLL)

    def _to_primary(self, reason: str) -> None:
        metrics.db_reads.labels("primary", reason).inc()

    def _lost(self, replica: Replica, error: BaseException) -> None:
        if replica.up:
            log.warning("replicas.down", replica=replica.name, error=repr(error))
        replica.up = False
        metrics.db_replica_up.labels(replica.name).set(0)

    # -- health ----------------------------------------------------------------------------------

    async def check(self) -> None:
        """One round: the primary's position, then each replica's replay position and lag."""
        now = time.monotonic()
        self._samples.append((now, await self.primary_lsn()))
        keep_since = now - max(60.0, 4 * self.max_lag_seconds)
        while len(self._samples) > 1 and self._samples[0][0] < keep_since:
            self._samples.popleft()
        await asyncio.gather(*(self._check(replica) for replica in self.replicas))

    async def _check(self, replica: Replica) -> None:
        try:
            async with asyncio.timeout(max(self.check_seconds, 1.0)):
                async with replica.engine.connect() as conn:
                    row = (
                        await conn.execute(
                            text("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text")
                        )
                    ).one()
        except Exception as error:
            self._lost(replica, error)
            return
        in_recovery, replayed = row
        if not in_recovery or replayed is None:  # promoted, or not a streaming standby at all
            self._lost(replica, RuntimeError("not a standby (pg_is_in_recovery() is false)"))
            return
        if not replica.up:
            log.info("replicas.up", replica=replica.name)
        replica.replay_lsn = max(replica.replay_lsn, parse_lsn(replayed))
        replica.lag_seconds = self._lag(replica.replay_lsn)
        replica.checked_at = time.monotonic()
        replica.up = True
        metrics.db_replica_up.labels(replica.name).set(1)
        metrics.db_replica_lag.labels(replica.name).set(replica.lag_seconds)

    def _lag(self, replayed: int) -> float:
        """Seconds since the primary was at the oldest position the replica has not replayed
        (0 when it has replayed every sample). Samples are kept longer than the lag bound, so
        a replica behind all of them is past the bound whatever its true lag."""
        now = time.monotonic()
        for sampled_at, position in self._samples:
            if position > replayed:
                return now - sampled_at
        return 0.0

    async def watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.check()
            except Exception as error:  # the primary did not answer: nothing to compare with
                log.warning("replicas.check_failed", error=repr(error))
            await pause(stop, self.check_seconds)

    async def dispose(self) -> None:
        for replica in self.replicas:
            await replica.engine.dispose()


def open_replicas(
    primary: AsyncEngine,
    urls: Sequence[str],
    redis: RedisClient,
    *,
    pool_size: int,
    max_lag_seconds: float,
    check_seconds: float,
) -> ReadReplicas:
    replicas = [
        Replica(replica_name(url), create_engine(url, pool_size, application_name="jifen-replica"))
        for url in urls
    ]
    return ReadReplicas(primary, replicas, redis, max_lag_seconds, check_seconds)


@asynccontextmanager
async def replicas_running(
    primary: AsyncEngine,
    urls: Sequence[str],
    redis: RedisClient,
    *,
    pool_size: int,
    max_lag_seconds: float,
    check_seconds: float,
) -> AsyncIterator[ReadReplicas | None]:
    """The process's replicas, checked in the background for the block (None without URLs).
    The first check runs before the block: reads may use a replica from the first request."""
    if not urls:
        yield None
        return
    replicas = open_replicas(
        primary,
        urls,
        redis,
        pool_size=pool_size,
        max_lag_seconds=max_lag_seconds,
        check_seconds=check_seconds,
    )
    try:
        try:
            await replicas.check()
        except Exception as error:
            log.warning("replicas.check_failed", error=repr(error))
        async with running("replica-health", replicas.watch):
            yield replicas
    finally:
        await replicas.dispose()
