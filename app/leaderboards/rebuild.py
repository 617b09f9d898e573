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
from dataclasses import dataclass, field
from datetime import datetime
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
    encode_micros,
    get_board,
    index_key,
    markers_key,
    period_of,
    temp_prefix,
)
from app.leaderboards.projector import (
    announce,
    apply_changes,
    load_entries,
    read_cursor,
)
from app.ledger.queries import stream_points_by_member
from app.logging import get_logger
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


async def stream_standings(
    rt: Runtime, board: Board, periods: Sequence[Period], horizon: int, *, chunk: int = READ_CHUNK
) -> AsyncIterator[dict[Period, list[Total]]]:
    """Each period set's members from the ledger, counting the events up to ``horizon``, a
    chunk of members at a time.

    All periods are read in one REPEATABLE READ snapshot, by one scan of the entries streamed
    from a server-side cursor (:func:`app.ledger.queries.stream_points_by_member`)."""
    async with rt.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            # The per-member aggregate of a whole board: in memory, not spilled to disk.
            await conn.execute(text(f"SET LOCAL work_mem = '{AGGREGATE_WORK_MEM}'"))
            types = sorted(board.event_types)
            excluded = await conn.scalar(_ABOVE_HORIZON, {"horizon": horizon, "types": types})
            async for rows in stream_points_by_member(
                conn,
                kinds=sorted(board.counted_kinds),
                spans=[(period.start, period.end) for period in periods],
                excluded=excluded,
                chunk=chunk,
            ):
                yield {
                    period: [
                        Total(member_id, *counted)
                        for member_id, spans in rows
                        if (counted := spans[i]) is not None
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
        await rt.redis.delete(*leftovers)
    # A rebuilt board may differ from what live widgets last saw: tell them to re-read (a
    # rebuild that absorbed new events would otherwise push nothing for them).
    await announce(rt, board, list(targets), caught_up)
    log.info("leaderboards.rebuilt", board=board.name, horizon=horizon, periods=report.periods)
    return report


async def _write_temp(
    rt: Runtime, board: Board, horizon: int, temp: dict[Period, tuple[str, str]]
) -> dict[str, int]:
    """Stream the ledger's standings into the temporary sets: each chunk of members read is one
    pipeline (ZADD, HSET per set), sent while the next chunk is read. The members per set."""
    counts = dict.fromkeys((period.field for period in temp), 0)
    sending: asyncio.Task[Any] | None = None
    async for chunk in stream_standings(rt, board, list(temp), horizon):
        pipe = rt.redis.pipeline(transaction=False)
        for period, totals in chunk.items():
            if not totals:
                continue
            zset, index = temp[period]
            elements = [encode_micros(t.member_id, t.reached) for t in totals]
            pipe.zadd(zset, dict(zip(elements, (t.points for t in totals), strict=True)))
            pipe.hset(
                index, mapping=dict(zip((t.member_id for t in totals), elements, strict=True))
            )
            counts[period.field] += len(totals)
        if sending is not None:
            await sending
        sending = asyncio.ensure_future(pipe.execute())
    if sending is not None:
        await sending
    return counts


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
