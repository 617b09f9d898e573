"""The same tests on a Redis Cluster: this folder's modules import the tests of the gateway,
leaderboards, flash gate and rate limits, and these fixtures run them against a real cluster
(tests/redis_cluster.py: three masters with a replica each, started once for the session) instead
of the single Redis. PostgreSQL is the session's database, as everywhere."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from app.config import Settings
from app.redisclient import RedisClient, flush, open_redis
from tests.conftest import TEST_JWT_SECRET, ServiceUrls
from tests.redis_cluster import RedisClusterNodes


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterNodes]:
    cluster = RedisClusterNodes(tmp_path_factory.mktemp("redis-cluster"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def settings(
    service_urls: ServiceUrls, redis_cluster: RedisClusterNodes, test_data_dir: Path
) -> Settings:
    """The session's settings with ``JIFEN_REDIS_URL`` naming the cluster."""
    return Settings(
        database_url=service_urls.database_url,
        redis_url=redis_cluster.url,
        jwt_secret=TEST_JWT_SECRET,
        data_dir=test_data_dir,
        log_json=False,
        jobs_enabled=False,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture(scope="session")
async def redis_client(settings: Settings) -> AsyncIterator[RedisClient]:
    client = open_redis(settings.redis_url or "")
    yield client
    await client.aclose()


@pytest.fixture
def redis(redis_client: RedisClient) -> RedisClient:
    """The session's cluster client; every master was flushed before this test."""
    return redis_client


@pytest.fixture
async def clean_state(clean_database: None, redis_client: RedisClient) -> None:
    await flush(redis_client)
