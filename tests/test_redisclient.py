"""hiredis is what parses the app's Redis replies: redis-py falls back to its Python parser
without a word when hiredis is missing or older than it supports (docs/DECISIONS.md)."""

from __future__ import annotations

import redis.utils
from redis._parsers import _AsyncHiredisParser
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection

from app.config import Settings
from app.limiting import moving_window
from app.redisclient import open_redis


def test_redis_py_found_a_hiredis_it_supports() -> None:
    assert redis.utils.HIREDIS_AVAILABLE


async def _parser_of(connection: AbstractConnection) -> object:
    await connection.connect()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
    try:
        return connection._parser
    finally:
        await connection.disconnect()


async def test_the_app_client_and_the_rate_limiter_read_with_hiredis(settings: Settings) -> None:
    client = open_redis(settings.redis_url or "", pool_size=2)
    assert isinstance(client, Redis)  # the tests' server is a single one
    try:
        assert await client.ping()
        connection = await client.connection_pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            assert isinstance(await _parser_of(connection), _AsyncHiredisParser)
        finally:
            await client.connection_pool.release(connection)
    finally:
        await client.aclose()
    limiter = moving_window(settings, settings.redis_url or "")
    pool = limiter.storage.bridge.storage.connection_pool  # type: ignore[attr-defined]
    connection = await pool.get_connection()
    try:
        assert isinstance(await _parser_of(connection), _AsyncHiredisParser)
    finally:
        await pool.release(connection)
        await pool.disconnect()
