"""Rebuilding boards from the ledger (after Redis lost its data, or to check the projection).

1. Find the safe horizon H (see :mod:`app.leaderboards.projector`): every event with id <= H is
   committed (or rolled back) and nothing below it can still appear.
2. In one REPEATABLE READ snapshot, sum per member the entries that count, for each period set
   asked for (period bounds in the business timezone), with the same tie-break as the projector
   (the instant of the member's last scoring entry). Entries whose event is *above* H are left
   out: the snapshot may see some of them, but the projector applies those. So the sums are
   exactly "every event <= H", whatever commits around the rebuild.
3. Write them to temporary keys, then install them with one Lua script (RENAME), and tell the
   projector where they stand:
   - no cursor (a flushed Redis): the cursor becomes H;
   - the projector is behind H: a per-set marker H makes it skip events <= H for these sets only
     (the board's other sets still need them);
   - the projector is at or past H: the temporary sets are first caught up to its cursor with
     the same apply script, and installed only if the cursor has not moved meanwhile (else catch
     up again).
No event is counted twice or missed, and readers see the old set or the new one, never a half.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import text

from app.events.horizon import safe_horizon
from app.leaderboards import scripts
from app.leaderboards.boards import (
    Board,
    Period,
    PeriodKind,
    board_key,
    changes_for,
    cursor_key,
    get_board,
    index_key,
    markers_key,
    period_of,
    temp_prefix,
)
from app.leaderboards.packing import pack_standings
from app.leaderboards.projector import (
    announce,
    apply_changes,
    load_entries,
    read_cursor,
)
from app.ledger.queries import stream_points_by_member
from app.logging import get_logger
from app.redisclient import connection_for, execute_packed
from app.runtime import Runtime

log = get_logger("app.leaderboards.rebuild")

READ_CHUNK = 20_000  # members per chunk read from the ledger and pipelined to Redis
AGGREGATE_WORK_MEM = "256MB"
INSTALL_ATTEMPTS = 20
REBUILD_HORIZON_TIMEOUT = 60.0

# The entries whose event is above the horizon are the projector's: the ledger's per-member
# sums (points_by_member) leave them out. (Read first, in the same snapshot, and passed as an
# array: a correlated anti-join against ``events`` is at the planner's mercy, and after a bulk
# load without statistics it chose a nested loop of sequential scans.)
_ABOVE_HORIZON = text(
    """
    SELECT coalesce(array_agg((payload -> 'entry' ->> 'id')::bigint), '{}')
    FROM events WHERE id > :horizon AND type = ANY(:types) AND payload ? 'entry'
    """
)


class Total(NamedTuple):
    """A member's points on a period set and when it reached them (microseconds since 1970)."""

    member_id: int
    points: int
    reached: int


@dataclass
class RebuildReport:
    board: str
    horizon: int
    periods: dict[str, int] = field(default_factory=dict)  # period field → members on it
    skipped: list[str] = field(default_factory=list)  # retired periods (past their keep time)


@asynccontextmanager
async def ledger_rows(
    rt: Runtime,
    board: Board,
    periods: Sequence[Period],
    horizon: int,
    chunk: int,
    ranked_by: Period | None = None,
) -> AsyncIterator[AsyncIterator[Sequence[Sequence[Any]]]]:
    """The ledger's rows per member for ``periods`` (:func:`app.ledger.queries.
    stream_points_by_member`), counting the events up to ``horizon``, ``chunk`` members at a
    time, all read in one REPEATABLE READ snapshot by one scan of the entries; in the board
    order of ``ranked_by`` when given."""
    async with rt.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            # The per-member aggregate of a whole board: in memory, not spilled to disk.
            await conn.execute(text(f"SET LOCAL work_mem = '{AGGREGATE_WORK_MEM}'"))
            # The entries sorted by member and each member summed in turn cost PostgreSQL about
            # half the CPU of a hash table of every member (2.5 s against 4.4 s for a million
            # members: docs/PERFORMANCE.md); the planner, blind to the number of members behind
            # the union, picks the hash. The hash path's disabled cost would then pass the JIT
            # thresholds and compile for about a second: no JIT.
            await conn.execute(text("SET LOCAL enable_hashagg = off"))
            await conn.execute(text("SET LOCAL jit = off"))
            types = sorted(board.event_types)
            excluded = await conn.scalar(_ABOVE_HORIZON, {"horizon": horizon, "types": types})
            yield stream_points_by_member(
                conn,
                kinds=sorted(board.counted_kinds),
                spans=[(period.start, period.end) for period in periods],
                excluded=excluded,
                chunk=chunk,
                ranked_by=None if ranked_by is None else list(periods).index(ranked_by),
            )


