"""Test infrastructure: real PostgreSQL and Redis, never mocks (README: real parts, no skips).

The services come from ``JIFEN_DATABASE_URL`` / ``JIFEN_REDIS_URL`` when set (CI, a developer's
own servers), else from embedded servers started under a temporary folder for the session. A test
that cannot reach them fails; nothing skips.

The schema is migrated once per session. Every test that touches the services (it uses any fixture
built on ``service_urls``) starts from empty tables, the four programme accounts, and an empty
Redis database; pure tests touch nothing.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.clock import FrozenClock
from app.config import Settings
from app.db import create_engine
from app.logging import configure_logging
from app.migrate import upgrade
from app.runtime import Runtime
from app.tables import metadata

REDIS_DATABASES = 16  # Redis' default `databases`
SERVER_GROUPS = frozenset({"cluster", "replicas", "browser", "e2e"})
TEST_JWT_SECRET = "test-secret-0123456789abcdef0123456789abcdef"
FROZEN_AT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)

# The programme accounts migration 0001 inserts: every ledger movement needs them on one side.
PROGRAMME_ACCOUNTS_SQL = (
    "INSERT INTO programme_accounts (kind, code) VALUES "
    "('issuance', 'issuance'), ('redemption', 'redemption'), "
    "('breakage', 'breakage'), ('adjustment', 'adjustment'), ('bank', 'bank')"
)


@dataclass(frozen=True)
class ServiceUrls:
    database_url: str
    redis_url: str


# A connection a test left open in a transaction would make every later reset wait forever; the
# reset gives up after this long and names the sessions in the way.
RESET_LOCK_TIMEOUT = "20s"
BLOCKERS_SQL = """
    SELECT pid, state, now() - xact_start AS open_for, left(query, 200) AS last_query
    FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
"""


def reset_database_sql() -> str:
    """Empty every table and put the programme accounts back, in one round trip."""
    tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    return (
        f"SET LOCAL lock_timeout = '{RESET_LOCK_TIMEOUT}'; "
        f"TRUNCATE {tables} RESTART IDENTITY CASCADE; {PROGRAMME_ACCOUNTS_SQL}"
    )


@pytest.fixture(scope="session", autouse=True)
def _logging_configured() -> None:
    """Logging as a process of Jifen has it, before any test runs: structlog caches a module's
    logger on first use, so a logger first used by a test that builds no app (a job run, say)
    would otherwise keep structlog's default printer, and later tests could not capture it."""
    configure_logging(Settings(log_json=False, _env_file=None))  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def service_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceUrls]:
    """PostgreSQL and Redis for the session, migrated to the newest schema."""
    database_url = worker_database_url(os.environ.get("JIFEN_DATABASE_URL"))
    redis_url = worker_redis_url(os.environ.get("JIFEN_REDIS_URL"))
    if database_url and redis_url:
        yield _migrated(ServiceUrls(database_url, redis_url))
        return

    from app.embedded import EmbeddedServices

    data_dir = tmp_path_factory.mktemp("embedded")
    with EmbeddedServices(data_dir, postgres=not database_url, redis=not redis_url) as services:
        urls = ServiceUrls(database_url or services.database_url, redis_url or services.redis_url)
        yield _migrated(urls)


