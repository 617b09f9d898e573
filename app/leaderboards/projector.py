"""The projector: ledger events → board sorted sets, each event applied exactly once.

It reads the outbox table itself (by event id, in order, after the board's cursor kept in
Redis), so it is a catch-up loop that needs neither the relay nor pub/sub; the relay, or
anything else, may wake it early. Each batch goes to Redis as one Lua script that checks the
cursor, applies the events above it and moves it — atomically, so several processes may run
:func:`apply_pending` at once: whoever comes second finds the cursor past its events and
applies nothing.

**The horizon.** Event ids commit out of order across topics, so a batch only goes up to the
outbox's safe horizon (app/events/horizon.py). Ledger transactions are short, so the wait is
usually none or a few milliseconds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.events.horizon import safe_horizon
from app.leaderboards import scripts
from app.leaderboards.boards import (
    BOARDS,
    Board,
    Change,
    Period,
    ScoredEntry,
    board_key,
    changes_for,
    cursor_key,
    get_board,
    index_key,
    leaderboard_topic,
    markers_key,
)
from app.ledger.queries import ENTRIES_WITH_REVERSED
from app.logging import get_logger
from app.redisclient import RedisClient, publish
from app.runtime import Runtime

log = get_logger("app.leaderboards.projector")

_LOAD = text(
    f"""
    SELECT ev.id AS event_id, e.member_id, e.kind, e.amount, e.created_at,
           e.reversed_kind, e.reversed_created_at
    FROM events ev
    JOIN {ENTRIES_WITH_REVERSED} e ON e.id = (ev.payload -> 'entry' ->> 'id')::bigint
    WHERE ev.id > :lo AND ev.id <= :hi AND ev.type = ANY(:types)
    ORDER BY ev.id
    LIMIT :limit
    """
)


async def load_entries(
    conn: AsyncConnection, board: Board, lo: int, hi: int, limit: int
) -> list[ScoredEntry]:
    """The board's events in ``(lo, hi]``, oldest first, with their entries (and reversed ones)."""
    rows = await conn.execute(
        _LOAD, {"lo": lo, "hi": hi, "types": sorted(board.event_types), "limit": limit}
    )
    return [
        ScoredEntry(
            event_id=r.event_id,
            member_id=r.member_id,
            kind=r.kind,
            amount=r.amount,
            created_at=r.created_at,
            reversed_kind=r.reversed_kind,
            reversed_created_at=r.reversed_created_at,
        )
        for r in rows
    ]


@dataclass(frozen=True)
class ApplyResult:
    status: int  # 1 applied, 0 nothing new, -1 stale cursor
    cursor: int
    applied: int


async def apply_changes(
    redis: RedisClient,
    *,
    cursor: str,
    markers: str,
    lo: int,
    upto: int,
    changes: Sequence[Change],
    key_of: dict[Period, tuple[str, str]],
) -> ApplyResult:
    """Run the APPLY script: the changes of events in ``(lo, upto]`` onto the given sets."""
    periods = list(dict.fromkeys(change.period for change in changes))
    number = {period: n for n, period in enumerate(periods, start=1)}
    keys = [cursor, markers]
    for period in periods:
        keys.extend(key_of[period])
    packed: list[int | str] = []
    for change in changes:
        packed += (
            change.event_id,
            number[change.period],
            str(change.member_id),  # a hash field: a string, whatever its size
            change.delta,
            change.element,
            change.ttl or 0,
        )
    fields = [period.field for period in periods]
    args: list[Any] = [lo, upto, len(periods), *fields, json.dumps(packed, separators=(",", ":"))]
    result = await redis.register_script(scripts.APPLY)(keys=keys, args=args)
    return ApplyResult(int(result[0]), int(result[1]), int(result[2]))


def live_keys(board: Board, periods: Sequence[Period]) -> dict[Period, tuple[str, str]]:
    """The live (sorted set, index) keys of each distinct period (given once per change)."""
    return {p: (board_key(board.name, p), index_key(board.name, p)) for p in dict.fromkeys(periods)}


