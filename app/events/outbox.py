"""Appending events to the outbox, inside the caller's transaction.

Every event is stored with a ``member_id`` (migration 0044): the member whose write raised it,
the column the outbox is distributed by under Citus (docs/SCALING.md, "Citus"), so that the
event lands on the shard of the rows it announces. A member topic's events carry the topic's
member (a CHECK holds them to it); a signal raised by a member's write may carry that member
(``member_id=``); an event no member's write raised carries :data:`PROGRAMME`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, FromClause, Insert, String, literal, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import unnest_params, unnest_rows
from app.events.tables import events

# Topics that only signal a change (their subscribers re-read state, never resume by id) start
# with this: the outbox trigger does not order them by a topic lock (migration 0008), so many
# transactions may write one without queueing on it. Every other topic is in commit order.
SIGNAL_PREFIX = "signal:"
MEMBER_PREFIX = "member:"

# The member_id of an event no member's write raised (a job's, staff's, an alert's): no member
# has id 0 (identities start at 1). Under Citus these share the one shard 0 hashes to; they are
# few (docs/DECISIONS.md, "The outbox carries member_id").
PROGRAMME = 0


def member_topic(member_id: int) -> str:
    return f"{MEMBER_PREFIX}{member_id}"


def event_member(topic: str, member_id: int | None = None) -> int:
    """The ``member_id`` an event of ``topic`` is stored with: ``member_id`` when the writer
    names the member whose write raised it, else a member topic's member, else
    :data:`PROGRAMME`."""
    if member_id is not None:
        return member_id
    if topic.startswith(MEMBER_PREFIX):
        return int(topic[len(MEMBER_PREFIX) :])
    return PROGRAMME


async def append_event(
    conn: AsyncConnection,
    topic: str,
    event_type: str,
    payload: dict[str, Any],
    *,
    member_id: int | None = None,
) -> None:
    await conn.execute(
        events.insert().values(
            member_id=event_member(topic, member_id), topic=topic, type=event_type, payload=payload
        )
    )


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
        member_id=(BigInteger(), [event_member(topic) for topic in topics]),
        topic=(String(), topics),
        type=(String(), types),
        payload=(JSONB(), payloads),
    )
    return _inserted(rows)


def events_insert_params(prefix: str) -> Insert:
    """:func:`events_insert` with the events as parameters (:func:`event_params`), for a
    statement built once (app/db.py ``unnest_params``)."""
    rows = unnest_params(
        prefix, member_id=BigInteger(), topic=String(), type=String(), payload=JSONB()
    )
    return _inserted(rows)


def event_params(
    prefix: str, appended: Sequence[tuple[str, str, Any]], *, member_id: int | None = None
) -> dict[str, Any]:
    """The parameters of :func:`events_insert_params` for these events (at least one), each
    stored with ``member_id`` if given (the member whose write raised them all)."""
    topics, types, payloads = zip(*appended, strict=True)
    return {
        f"{prefix}member_id": [event_member(topic, member_id) for topic in topics],
        f"{prefix}topic": list(topics),
        f"{prefix}type": list(types),
        f"{prefix}payload": list(payloads),
    }


def _inserted(rows: FromClause) -> Insert:
    return events.insert().from_select(
        ["member_id", "topic", "type", "payload"],
        select(rows.c.member_id, rows.c.topic, rows.c.type, rows.c.payload),
    )


def event_for_each(
    source: FromClause,
    topic: str,
    event_type: str,
    payload: dict[str, Any] | ColumnElement[Any],
    *,
    member_id: ColumnElement[Any] | None = None,
) -> Insert:
    """The event's INSERT, one row per row of ``source`` (a data-modifying CTE, say): for an
    event written in the same statement as the row it announces, and only if that row was.
    ``payload`` is the same for every row, or a JSONB expression over ``source``'s columns;
    ``member_id``, an expression over them (a signal's member), or the topic's."""
    body = (
        payload if isinstance(payload, ColumnElement) else literal(payload, events.c.payload.type)
    )
    member = (
        member_id
        if member_id is not None
        else literal(event_member(topic), events.c.member_id.type)
    )
    values = select(
        member,
        literal(topic, events.c.topic.type),
        literal(event_type, events.c.type.type),
        body,
    ).select_from(source)
    return events.insert().from_select(["member_id", "topic", "type", "payload"], values)
