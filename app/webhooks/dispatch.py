"""The dispatcher: outbox events → one message per matching endpoint, nothing skipped.

It follows the whole outbox by id with one cursor (``webhook_cursor``), moved in the same
transaction as the messages it made, so a crash either made them and moved it, or neither.
Event ids commit out of order across topics, so it reads only up to the outbox's safe horizon
(app/events/horizon.py), as the leaderboard projector does: an event committed late is never
behind the cursor. The cursor row is locked with SKIP LOCKED: with several workers one
dispatches while the others go on delivering. Events committed while no dispatcher ran are
read when one starts again (as long as the outbox keeps them: ``JIFEN_EVENT_RETENTION_HOURS``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from sqlalchemy import Text, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from app.events.horizon import safe_horizon
from app.events.tables import EVENT_COLUMNS, events
from app.logging import get_logger
from app.runtime import Runtime
from app.webhooks.matching import OutboxEvent, Subscription, body, recipients
from app.webhooks.tables import webhook_cursor, webhook_endpoints

log = get_logger("app.webhooks.dispatch")

CURSOR = "outbox"
HORIZON_WAIT_SECONDS = 5.0

# The channels each member is linked to: the members domain answers it (wired in by the
# process that runs the dispatcher), so webhooks need not read another domain's tables.
ChannelsOf = Callable[[AsyncConnection, list[int]], Awaitable[Mapping[int, frozenset[str]]]]


_ENSURE_CURSOR = text(
    "INSERT INTO webhook_cursor (name, last_event_id)"
    " VALUES (:name, coalesce(CAST(:start AS bigint), (SELECT max(id) FROM events), 0))"
    " ON CONFLICT (name) DO NOTHING"
)


# The messages as columns (arrays, one per field), so that the statement is the same whatever the
# number of messages: prepared and compiled once. A multi-row VALUES is a new statement for each
# count, compiled every time: it was a sixth of the worker's CPU at 1,000 events a second. The
# cursor moves past the batch in the same statement (one round trip of a pass fewer); with no
# message the arrays are empty and only the cursor moves.
_INSERT_MESSAGES = text(
    """
    WITH moved AS (
        UPDATE webhook_cursor SET last_event_id = :upto, updated_at = now() WHERE name = :name
    )
    INSERT INTO webhook_messages (endpoint_id, event_id, event_type, member_id, body,
                                  event_created_at, next_attempt_at, created_at)
    SELECT u.endpoint_id, u.event_id, u.event_type, u.member_id, u.body, u.event_created_at,
           :now, :now
    FROM unnest(CAST(:endpoint_ids AS bigint[]), CAST(:event_ids AS bigint[]),
                CAST(:event_types AS text[]), CAST(:member_ids AS bigint[]),
                CAST(:bodies AS bytea[]), CAST(:created AS timestamptz[]))
         AS u(endpoint_id, event_id, event_type, member_id, body, event_created_at)
    ON CONFLICT (endpoint_id, event_id) DO NOTHING
    """
)


# A pass's reads, built once: building a query's expression (its clauses, their coercions) at
# every pass was about a tenth of a pass's CPU (cProfile, docs/PERFORMANCE.md "Webhooks").
_LOCKED_CURSOR = (
    select(webhook_cursor.c.last_event_id)
    .where(webhook_cursor.c.name == CURSOR)
    .with_for_update(skip_locked=True)
)
_SUBSCRIPTIONS = select(
    webhook_endpoints.c.id, webhook_endpoints.c.event_types, webhook_endpoints.c.channel
).where(webhook_endpoints.c.enabled)
_EVENTS = (
    select(*EVENT_COLUMNS)
    .where(
        events.c.id > bindparam("after"),
        events.c.id <= bindparam("upto"),
        events.c.type == func.any(bindparam("types", type_=ARRAY(Text))),
    )
    .order_by(events.c.id)
    .limit(bindparam("limit"))
)


async def ensure_cursor(conn: AsyncConnection, start: int | None = None) -> None:
    """Create the cursor if there is none: at ``start``, else at the newest visible event (an
    outbox's history is not sent to endpoints that did not exist then)."""
    await conn.execute(_ENSURE_CURSOR, {"name": CURSOR, "start": start})


async def _locked_cursor(conn: AsyncConnection) -> int | None:
    """The cursor, locked for this transaction; None while another dispatcher holds it."""
    value = await conn.scalar(_LOCKED_CURSOR)
    return None if value is None else int(value)


async def _subscriptions(conn: AsyncConnection) -> list[Subscription]:
    rows = await conn.execute(_SUBSCRIPTIONS)
    return [Subscription(r.id, frozenset(r.event_types), r.channel) for r in rows]


async def _events(
    conn: AsyncConnection, after: int, upto: int, types: Sequence[str], limit: int
) -> list[OutboxEvent]:
    rows = await conn.execute(
        _EVENTS, {"after": after, "upto": upto, "types": list(types), "limit": limit}
    )
    return [OutboxEvent(r.id, r.topic, r.type, r.payload, r.created_at, r.member_id) for r in rows]


async def _channels(
    conn: AsyncConnection,
    batch: Sequence[OutboxEvent],
    subscriptions: Sequence[Subscription],
    channels_of: ChannelsOf,
) -> Mapping[int, frozenset[str]]:
    if all(s.channel is None for s in subscriptions):
        return {}
    members = sorted({e.member_id for e in batch if e.member_id is not None})
    return await channels_of(conn, members) if members else {}


def _messages(
    batch: Sequence[OutboxEvent],
    subscriptions: Sequence[Subscription],
    channels: Mapping[int, frozenset[str]],
) -> dict[str, list[object]]:
    """The batch's messages, one array per column of ``_INSERT_MESSAGES``."""
    columns: dict[str, list[object]] = {
        name: []
        for name in ("endpoint_ids", "event_ids", "event_types", "member_ids", "bodies", "created")
    }
    for event in batch:
        targets = recipients(event, subscriptions, channels)
        if not targets:
            continue
        content = body(event)
        for endpoint_id in targets:
            columns["endpoint_ids"].append(endpoint_id)
            columns["event_ids"].append(event.id)
            columns["event_types"].append(event.type)
            columns["member_ids"].append(event.member_id)
            columns["bodies"].append(content)
            columns["created"].append(event.created_at)
    return columns


async def _dispatch_batch(rt: Runtime, horizon: int, channels_of: ChannelsOf) -> tuple[int, bool]:
    """One transaction: messages for the next events up to ``horizon``, and the cursor moved
    past them. Returns (messages made, more to read)."""
    limit = rt.settings.webhook_dispatch_batch
    async with rt.engine.begin() as conn:
        cursor = await _locked_cursor(conn)
        # Created only when the read finds no row, not before every pass (a statement of each
        # pass fewer): there is none yet, or another dispatcher holds it (the INSERT then does
        # nothing, the read finds it held again, and this pass leaves it to that one).
        if cursor is None:
            await ensure_cursor(conn, horizon)
            cursor = await _locked_cursor(conn)
        if cursor is None or cursor >= horizon:
            return 0, False
        subscriptions = await _subscriptions(conn)
        types = sorted({t for s in subscriptions for t in s.event_types})
        batch = await _events(conn, cursor, horizon, types, limit) if types else []
        upto = batch[-1].id if len(batch) == limit else horizon
        channels = await _channels(conn, batch, subscriptions, channels_of)
        columns = _messages(batch, subscriptions, channels)
        await conn.execute(
            _INSERT_MESSAGES, {**columns, "now": rt.clock.now(), "upto": upto, "name": CURSOR}
        )
    return len(columns["event_ids"]), upto < horizon


async def dispatch_pending(rt: Runtime, channels_of: ChannelsOf) -> int:
    """Make the messages of every final event after the cursor; the number made. Safe to run in
    any number of processes at once."""
    horizon = await safe_horizon(rt.engine, wait_seconds=HORIZON_WAIT_SECONDS)
    if horizon is None:
        log.warning("webhooks.horizon_timeout")
        return 0
    made, more = 0, True
    while more:
        count, more = await _dispatch_batch(rt, horizon, channels_of)
        made += count
    return made