def xdist_worker_number() -> int | None:
    """0, 1, … under pytest-xdist (``make test`` runs the suite on several processes), else None."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker.removeprefix("gw")) if worker.startswith("gw") else None


def worker_database_url(url: str | None) -> str | None:
    """Each xdist worker gets a database of its own beside the given one (``jifen_ci_gw1``):
    every test empties every table, so two workers may never share one. Made afresh each run."""
    number = xdist_worker_number()
    if url is None or number is None:
        return url
    parsed = make_url(url)
    name = f"{parsed.database}_gw{number}"
    asyncio.run(_recreate_database(parsed.set(drivername="postgresql", database="postgres"), name))
    return parsed.set(database=name).render_as_string(hide_password=False)


async def _recreate_database(admin_url: URL, name: str) -> None:
    conn = await asyncpg.connect(admin_url.render_as_string(hide_password=False))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def worker_redis_url(url: str | None) -> str | None:
    """Each xdist worker flushes a Redis database of its own: the given number plus the worker's
    (CI's db 9 → 9 and 10), wrapping within Redis' 16 databases."""
    number = xdist_worker_number()
    if url is None or number is None:
        return url
    parts = urlsplit(url)
    first = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(first + number) % REDIS_DATABASES}"))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that start servers of their own (a Redis Cluster, a PostgreSQL replica, Chromium,
    Jifen processes) stay on one xdist worker a folder (``--dist loadgroup``): one set of servers
    at a time, not one a worker, and timing-bound tests not raced by their twins.

    ``tryfirst``: xdist's worker turns the marks into the group suffix of the node id in its own
    ``pytest_collection_modifyitems``; a mark added after it is ignored and the folder's tests
    spread over both workers (two clusters racing for ports)."""
    for item in items:
        folder = item.path.parent.name
        if folder in SERVER_GROUPS:
            item.add_marker(pytest.mark.xdist_group(folder))


def _migrated(urls: ServiceUrls) -> ServiceUrls:
    # A synchronous fixture's job: Alembic's env.py calls asyncio.run().
    upgrade(urls.database_url)
    return urls


@pytest.fixture(scope="session")
def test_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jifen-data")


@pytest.fixture(scope="session")
def settings(service_urls: ServiceUrls, test_data_dir: Path) -> Settings:
    return Settings(
        database_url=service_urls.database_url,
        redis_url=service_urls.redis_url,
        jwt_secret=TEST_JWT_SECRET,
        data_dir=test_data_dir,
        log_json=False,
        jobs_enabled=False,  # tests run jobs themselves, on their own clock
        _env_file=None,  # type: ignore[call-arg]  # pydantic-settings' init-only option
    )


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.database_url or "", pool_size=settings.db_pool_size)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def redis_client(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url or "")
    yield client
    await client.aclose()


@pytest.fixture
def redis(redis_client: Redis) -> Redis:
    """The session's Redis client; its database was flushed before this test."""
    return redis_client


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(FROZEN_AT)


@pytest.fixture
def runtime(settings: Settings, engine: AsyncEngine, redis: Redis, clock: FrozenClock) -> Runtime:
    return Runtime(settings=settings, engine=engine, redis=redis, clock=clock)


@pytest.fixture
async def clean_state(clean_database: None, redis_client: Redis) -> None:
    """Empty tables (programme accounts restored) and an empty Redis database."""
    await redis_client.flushdb()


@pytest.fixture
async def clean_database(engine: AsyncEngine) -> None:
    """Empty tables, the programme accounts restored."""
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert isinstance(raw, asyncpg.Connection)
        try:
            # asyncpg runs a multi-statement string as one simple query (one round trip, one
            # implicit transaction, so SET LOCAL holds for the TRUNCATE).
            await raw.execute(reset_database_sql())
        except asyncpg.LockNotAvailableError as error:
            blockers = [dict(row) for row in await raw.fetch(BLOCKERS_SQL)]
            raise RuntimeError(f"a session left open blocks the reset: {blockers}") from error


@pytest.fixture(autouse=True)
def _clean_state_when_services_used(request: pytest.FixtureRequest) -> None:
    # Autouse fixtures are set up first, so the reset happens before the test's own fixtures
    # write anything. Pure tests (no fixture built on service_urls) need no services at all.
    if "service_urls" in request.fixturenames:
        request.getfixturevalue("clean_state")


@pytest.fixture
async def rolled_back(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection whose DDL is never committed: the shared schema is untouched afterwards."""
    async with engine.connect() as conn:
        await conn.execute(text("SET LOCAL lock_timeout = '10s'"))
        yield conn
        await conn.rollback()
