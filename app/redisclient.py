"""The one way a process reaches Redis: a single server, or a Redis Cluster (docs/SCALING.md).

``JIFEN_REDIS_URL`` names either a server (``redis://host:6379/0``) or a cluster:
``redis+cluster://[user[:password]@]host:port[,host:port…]`` — any reachable node is enough to
discover the others; list several so that start-up survives one being down. On a cluster:

* the client is redis-py's asyncio ``RedisCluster``: each command goes to the master owning its
  key's slot, and a ``MOVED`` or a dead master (failover) refreshes the slot map and retries;
* every multi-key command and Lua script names keys of **one slot** (a hash tag ``{…}`` in
  every key it touches: ``lb:{board}:…``, ``mall:flash:{item}:…``);
* pub/sub is **sharded**: ``SPUBLISH`` here (:func:`publish`), ``SSUBSCRIBE`` in
  ``app/events/sharded.py``. Classic ``PUBLISH`` would be broadcast to every node of the cluster.
* there are no database numbers: one cluster serves one deployment (or give each its own
  ``JIFEN_EVENT_CHANNEL_PREFIX`` and accept shared keys).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeAlias
from urllib.parse import unquote, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

CLUSTER_SCHEME = "redis+cluster"

RedisClient: TypeAlias = Redis | RedisCluster
RedisPipeline: TypeAlias = Pipeline | ClusterPipeline


def is_cluster(url: str) -> bool:
    return urlsplit(url).scheme == CLUSTER_SCHEME


def cluster_nodes(url: str) -> list[tuple[str, int]]:
    """The ``host:port`` pairs of a ``redis+cluster://`` URL (at least one)."""
    location = urlsplit(url).netloc.rpartition("@")[2]
    nodes: list[tuple[str, int]] = []
    for part in location.split(","):
        host, _, port = part.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"{url!r}: each cluster node is host:port, not {part!r}")
        nodes.append((host.strip("[]"), int(port)))
    return nodes


def cluster_credentials(url: str) -> dict[str, Any]:
    """``username`` / ``password`` of a ``redis+cluster://`` URL, as client keyword arguments."""
    userinfo, at, _ = urlsplit(url).netloc.rpartition("@")
    if not at:
        return {}
    user, colon, password = userinfo.partition(":")
    found = {"username": unquote(user), "password": unquote(password) if colon else ""}
    return {k: v for k, v in found.items() if v}


def retry_policy() -> dict[str, Any]:
    """A command that fails on a connection broken by a restart (or a failover) is retried on a
    fresh connection instead of failing the request."""
    return {
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.02), 3),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }


def open_redis(
    url: str, *, pool_size: int = 100, pool_timeout: float = 5.0, **options: Any
) -> RedisClient:
    """A client for ``url``: a blocking pool of ``pool_size`` connections on a single server
    (a burst waits up to ``pool_timeout`` for one); on a cluster, ``pool_size`` per node."""
    if is_cluster(url):
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in cluster_nodes(url)],
            max_connections=pool_size,
            **cluster_credentials(url),
            **{**retry_policy(), **options},
        )
    return Redis(
        connection_pool=BlockingConnectionPool.from_url(
            url,
            max_connections=pool_size,
            timeout=pool_timeout,
            **{**retry_policy(), **options},
        )
    )


def publish(pipe: RedisPipeline, channel: str, message: str) -> None:
    """Queue a publication on ``pipe``: ``SPUBLISH`` on a cluster (the channel lives on the shard
    owning its slot), ``PUBLISH`` on a single server."""
    if isinstance(pipe, ClusterPipeline):
        pipe.spublish(channel, message)
    else:
        pipe.publish(channel, message)


async def flush(client: RedisClient) -> None:
    """Empty the database (every master of a cluster)."""
    if isinstance(client, RedisCluster):
        await client.flushdb(target_nodes=RedisCluster.PRIMARIES)
    else:
        await client.flushdb()


@asynccontextmanager
async def connection_for(client: RedisClient, key: str) -> AsyncIterator[AbstractConnection]:
    """A connection of ``client``'s pool to the server holding ``key`` (on a cluster, the master
    of its slot), for commands the caller packs itself (:func:`execute_packed`). On an error it
    is closed, not put back: replies may be left unread on it."""
    release: Callable[[AbstractConnection], Awaitable[None]]
    if isinstance(client, RedisCluster):
        await client.initialize()
        node = client.get_node_from_key(key)
        if node is None:
            raise RedisConnectionError(f"no cluster node serves {key!r}")
        connection: AbstractConnection = node.acquire_connection()

        async def release(used: AbstractConnection) -> None:
            node.release(used)  # type: ignore[arg-type]

    else:
        connection = await client.connection_pool.get_connection()  # type: ignore[no-untyped-call]
        release = client.connection_pool.release
    try:
        yield connection
    except BaseException:
        await connection.disconnect()
        raise
    finally:
        await release(connection)


async def execute_packed(connection: AbstractConnection, payload: bytes, replies: int) -> None:
    """Send commands already packed in the Redis protocol and read their ``replies`` replies;
    an error reply raises (``ResponseError``)."""
    await connection.send_packed_command(payload, check_health=False)
    for _ in range(replies):
        await connection.read_response()
