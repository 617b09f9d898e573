"""The rebuild's Redis commands, packed by hand: a chunk of members becomes the bytes of one
``ZADD`` and one ``HSET`` per period set, built with one join.

Why: redis-py packs every argument on its own (encode, measure, concatenate): a million members'
rebuild is about 5.3 million arguments, most of its Python time (docs/PERFORMANCE.md,
"Leaderboard rebuild"). Here an element costs a few f-strings: the element's length is fixed by
its encoding, and the lengths that vary (a score, a member id) are measured once.

The bytes are exactly what redis-py would send for the same commands (tests/leaderboards/
test_packing.py compares them), and every value that would not fit the fixed width is refused
before anything is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.leaderboards.boards import ID_CEILING, ID_DIGITS, TS_CEILING, TS_DIGITS

ELEMENT_LENGTH = TS_DIGITS + 1 + ID_DIGITS


@dataclass(frozen=True)
class PackedChunk:
    """The RESP bytes of a chunk's commands, how many replies they get, and how many members
    went to each period set (in the order of the keys given)."""

    payload: bytes
    replies: int
    members: list[int]


def _header(command: str, key: str, pairs: int) -> str:
    name = key.encode()
    return f"*{2 + 2 * pairs}\r\n${len(command)}\r\n{command}\r\n${len(name)}\r\n{key}\r\n"


def pack_standings(
    rows: Sequence[Sequence[int | None]], keys: Sequence[tuple[str, str]]
) -> PackedChunk:
    """``rows``: per member ``(member_id, points, reached, points, reached, …)``, one pair per
    period set of ``keys`` (``(sorted set, member index)``), ``reached`` in microseconds since
    1970; a set's points None or not positive: the member is not on it. The commands: per set
    with members, ``ZADD set points element …`` and ``HSET index member_id element …``."""
    scored: list[list[str]] = [[] for _ in keys]
    indexed: list[list[str]] = [[] for _ in keys]
    spans = [(1 + 2 * i, scored[i], indexed[i]) for i in range(len(keys))]
    for row in rows:
        member_id = row[0]
        if member_id is None or not 0 <= member_id <= ID_CEILING:
            raise ValueError(f"member id out of range: {member_id}")
        tail = f"{ID_CEILING - member_id:0{ID_DIGITS}d}\r\n"
        name = str(member_id)
        field = f"${len(name)}\r\n{name}\r\n"
        for column, zadd, hset in spans:
            points = row[column]
            if points is None or points <= 0:
                continue
            reached = row[column + 1]
            if reached is None or not 0 <= reached <= TS_CEILING:
                raise ValueError(f"instant out of range: {reached} µs since 1970")
            element = f"${ELEMENT_LENGTH}\r\n{TS_CEILING - reached:0{TS_DIGITS}d}.{tail}"
            score = str(points)
            zadd.append(f"${len(score)}\r\n{score}\r\n{element}")
            hset.append(field + element)
    parts: list[str] = []
    replies = 0
    for (zset, index), zadd, hset in zip(keys, scored, indexed, strict=True):
        if zadd:
            parts.append(_header("ZADD", zset, len(zadd)))
            parts += zadd
            parts.append(_header("HSET", index, len(hset)))
            parts += hset
            replies += 2
    return PackedChunk("".join(parts).encode(), replies, [len(zadd) for zadd in scored])
