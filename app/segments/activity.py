"""Each member's own activity, kept from the outbox so a segmentation run reads a row per member
instead of the window's ten million entries (docs/ANALYTICS.md, "Segments").

``member_activity`` holds, per member, every activity and net earned point since the programme
began and the part of them at or before ``aged_until``; with ``aged_until`` at the window's
start, the window's figures are the difference. A run moves ``aged_until`` on to its own
window's start first, adding what left the window meanwhile (a day of entries, by the
``created_at`` index). Both sums count each entry as ACTIVITY_JOURNAL says
(app/ledger/reporting.py), so the window's figures equal ACTIVITY_BY_MEMBER_SQL's from scratch
once every event is applied (tests/segments/test_activity.py).

The projection reads the outbox by event id up to the safe horizon, as the analytics rollups do
(the worker's rollup loop drives both: app/analytics/runner.py), and writes a batch and its
cursor in one transaction under its own advisory lock, which a run holds while it ages and
reads the rows. Without a cursor it rebuilds from the ledger, leaving out the entries whose
events are above the horizon (the projection's to apply); ``jifen analytics rebuild`` rebuilds
it too.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.errors import DomainError, ErrorCode
from app.events.horizon import safe_horizon
from app.ledger.reporting import ACTIVITY_BETWEEN_SQL, ACTIVITY_JOURNAL, ENTRY_EVENT_TYPES
from app.runtime import Runtime

# The advisory lock of the activity rollup's writers (its projection, rebuild and aging): "JFSA".
LOCK_KEY = 0x4A465341
EVENTS_PER_BATCH = 5_000
# A run's wait for a horizon: a transaction still open after this is applied by the next round.
HORIZON_WAIT_SECONDS = 5.0

_ENTRY_TYPES = ", ".join(f"'{t}'" for t in ENTRY_EVENT_TYPES)
# The entries whose events are above :hi (not applied yet).
_PENDING = (
    "SELECT (ev.payload -> 'entry' ->> 'id')::bigint FROM events ev"
    f" WHERE ev.id > :hi AND ev.type IN ({_ENTRY_TYPES})"
)
_EVENT_FACTS = f"""
    SELECT j.member_id, j.at, j.acts, j.earned, j.last_at
    FROM events ev JOIN {ACTIVITY_JOURNAL} j ON j.id = (ev.payload -> 'entry' ->> 'id')::bigint
    WHERE ev.id > :lo AND ev.id <= :hi AND ev.type IN ({_ENTRY_TYPES})
"""
_TABLE_FACTS = f"""
    SELECT j.member_id, j.at, j.acts, j.earned, j.last_at
    FROM {ACTIVITY_JOURNAL} j WHERE j.id NOT IN ({_PENDING})
"""
_ADD = """
    INSERT INTO member_activity (member_id, acts, earned, aged_acts, aged_earned, last_at)
    SELECT f.member_id, sum(f.acts), sum(f.earned),
           coalesce(sum(f.acts) FILTER (WHERE f.at <= s.aged_until), 0),
           coalesce(sum(f.earned) FILTER (WHERE f.at <= s.aged_until), 0), max(f.last_at)
    FROM ({facts}) AS f CROSS JOIN member_activity_state s
    GROUP BY f.member_id
    ON CONFLICT (member_id) DO UPDATE SET
        acts = member_activity.acts + excluded.acts,
        earned = member_activity.earned + excluded.earned,
        aged_acts = member_activity.aged_acts + excluded.aged_acts,
        aged_earned = member_activity.aged_earned + excluded.aged_earned,
        last_at = greatest(member_activity.last_at, excluded.last_at)
