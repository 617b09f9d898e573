"""Recording attempts: the outcomes of many attempts written in one transaction (a group
commit), by the process's pump (app/webhooks/pump.py), in the same transaction as its next lease.

Each attempt used to open a transaction of its own to record itself, so a sender with
``webhook_concurrency`` attempts finishing together held as many connections — from the pool
the API shares in ``jifen serve`` — and a few busy senders could take every connection
PostgreSQL allows. Now the outcomes wait in the pump, which writes up to ``MAX_BATCH`` at a time
through its one connection, with few statements: one INSERT of the attempts, one UPDATE of their
messages (executemany), one or two of the endpoints touched.

A batch that fails to write is dropped: its messages' leases run out and they are attempted
again (at least once; the ``webhook-id`` is unchanged).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func
from sqlalchemy.ext.asyncio import AsyncConnection

from app.events.outbox import append_event
from app.logging import get_logger
from app.runtime import Runtime
from app.webhooks.catalogue import ENDPOINT_DISABLED
from app.webhooks.leases import Lease
from app.webhooks.schedule import Outcome, Verdict, next_delay
from app.webhooks.tables import webhook_attempts, webhook_endpoints, webhook_messages
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


_MESSAGE_STEP = (
    webhook_messages.update()
    .where(
        webhook_messages.c.id == bindparam("m_id"),
        # A sender whose lease ran out records its attempt but no longer moves the message.
        webhook_messages.c.lease_token == bindparam("m_token"),
    )
    .values(
        status=bindparam("m_status"),
        attempts=bindparam("m_attempts"),
        last_attempt_at=bindparam("m_now"),
        lease_token=None,
        lease_until=None,
        delivered_at=func.coalesce(bindparam("m_delivered_at"), webhook_messages.c.delivered_at),
        next_attempt_at=func.coalesce(bindparam("m_next"), webhook_messages.c.next_attempt_at),
    )
)

_STATUS = {Outcome.DELIVERED: "delivered", Outcome.FAILED: "failed"}


async def write(conn: AsyncConnection, rt: Runtime, batch: list[Settled]) -> None:
    """The attempts, their messages' next steps and their endpoints' health, on ``conn`` (in
    its transaction)."""
    now = rt.clock.now()
    await conn.execute(
        webhook_attempts.insert(),
        [
            {
                "message_id": s.lease.message_id,
                "endpoint_id": s.lease.endpoint_id,
                "attempted_at": now,
                "status_code": s.answer.status,
                "duration_ms": s.answer.duration_ms,
                "outcome": s.outcome.value,
                "error": s.answer.error,
                "response_excerpt": s.answer.excerpt,
            }
            for s in batch
        ],
    )
    await conn.execute(
        _MESSAGE_STEP,
        [
            {
                "m_id": s.lease.message_id,
                "m_token": s.lease.token,
                "m_status": _STATUS.get(s.outcome, "pending"),
                "m_attempts": s.lease.attempts + 1,
                "m_now": now,
                "m_delivered_at": now if s.outcome is Outcome.DELIVERED else None,
                "m_next": s.next_attempt_at,
            }
            for s in batch
        ],
    )
    await _endpoint_health(conn, rt, batch, now)


async def _endpoint_health(
    conn: AsyncConnection, rt: Runtime, batch: list[Settled], now: datetime
) -> None:
    """As if the batch's attempts were recorded one by one, in order: an endpoint's last
    attempt decides whether it is failing; a 410 anywhere disables it."""
    last: dict[int, Outcome] = {}
    gone: set[int] = set()
    for s in batch:
        last[s.lease.endpoint_id] = s.verdict.outcome
        if s.verdict.outcome is Outcome.GONE:
            gone.add(s.lease.endpoint_id)
    endpoints = webhook_endpoints.c
    healthy = sorted(e for e, outcome in last.items() if outcome is Outcome.DELIVERED)
    failing = sorted(e for e, outcome in last.items() if outcome is not Outcome.DELIVERED)
    if healthy:
        await conn.execute(
            webhook_endpoints.update()
            .where(endpoints.id == func.any(healthy), endpoints.failing_since.is_not(None))
            .values(failing_since=None)
        )
    since: dict[int, datetime] = {}
    if failing:
        rows = await conn.execute(
            webhook_endpoints.update()
            .where(endpoints.id == func.any(failing))
            .values(failing_since=func.coalesce(endpoints.failing_since, now))
            .returning(endpoints.id, endpoints.failing_since)
        )
        since = {row.id: row.failing_since for row in rows}
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
