"""The rebuild's hand-packed ZADD/HSET commands: the same bytes redis-py sends, the same sets in
Redis, out-of-range values refused, and an error reply raised."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import ResponseError

from app.leaderboards.boards import ID_CEILING, TS_CEILING, encode_micros
from app.leaderboards.packing import pack_standings
from app.redisclient import RedisClient, connection_for, execute_packed

KEYS = [
    ("lb:{packing}:all-time:all", "lb:{packing}:all-time:all:members"),
    ("lb:{packing}:monthly:2026-11", "lb:{packing}:monthly:2026-11:members"),
    ("lb:{packing}:daily:2026-11-23", "lb:{packing}:daily:2026-11-23:members"),
]

# (member_id, points, reached) per set: absent (None), nothing left (0), clawed back below
# zero, the extremes of each field, and ids and scores of every length.
ROWS = [
    (1, 5, 1_764_000_000_000_000, None, None, 0, 1_764_000_000_000_000),
    (42, 2**53, 0, 7, TS_CEILING, -3, 1_764_000_000_000_001),
    (ID_CEILING, 1, 1, 1_000_000_000, 1_764_000_000_000_000, None, None),
    (987_654_321, 12, 1_764_000_000_000_000, 12, 1_764_000_000_000_000, None, None),
]


def redis_py_commands(rows: list[tuple[int | None, ...]]) -> list[tuple[object, ...]]:
    """The commands the rebuild sent through redis-py before: ZADD then HSET per set."""
    commands: list[tuple[object, ...]] = []
    for i, (zset, index) in enumerate(KEYS):
        on = [r for r in rows if (p := r[1 + 2 * i]) is not None and p > 0]
        if not on:
            continue
        elements = [encode_micros(int(r[0] or 0), int(r[2 + 2 * i] or 0)) for r in on]
        zadd: list[object] = ["ZADD", zset]
        hset: list[object] = ["HSET", index]
        for row, element in zip(on, elements, strict=True):
            zadd += [row[1 + 2 * i], element]
            hset += [row[0], element]
        commands += [tuple(zadd), tuple(hset)]
    return commands


def test_packed_bytes_are_what_redis_py_sends() -> None:
    packed = pack_standings(ROWS, KEYS)
    # The daily set has no member: no command for it.
    assert packed.members == [4, 3, 0]
    assert packed.replies == 4
    expected = b"".join(Connection().pack_commands(redis_py_commands(ROWS)))
    assert packed.payload == expected


def test_no_member_no_command() -> None:
    packed = pack_standings([(7, None, None, 0, 5, -1, 5)], KEYS)
    assert (packed.payload, packed.replies, packed.members) == (b"", 0, [0, 0, 0])


@pytest.mark.parametrize(
    "row",
    [
        (-1, 5, 1, None, None, None, None),
        (ID_CEILING + 1, 5, 1, None, None, None, None),
        (1, 5, -1, None, None, None, None),
        (1, None, None, 5, TS_CEILING + 1, None, None),
        (1, 5, None, None, None, None, None),
    ],
)
def test_values_that_do_not_fit_the_element_are_refused(row: tuple[int | None, ...]) -> None:
    with pytest.raises(ValueError, match="out of range"):
        pack_standings([row], KEYS)


async def test_packed_commands_build_the_same_sets_as_redis_py(redis: Redis) -> None:
    client: RedisClient = redis
    packed = pack_standings(ROWS, KEYS)
    async with connection_for(client, KEYS[0][0]) as connection:
        await execute_packed(connection, packed.payload, packed.replies)
    built = [
        (await redis.zrange(zset, 0, -1, withscores=True), await redis.hgetall(index))
        for zset, index in KEYS
    ]
    await redis.delete(*(key for pair in KEYS for key in pair))
    for command in redis_py_commands(ROWS):
        await redis.execute_command(*command)
    expected = [
        (await redis.zrange(zset, 0, -1, withscores=True), await redis.hgetall(index))
        for zset, index in KEYS
    ]
    assert built == expected
    assert len(built[0][0]) == 4


async def test_an_error_reply_raises_and_the_client_still_works(redis: Redis) -> None:
    await redis.set(KEYS[1][0], "not a sorted set")
    packed = pack_standings(ROWS, KEYS)
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        async with connection_for(redis, KEYS[0][0]) as connection:
            await execute_packed(connection, packed.payload, packed.replies)
    # The connection with unread replies was closed, not handed to the next command.
    assert await redis.get(KEYS[1][0]) == b"not a sorted set"
    assert await redis.zcard(KEYS[0][0]) == 4