"""
_ADD_EVENTS = text(_ADD.format(facts=_EVENT_FACTS))
_ADD_TABLES = text(_ADD.format(facts=_TABLE_FACTS))
# What moved across the window's start between :after and :until, in or out (:sign).
_AGE = text(
    f"""
    UPDATE member_activity ma
    SET aged_acts = ma.aged_acts + :sign * m.acts, aged_earned = ma.aged_earned + :sign * m.earned
    FROM ({ACTIVITY_BETWEEN_SQL.format(pending=_PENDING)}) AS m
    WHERE ma.member_id = m.member_id
    """
)
_LOCK = text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=LOCK_KEY)
_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)").bindparams(key=LOCK_KEY)
_STATE = text("SELECT last_event_id, aged_until FROM member_activity_state WHERE id = 1")
_SET_STATE = text(
    """
    INSERT INTO member_activity_state (id, last_event_id, aged_until) VALUES (1, :hi, :aged)
    ON CONFLICT (id) DO UPDATE SET last_event_id = :hi, aged_until = :aged
    """
)
_MOVE_CURSOR = text("UPDATE member_activity_state SET last_event_id = :hi WHERE id = 1")
_SET_AGED = text("UPDATE member_activity_state SET aged_until = :aged WHERE id = 1")
_EMPTY = text("TRUNCATE member_activity")
_ANALYZE = text("ANALYZE member_activity")


async def activity_cursor(conn: AsyncConnection) -> int | None:
    """Where the projection stands; None before its first rebuild."""
    row = (await conn.execute(_STATE)).one_or_none()
    return None if row is None else int(row.last_event_id)


async def rebuild_activity(conn: AsyncConnection, horizon: int, aged_until: datetime) -> None:
    """Sum the ledger again, up to the safe horizon ``horizon`` (inside the caller's
    transaction), with the window's start at ``aged_until``."""
    await conn.execute(_LOCK)
    await conn.execute(_EMPTY)
    await conn.execute(_SET_STATE, {"hi": horizon, "aged": aged_until})
    await conn.execute(_ADD_TABLES, {"hi": horizon})
    await conn.execute(_ANALYZE)  # a run plans over it next: a million rows, no statistics


async def apply_activity(rt: Runtime, horizon: int, *, wait: bool = True) -> bool:
    """Apply the events up to ``horizon`` (a safe horizon), a batch at a time; rebuild first
    when there is no cursor yet. Without ``wait`` a round gives way to a run holding the lock
    (the next round applies what it left). False when it gave way."""
    while True:
        async with rt.engine.begin() as conn:
            if wait:
                await conn.execute(_LOCK)
            elif not await conn.scalar(_TRY_LOCK):
                return False
            cursor = await activity_cursor(conn)
            if cursor is None:
                since = rt.clock.now() - timedelta(days=rt.settings.segment_window_days)
                await rebuild_activity(conn, horizon, since)
                return True
            if cursor >= horizon:
                return True
            hi = min(horizon, cursor + EVENTS_PER_BATCH)
            await conn.execute(_ADD_EVENTS, {"lo": cursor, "hi": hi})
            await conn.execute(_MOVE_CURSOR, {"hi": hi})


async def catch_up(rt: Runtime) -> None:
    """Bring the activity up to the outbox's safe horizon (what a run does first); a
    transaction still open after a few seconds is left to the next round."""
    horizon = await safe_horizon(rt.engine, wait_seconds=HORIZON_WAIT_SECONDS)
    if horizon is not None:
        await apply_activity(rt, horizon)


async def age_activity(conn: AsyncConnection, window_start: datetime) -> None:
    """Move the window's start to ``window_start`` (either way), inside the caller's
    transaction, which keeps the projection's lock until it ends (a run reads the rows
    next)."""
    await conn.execute(_LOCK)
    row = (await conn.execute(_STATE)).one_or_none()
    if row is None:
        raise DomainError(
            ErrorCode.UNAVAILABLE, "members' activity is not built yet: transactions kept running"
        )
    aged_until: datetime = row.aged_until
    if aged_until == window_start:
        return
    after, until = sorted((aged_until, window_start))
    sign = 1 if window_start > aged_until else -1
    params = {"after": after, "until": until, "sign": sign, "hi": row.last_event_id}
    await conn.execute(_AGE, params)
    await conn.execute(_SET_AGED, {"aged": window_start})
