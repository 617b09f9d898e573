"""Recording attempts: the outcomes of many attempts written in one transaction (a group
commit), by the process's pump (app/webhooks/pump.py), in the same transaction as its next lease.

Each attempt used to open a transaction of its own to record itself, so a sender with
``webhook_concurrency`` attempts finishing together held as many connections — from the pool
the API shares in ``jifen serve`` — and a few busy senders could take every connection
PostgreSQL allows. Now the outcomes wait in the pump, which writes up to ``MAX_BATCH`` at a time
through its one connection, in one statement (``_RECORD``): the attempts inserted, their
leases deleted, their messages moved and their endpoints' health, each part reading the batch
as arrays (``unnest``), so the statement is prepared once whatever the batch's size. It used
to be an INSERT, an executemany UPDATE and one or two UPDATEs of the endpoints: four or five
round trips, each waiting for a core on a loaded machine while the pump's slots waited for the step.

A batch that fails to write is dropped: its messages' leases run out and they are attempted
again (at least once; the ``webhook-id`` is unchanged).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.events.outbox import append_event
from app.logging import get_logger
from app.runtime import Runtime
from app.webhooks.catalogue import ENDPOINT_DISABLED
from app.webhooks.leases import Lease
from app.webhooks.schedule import Outcome, Verdict, next_delay
from app.webhooks.tables import webhook_endpoints
from app.webhooks.transport import Answer

log = get_logger("app.webhooks.recording")

MAX_BATCH = 500  # attempts per transaction: a bounded statement, and a bounded wait behind it


@dataclass(frozen=True)
class Settled:
    """An attempt and what it makes of its message (pure: :func:`settle`)."""

    lease: Lease
    answer: Answer
    verdict: Verdict
    outcome: Outcome  # as recorded: ``failed`` when the message is given up
    next_attempt_at: datetime | None  # None: not attempted again (delivered, or given up)


def _delay(verdict: Verdict, attempts: int) -> timedelta | None:
    """The wait before the next attempt after ``attempts`` (None: give up)."""
    planned = next_delay(attempts, random.uniform(-1, 1))
    if planned is None or verdict.retry_after is None:
        return planned
    return verdict.retry_after


def settle(lease: Lease, answer: Answer, verdict: Verdict, now: datetime) -> Settled:
    """The message's next step after this attempt."""
    if verdict.outcome is Outcome.DELIVERED:
        return Settled(lease, answer, verdict, Outcome.DELIVERED, None)
    delay = _delay(verdict, lease.attempts + 1)
    if delay is None:
        return Settled(lease, answer, verdict, Outcome.FAILED, None)
    return Settled(lease, answer, verdict, verdict.outcome, now + delay)


_RECORD = text(
    """
    WITH u AS (
        SELECT * FROM unnest(
            CAST(:message_ids AS bigint[]), CAST(:endpoint_ids AS bigint[]),
            CAST(:tokens AS uuid[]), CAST(:status_codes AS integer[]),
            CAST(:durations AS integer[]), CAST(:outcomes AS text[]), CAST(:errors AS text[]),
            CAST(:excerpts AS text[]), CAST(:statuses AS text[]), CAST(:attempts AS integer[]),
            CAST(:delivered AS boolean[]), CAST(:next_attempts AS timestamptz[])
        ) AS u(message_id, endpoint_id, token, status_code, duration_ms, outcome, error,
               excerpt, status, attempts, delivered, next_attempt_at)
    ), released AS (
        -- A sender whose lease ran out (and was deleted by a later leasing step) records its
        -- attempt but no longer moves the message.
        DELETE FROM webhook_leases l USING u
        WHERE l.message_id = u.message_id AND l.token = u.token
        RETURNING l.message_id
    ), attempts AS (
        INSERT INTO webhook_attempts (message_id, endpoint_id, attempted_at, status_code,
                                      duration_ms, outcome, error, response_excerpt)
        SELECT message_id, endpoint_id, :now, status_code, duration_ms, outcome, error, excerpt
        FROM u
    ), moved AS (
        UPDATE webhook_messages m
        SET status = u.status, attempts = u.attempts, last_attempt_at = :now,
            delivered_at = CASE WHEN u.delivered THEN :now ELSE m.delivered_at END,
            next_attempt_at = coalesce(u.next_attempt_at, m.next_attempt_at)
        FROM u JOIN released r ON r.message_id = u.message_id
        WHERE m.id = u.message_id
    )
    UPDATE webhook_endpoints e
    SET failing_since = CASE WHEN h.ok THEN NULL ELSE coalesce(e.failing_since, :now) END
    FROM unnest(CAST(:health_ids AS bigint[]), CAST(:health_ok AS boolean[])) AS h(id, ok)
    WHERE e.id = h.id AND (NOT h.ok OR e.failing_since IS NOT NULL)
    RETURNING e.id, e.failing_since, h.ok
    """
)

