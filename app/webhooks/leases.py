"""Leases: a sender claims due messages so that no other sender attempts them meanwhile.

A sender claims due messages in one short transaction: it takes a transaction-level advisory
lock (so the per-endpoint count of messages in flight it reads is exact across processes), picks
each enabled endpoint's oldest due messages up to ``webhook_endpoint_concurrency`` minus those
already in flight (``FOR UPDATE SKIP LOCKED``), and writes a lease row for each
(``webhook_leases``: its token, until ``now + webhook_lease_seconds``). No other sender touches
them before then; a sender that dies mid-attempt leaves a lease that runs out, and the message
is attempted again by whoever comes next (at least once: its ``webhook-id`` is unchanged).

Why a table of leases (migration 0037), not columns of the message: stamping the message made a
new version of it with an entry in each of its indexes, and clearing the stamp another, so the
count of an endpoint's messages in flight and the walk to its oldest due ones read through the
dead entries of every delivery since the last vacuum (180 to 390 ms a lease after 30,000
deliveries, docs/PERFORMANCE.md). A lease row is inserted, then deleted when its attempt is
recorded; the counts in flight read that small table, and a message is now updated once an
attempt (its outcome), adding one entry to its due index instead of two.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.runtime import Runtime

LEASE_LOCK = 0x57484B53  # "WHKS": one leasing transaction at a time, all processes

# Leases that ran out (their sender died, or outlived them) are deleted before the lock, never
# waiting: one whose sender is deleting it now (recording its attempt) is skipped. Deleted here,
# not overwritten by the next lease, so that a lease never waits for a recording transaction
# while it holds messages' row locks that transaction may want (a deadlock).
_LOCK = text(
    """
    WITH ran_out AS (
        DELETE FROM webhook_leases WHERE message_id IN (
            SELECT message_id FROM webhook_leases WHERE until <= :now FOR UPDATE SKIP LOCKED
        )
    )
    SELECT pg_advisory_xact_lock(:key)
    """
)

# Picks the due messages, writes their leases and answers them, in one statement. A message
# with a lease row is in flight (the ones that ran out were deleted just before).
_LEASE = text(
    """
    WITH flight AS (
        SELECT endpoint_id, count(*) AS n FROM webhook_leases WHERE until > :now
        GROUP BY endpoint_id
    ), due AS (
        SELECT m.id, m.endpoint_id, m.event_id, m.body, m.attempts, m.next_attempt_at,
               e.url, e.secret, e.previous_secret, e.previous_secret_expires_at
        FROM webhook_endpoints e
        LEFT JOIN flight ON flight.endpoint_id = e.id
        CROSS JOIN LATERAL (
            SELECT d.id, d.endpoint_id, d.event_id, d.body, d.attempts, d.next_attempt_at
            FROM webhook_messages d
            WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= :now
              AND NOT EXISTS (SELECT FROM webhook_leases l WHERE l.message_id = d.id)
            ORDER BY d.next_attempt_at, d.id
            LIMIT greatest(:per_endpoint - coalesce(flight.n, 0), 0)
            FOR UPDATE OF d SKIP LOCKED
        ) m
        WHERE e.enabled
        ORDER BY m.next_attempt_at, m.id
        LIMIT :limit
    ), leased AS (
        INSERT INTO webhook_leases (message_id, endpoint_id, token, until)
        SELECT id, endpoint_id, :token, :until FROM due
    )
    SELECT * FROM due
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
    await conn.execute(_LOCK, {"key": LEASE_LOCK, "now": now})
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
