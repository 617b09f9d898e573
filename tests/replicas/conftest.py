"""Read replicas against a real streaming replica of the session's PostgreSQL
(tests/pg_replica.py: ``pg_basebackup -R`` and a second ``postgres``), made once for the session.
Each test gets it running and replaying, and leaves it so."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from app.config import Settings
from app.replicas import parse_lsn, replica_name
from tests.conftest import ServiceUrls
from tests.pg_replica import StreamingReplica, primary_of

CATCH_UP_TIMEOUT = 60.0  # a loaded shared machine replays slowly


@pytest.fixture(scope="session")
def pg_replica(service_urls: ServiceUrls) -> Iterator[StreamingReplica]:
    replica = StreamingReplica(primary_of(service_urls.database_url))
    replica.create()
    try:
        yield replica
    finally:
        replica.remove()


@pytest.fixture
async def replica(
    pg_replica: StreamingReplica, service_urls: ServiceUrls
) -> AsyncIterator[StreamingReplica]:
    """The replica, running, replaying, and caught up with the test's clean tables."""
    if pg_replica.process is None:
        pg_replica.start()
    await resume_replay(pg_replica)
    await caught_up(pg_replica, service_urls.database_url)
    yield pg_replica
    if pg_replica.process is None:
        pg_replica.start()
    await resume_replay(pg_replica)


def with_replica(settings: Settings, replica: StreamingReplica, **changes: Any) -> dict[str, Any]:
    """Setting changes that give an app the replica (checked often, for the tests' pace)."""
    return {
        "database_replica_urls": [replica.url()],
        "replica_check_seconds": 0.1,
        "replica_max_lag_seconds": 30.0,
        **changes,
    }


def name_of(replica: StreamingReplica) -> str:
    return replica_name(replica.url())


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def fetch(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(_dsn(url))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def pause_replay(replica: StreamingReplica) -> None:
    await fetch(replica.url(), "SELECT pg_wal_replay_pause()")
    deadline = time.monotonic() + CATCH_UP_TIMEOUT
    while (await fetch(replica.url(), "SELECT pg_get_wal_replay_pause_state()"))[0][0] != "paused":
        assert time.monotonic() < deadline, "the replica's replay did not pause"
        await asyncio.sleep(0.02)


async def resume_replay(replica: StreamingReplica) -> None:
    await fetch(replica.url(), "SELECT pg_wal_replay_resume()")


async def caught_up(replica: StreamingReplica, primary_url: str) -> None:
    """Wait until the replica has replayed what the primary has committed now."""
    target = parse_lsn((await fetch(primary_url, "SELECT pg_current_wal_lsn()::text"))[0][0])
    deadline = time.monotonic() + CATCH_UP_TIMEOUT
    while True:
        found = (await fetch(replica.url(), "SELECT pg_last_wal_replay_lsn()::text"))[0][0]
        if found is not None and parse_lsn(found) >= target:
            return
        assert time.monotonic() < deadline, "the replica did not catch up"
        await asyncio.sleep(0.02)