_STATUS = {Outcome.DELIVERED: "delivered", Outcome.FAILED: "failed"}


def _columns(batch: list[Settled]) -> dict[str, list[object]]:
    """The batch as the arrays ``_RECORD`` reads, one per column, in the batch's order."""
    return {
        "message_ids": [s.lease.message_id for s in batch],
        "endpoint_ids": [s.lease.endpoint_id for s in batch],
        "tokens": [s.lease.token for s in batch],
        "status_codes": [s.answer.status for s in batch],
        "durations": [s.answer.duration_ms for s in batch],
        "outcomes": [s.outcome.value for s in batch],
        "errors": [s.answer.error for s in batch],
        "excerpts": [s.answer.excerpt for s in batch],
        "statuses": [_STATUS.get(s.outcome, "pending") for s in batch],
        "attempts": [s.lease.attempts + 1 for s in batch],
        "delivered": [s.outcome is Outcome.DELIVERED for s in batch],
        "next_attempts": [s.next_attempt_at for s in batch],
    }


def _health(batch: list[Settled]) -> tuple[dict[int, bool], set[int]]:
    """As if the batch's attempts were recorded one by one, in order: whether each endpoint's
    last attempt delivered (it decides whether the endpoint is failing), and the endpoints that
    answered 410 anywhere (disabled)."""
    last: dict[int, bool] = {}
    gone: set[int] = set()
    for s in batch:
        last[s.lease.endpoint_id] = s.verdict.outcome is Outcome.DELIVERED
        if s.verdict.outcome is Outcome.GONE:
            gone.add(s.lease.endpoint_id)
    return last, gone


async def write(conn: AsyncConnection, rt: Runtime, batch: list[Settled]) -> None:
    """The attempts, their messages' next steps and their endpoints' health, on ``conn`` (in
    its transaction): one statement, then the endpoints to disable, if any."""
    now = rt.clock.now()
    last, gone = _health(batch)
    rows = await conn.execute(
        _RECORD,
        {
            **_columns(batch),
            "now": now,
            "health_ids": list(last),
            "health_ok": list(last.values()),
        },
    )
    since = {row.id: row.failing_since for row in rows if not row.ok}
    for endpoint_id in sorted(gone):
        await disable(conn, endpoint_id, "the receiver answered 410 Gone", now)
    limit = timedelta(hours=rt.settings.webhook_disable_after_hours)
    for endpoint_id, failing_since in sorted(since.items()):
        if endpoint_id not in gone and now - failing_since >= limit:
            reason = f"every attempt failed since {failing_since.isoformat()}"
            await disable(conn, endpoint_id, reason, now)


async def disable(conn: AsyncConnection, endpoint_id: int, reason: str, now: datetime) -> None:
    """Disable an enabled endpoint and tell staff by an event (its messages wait, pending)."""
    row = (
        await conn.execute(
            webhook_endpoints.update()
            .where(webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.enabled)
            .values(enabled=False, disabled_reason=reason, updated_at=now)
            .returning(webhook_endpoints.c.channel)
        )
    ).first()
    if row is None:  # disabled already
        return
    log.warning("webhooks.endpoint_disabled", endpoint_id=endpoint_id, reason=reason)
    await append_event(
        conn,
        f"webhook:endpoint:{endpoint_id}",
        ENDPOINT_DISABLED,
        {"endpoint_id": endpoint_id, "channel": row.channel, "reason": reason},
    )
