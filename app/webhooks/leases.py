"""Leases: a sender claims due messages so that no other sender attempts them meanwhile.

A sender claims due messages in one short transaction: it takes a transaction-level advisory
lock (so the per-endpoint count of messages in flight it reads is exact across processes), picks
each enabled endpoint's oldest due messages up to ``webhook_endpoint_concurrency`` minus those
already in flight (``FOR UPDATE SKIP LOCKED``), and stamps them with its lease token until
``now + webhook_lease_seconds``. No other sender touches them before then; a sender that dies
mid-attempt leaves a lease that runs out, and the message is attempted again by whoever comes
next (at least once: its ``webhook-id`` is unchanged).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.runtime import Runtime

LEASE_LOCK = 0x57484B53  # "WHKS": one leasing transaction at a time, all processes

# Picks and stamps in one statement (was a SELECT of the ids, then an UPDATE … RETURNING).
_LEASE = text(
    """
    WITH due AS (
        SELECT m.id FROM webhook_endpoints e
        CROSS JOIN LATERAL (
            SELECT count(*) AS n FROM webhook_messages f
            WHERE f.endpoint_id = e.id AND f.lease_until IS NOT NULL AND f.lease_until > :now
        ) flight
        CROSS JOIN LATERAL (
            SELECT d.id, d.next_attempt_at FROM webhook_messages d
            WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= :now
              AND (d.lease_until IS NULL OR d.lease_until <= :now)
            ORDER BY d.next_attempt_at, d.id
            LIMIT greatest(:per_endpoint - flight.n, 0)
            FOR UPDATE OF d SKIP LOCKED
        ) m
        WHERE e.enabled
        ORDER BY m.next_attempt_at, m.id
        LIMIT :limit
    )
    UPDATE webhook_messages m SET lease_token = :token, lease_until = :until
    FROM due, webhook_endpoints e
    WHERE m.id = due.id AND e.id = m.endpoint_id
    RETURNING m.id, m.endpoint_id, m.event_id, m.body, m.attempts, m.next_attempt_at,
              e.url, e.secret, e.previous_secret, e.previous_secret_expires_at
    """
)


@dataclass(frozen=True)
class Lease:
    token: uuid.UUID
    message_id: int
    endpoint_id: int
    event_id: int
    url: str
    body: bytes
    secrets: tuple[str, ...]
    attempts: int  # made before this one


def signing_secrets(
    current: str, previous: str | None, previous_until: datetime | None, now: datetime
) -> tuple[str, ...]:
    """The endpoint's secret, and the previous one while its overlap lasts."""
    if previous and previous_until is not None and previous_until > now:
        return (current, previous)
    return (current,)


async def lease_due(rt: Runtime, limit: int) -> list[Lease]:
    """Claim up to ``limit`` due messages for this sender, in a transaction of their own."""
    if limit <= 0:
        return []
    async with rt.engine.begin() as conn:
        return await lease_on(conn, rt, limit)


async def lease_on(conn: AsyncConnection, rt: Runtime, limit: int) -> list[Lease]:
    """Claim up to ``limit`` due messages for this sender in ``conn``'s transaction (which
    should end soon: it holds the leasing lock until it does)."""
    if limit <= 0:
        return []
    now = rt.clock.now()
    token = uuid.uuid4()
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LEASE_LOCK})
    rows = await conn.execute(
        _LEASE,
        {
            "now": now,
            "per_endpoint": rt.settings.webhook_endpoint_concurrency,
            "limit": limit,
            "token": token,
            "until": now + timedelta(seconds=rt.settings.webhook_lease_seconds),
        },
    )
    return [
        Lease(
            token=token,
            message_id=r.id,
            endpoint_id=r.endpoint_id,
            event_id=r.event_id,
            url=r.url,
            body=bytes(r.body),
            secrets=signing_secrets(r.secret, r.previous_secret, r.previous_secret_expires_at, now),
            attempts=r.attempts,
        )
        for r in sorted(rows, key=lambda r: (r.next_attempt_at, r.id))  # oldest due first
    ]
