"""Moving-window counters in Redis (the `limits` library), shared by every replica: the GraphQL
rate budgets (app/graphql/core/ratelimit.py) and the failed-credential throttle
(app/auth/guard.py)."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem
from limits.aio.storage import RedisClusterStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import BlockingConnectionPool

from app.config import Settings
from app.redisclient import cluster_credentials, cluster_nodes, is_cluster


def moving_window(settings: Settings, redis_url: str) -> MovingWindowRateLimiter:
    if is_cluster(redis_url):
        # A moving window is one key per (limit, principal): any slot, no hash tag needed.
        nodes = ",".join(f"{host}:{port}" for host, port in cluster_nodes(redis_url))
        cluster = RedisClusterStorage(
            f"async+redis+cluster://{nodes}",
            implementation="redispy",
            max_connections=settings.redis_pool_size,
            **cluster_credentials(redis_url),
        )
        return MovingWindowRateLimiter(cluster)
    # A blocking pool: a burst waits for a connection instead of failing open.
    pool = BlockingConnectionPool.from_url(
        redis_url,
        max_connections=settings.redis_pool_size,
        timeout=settings.redis_pool_timeout_seconds,
    )
    storage = RedisStorage(
        f"async+{redis_url}",
        implementation="redispy",
        connection_pool=pool,  # type: ignore[arg-type]  # passed on to redis-py as is
    )
    return MovingWindowRateLimiter(storage)


async def retry_after(limiter: MovingWindowRateLimiter, item: RateLimitItem, *ids: str) -> int:
    """Whole seconds until the oldest hit leaves the window (at least 1)."""
    stats = await limiter.get_window_stats(item, *ids)
    return max(1, math.ceil(stats.reset_time - time.time()))