async def stream_standings(
    rt: Runtime, board: Board, periods: Sequence[Period], horizon: int, *, chunk: int = READ_CHUNK
) -> AsyncIterator[dict[Period, list[Total]]]:
    """Each period set's members from the ledger, counting the events up to ``horizon``, a
    chunk of members at a time (all periods in one snapshot, one scan of the entries)."""
    async with ledger_rows(rt, board, periods, horizon, chunk) as chunks:
        async for rows in chunks:
            yield {
                period: [
                    Total(row[0], points, row[2 + 2 * i])
                    for row in rows
                    if (points := row[1 + 2 * i]) is not None and points > 0
                ]
                for i, period in enumerate(periods)
            }


async def ledger_standings(
    rt: Runtime, board: Board, periods: Sequence[Period], horizon: int
) -> dict[Period, list[Total]]:
    """Each period set's members from the ledger, counting the events up to ``horizon``."""
    found: dict[Period, list[Total]] = {period: [] for period in periods}
    async for chunk in stream_standings(rt, board, periods, horizon):
        for period, totals in chunk.items():
            found[period] += totals
    return found


def kept_periods(
    rt: Runtime, kinds: Sequence[PeriodKind] | None, at: datetime | None, retired: list[str]
) -> dict[Period, int | None]:
    """The period sets of ``kinds`` (default all) containing ``at`` (default now), with their
    keep time in seconds (None: for ever); those past their keep time go to ``retired``."""
    now = rt.clock.now()
    kept: dict[Period, int | None] = {}
    for kind in dict.fromkeys(kinds or list(PeriodKind)):
        period = period_of(kind, at or now, rt.settings.timezone)
        ttl = period.ttl_seconds(now)
        if ttl is not None and ttl <= 0:
            retired.append(period.field)
        else:
            kept[period] = ttl
    return kept


async def rebuild(
    rt: Runtime,
    board_name: str = "points-earned",
    periods: Sequence[PeriodKind] | None = None,
    *,
    at: datetime | None = None,
) -> RebuildReport:
    """Rebuild the board's period sets containing ``at`` (default: now) from the ledger."""
    board = get_board(board_name)
    horizon = await safe_horizon(rt.engine, wait_seconds=REBUILD_HORIZON_TIMEOUT)
    if horizon is None:
        raise RuntimeError("transactions kept running too long: could not find a safe horizon")
    report = RebuildReport(board=board.name, horizon=horizon)
    ttls = kept_periods(rt, periods, at, report.skipped)
    targets = list(ttls)
    if not targets:
        return report

    prefix = temp_prefix(board.name, secrets.token_hex(6))
    temp = {p: (f"{prefix}:{p.field}", f"{prefix}:{p.field}:members") for p in targets}
    temp_cursor, temp_markers = f"{prefix}:applied", f"{prefix}:markers"
    try:
        report.periods = await _write_temp(rt, board, horizon, temp)
        caught_up = horizon
        for _attempt in range(INSTALL_ATTEMPTS):
            cursor = await read_cursor(rt.redis, board.name)
            if cursor is not None and cursor > caught_up:
                await _catch_up(rt, board, temp, temp_cursor, temp_markers, caught_up, cursor)
                caught_up = cursor
            keys = [cursor_key(board.name), markers_key(board.name)]
            args: list[Any] = [horizon, "" if cursor is None else cursor]
            for period in targets:
                keys += [board_key(board.name, period), index_key(board.name, period)]
                keys += list(temp[period])
                args += [period.field, ttls[period] or 0]
            installed = await rt.redis.register_script(scripts.INSTALL)(keys=keys, args=args)
            if int(installed[0]) == 1:
                break
        else:
            raise RuntimeError("the projector kept moving: could not install the rebuilt board")
    finally:
        leftovers = [temp_cursor, temp_markers, *(k for pair in temp.values() for k in pair)]
        await rt.redis.unlink(*leftovers)
    # A rebuilt board may differ from what live widgets last saw: tell them to re-read (a
    # rebuild that absorbed new events would otherwise push nothing for them).
    await announce(rt, board, list(targets), caught_up)
    log.info("leaderboards.rebuilt", board=board.name, horizon=horizon, periods=report.periods)
    return report