@dataclass
class ProjectionReport:
    events: int = 0  # events of the boards' types read
    applied: int = 0  # period-set changes applied by this call (not by a concurrent one)
    cursors: dict[str, int] = field(default_factory=dict)


async def events_lost_after(rt: Runtime, cursor: int) -> bool:
    """True when the outbox no longer holds every event after ``cursor``: the relay's purge mark
    (the greatest id it deleted) is beyond it, so the relay purged events the projector never
    applied (it was stopped longer than the retention time). A gap left by a rolled-back id is
    no purge and triggers no rebuild."""
    async with rt.engine.connect() as conn:
        mark = await conn.scalar(text("SELECT purged_through FROM events_purge_mark"))
    return mark is not None and int(mark) > cursor


async def read_cursor(redis: RedisClient, board: str) -> int | None:
    value = await redis.get(cursor_key(board))
    return None if value is None else int(value)


async def apply_pending(
    rt: Runtime, boards: Sequence[str] | None = None, *, batch_size: int | None = None
) -> ProjectionReport:
    """Apply every final event after each board's cursor, a batch at a time.

    A board without a cursor (a fresh Redis) starts from the first event still in the table;
    :func:`app.leaderboards.runner.run_projector` rebuilds such a board from the ledger instead.
    Safe to run concurrently in any number of processes.
    """
    report = ProjectionReport()
    horizon = await safe_horizon(rt.engine, wait_seconds=rt.settings.leaderboard_horizon_timeout)
    if horizon is None:
        log.warning("leaderboards.horizon_timeout")
        return report
    limit = batch_size or rt.settings.leaderboard_batch_size
    for name in boards or list(BOARDS):
        board = get_board(name)
        lo = await read_cursor(rt.redis, board.name) or 0
        while lo < horizon:
            async with rt.engine.connect() as conn:
                entries = await load_entries(conn, board, lo, horizon, limit)
            upto = entries[-1].event_id if len(entries) == limit else horizon
            now = rt.clock.now()
            tz = rt.settings.timezone
            changes = [c for entry in entries for c in changes_for(board, entry, tz, now)]
            key_of = live_keys(board, [c.period for c in changes])
            result = await apply_changes(
                rt.redis,
                cursor=cursor_key(board.name),
                markers=markers_key(board.name),
                lo=lo,
                upto=upto,
                changes=changes,
                key_of=key_of,
            )
            report.events += len(entries)
            if result.status < 0:
                log.warning("leaderboards.cursor_gone", board=board.name, cursor=result.cursor)
                break
            report.applied += result.applied
            if result.applied:
                await announce(rt, board, list(key_of), result.cursor)
            lo = result.cursor
        report.cursors[board.name] = lo
    return report


async def announce(rt: Runtime, board: Board, periods: list[Period], event_id: int) -> None:
    """Publish a change notice per period set touched: a hint for live leaderboard widgets."""
    from app.events.broadcast import channel_prefix

    prefix = channel_prefix(rt.settings.redis_url or "", rt.settings.event_channel_prefix)
    now = rt.clock.now().isoformat()
    async with rt.redis.pipeline(transaction=False) as pipe:
        for period in periods:
            topic = leaderboard_topic(board.name, period)
            publish(pipe, prefix + topic, notice(topic, board, period, event_id, now))
        await pipe.execute()


def notice(topic: str, board: Board, period: Period, event_id: int, created_at: str) -> str:
    """The change notice, shaped like the relay's event messages (``StoredEvent``)."""
    return json.dumps(
        {
            "id": event_id,
            "topic": topic,
            "type": "leaderboard.changed",
            "created_at": created_at,
            "payload": {
                "board": board.name,
                "period": period.kind.value,
                "period_id": period.id,
                "last_event_id": event_id,
            },
        }
    )
