"""Appending events to the outbox, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Insert, String, literal, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import unnest_params, unnest_rows
from app.events.tables import events

# Topics that only signal a change (their subscribers re-read state, never resume by id) start
# with this: the outbox trigger does not order them by a topic lock (migration 0008), so many
# transactions may write one without queueing on it. Every other topic is in commit order.
SIGNAL_PREFIX = "signal:"


def member_topic(member_id: int) -> str:
    return f"member:{member_id}"


async def append_event(
    conn: AsyncConnection, topic: str, event_type: str, payload: dict[str, Any]
) -> None:
    await conn.execute(events.insert().values(topic=topic, type=event_type, payload=payload))


async def append_events(
    conn: AsyncConnection, appended: Sequence[tuple[str, str, dict[str, Any]]]
) -> None:
    """Many ``(topic, type, payload)`` events in one statement (a batch's, the expiry sweep's),
    in the order given: each topic's events keep their order."""
    if appended:
        await conn.execute(events_insert(appended))


def events_insert(appended: Sequence[tuple[str, str, dict[str, Any]]]) -> Insert:
    """The INSERT of :func:`append_events` (at least one event), for a caller that sends it
    with other work in one statement (as a data-modifying CTE)."""
    topics, types, payloads = zip(*appended, strict=True)
    rows = unnest_rows(
        topic=(String(), topics), type=(String(), types), payload=(JSONB(), payloads)
    )
    return _inserted(rows)


def events_insert_params(prefix: str) -> Insert:
    """:func:`events_insert` with the events as parameters (:func:`event_params`), for a
    statement built once (app/db.py ``unnest_params``)."""
    return _inserted(unnest_params(prefix, topic=String(), type=String(), payload=JSONB()))


def event_params(prefix: str, appended: Sequence[tuple[str, str, Any]]) -> dict[str, Any]:
    """The parameters of :func:`events_insert_params` for these events (at least one)."""
    topics, types, payloads = zip(*appended, strict=True)
    return {
        f"{prefix}topic": list(topics),
        f"{prefix}type": list(types),
        f"{prefix}payload": list(payloads),
    }


def _inserted(rows: FromClause) -> Insert:
    return events.insert().from_select(
        ["topic", "type", "payload"], select(rows.c.topic, rows.c.type, rows.c.payload)
    )


def event_for_each(
    source: FromClause,
    topic: str,
    event_type: str,
    payload: dict[str, Any] | ColumnElement[Any],
) -> Insert:
    """The event's INSERT, one row per row of ``source`` (a data-modifying CTE, say): for an
    event written in the same statement as the row it announces, and only if that row was.
    ``payload`` is the same for every row, or a JSONB expression over ``source``'s columns."""
    body = (
        payload if isinstance(payload, ColumnElement) else literal(payload, events.c.payload.type)
    )
    values = select(
        literal(topic, events.c.topic.type),
        literal(event_type, events.c.type.type),
        body,
    ).select_from(source)
    return events.insert().from_select(["topic", "type", "payload"], values)