async def _write_temp(
    rt: Runtime, board: Board, horizon: int, temp: dict[Period, tuple[str, str]]
) -> dict[str, int]:
    """Stream the ledger's standings into the temporary sets: each chunk of members read is
    packed by hand (:mod:`app.leaderboards.packing`: ZADD, HSET per set) and sent on one
    connection while the next chunk is read. The members per set."""
    periods = list(temp)
    keys = [temp[period] for period in periods]
    counts = dict.fromkeys((period.field for period in periods), 0)
    sending: asyncio.Future[None] | None = None
    async with connection_for(rt.redis, keys[0][0]) as connection:
        try:
            # Redis inserts into a sorted set in its own order about three times faster than
            # in member order (the skip list's path stays in cache): the largest set's order.
            largest = _largest(periods)
            async with ledger_rows(rt, board, periods, horizon, READ_CHUNK, largest) as chunks:
                async for rows in chunks:
                    packed = pack_standings(rows, keys)
                    for period, members in zip(periods, packed.members, strict=True):
                        counts[period.field] += members
                    if sending is not None:
                        await sending
                    sending = asyncio.ensure_future(
                        execute_packed(connection, packed.payload, packed.replies)
                    )
            if sending is not None:
                await sending
        finally:
            # A failed read must not leave a send writing on a connection being closed.
            if sending is not None and not sending.done():
                sending.cancel()
                with suppress(asyncio.CancelledError):
                    await sending
    return counts


def _largest(periods: Sequence[Period]) -> Period:
    """The period whose set is likely the largest: all time, else the longest."""

    def length(period: Period) -> timedelta:
        if period.start is None or period.end is None:
            return timedelta.max
        return period.end - period.start

    return max(periods, key=length)


async def _catch_up(
    rt: Runtime,
    board: Board,
    temp: dict[Period, tuple[str, str]],
    temp_cursor: str,
    temp_markers: str,
    lo: int,
    hi: int,
) -> None:
    """Apply the events in ``(lo, hi]`` to the temporary sets (the projector already passed H)."""
    await rt.redis.set(temp_cursor, lo)
    limit = rt.settings.leaderboard_batch_size
    while lo < hi:
        async with rt.engine.connect() as conn:
            entries = await load_entries(conn, board, lo, hi, limit)
        upto = entries[-1].event_id if len(entries) == limit else hi
        now = rt.clock.now()
        changes = [
            c
            for entry in entries
            for c in changes_for(board, entry, rt.settings.timezone, now)
            if c.period in temp
        ]
        result = await apply_changes(
            rt.redis,
            cursor=temp_cursor,
            markers=temp_markers,
            lo=lo,
            upto=upto,
            changes=changes,
            key_of=temp,
        )
        lo = result.cursor
