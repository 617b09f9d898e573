"""Attempts: leasing due messages, sending them, recording what happened.

**Leases.** A sender claims due messages in one short transaction: it takes a transaction-level
advisory lock (so the per-endpoint count of messages in flight it reads is exact across
processes), picks each enabled endpoint's oldest due messages up to
``webhook_endpoint_concurrency`` minus those already in flight (``FOR UPDATE SKIP LOCKED``), and
stamps them with its lease token until ``now + webhook_lease_seconds``. No other sender touches
them before then; a sender that dies mid-attempt leaves a lease that runs out, and the message
is attempted again by whoever comes next (at least once: its ``webhook-id`` is unchanged).

**Recording.** The attempt is written with its outcome in one transaction, guarded by the lease
token: a sender whose lease ran out (it took longer than the lease) still records its attempt
but no longer moves the message.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app import metrics
from app.clock import system_clock
from app.events.outbox import append_event
from app.logging import get_logger
from app.runtime import Runtime
from app.webhooks.catalogue import ENDPOINT_DISABLED
from app.webhooks.schedule import Outcome, Verdict, judge, next_delay
from app.webhooks.signing import headers, message_id
from app.webhooks.tables import webhook_attempts, webhook_endpoints, webhook_messages
from app.webhooks.transport import Answer, Sender

log = get_logger("app.webhooks.delivery")

LEASE_LOCK = 0x57484B53  # "WHKS": one leasing transaction at a time, all processes

_DUE = text(
    """
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
    """Claim up to ``limit`` due messages for this sender."""
    if limit <= 0:
        return []
    now = rt.clock.now()
    token = uuid.uuid4()
    async with rt.engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LEASE_LOCK})
        ids = list(
            await conn.scalars(
                _DUE,
                {
                    "now": now,
                    "per_endpoint": rt.settings.webhook_endpoint_concurrency,
                    "limit": limit,
                },
            )
        )
        if not ids:
            return []
        until = now + timedelta(seconds=rt.settings.webhook_lease_seconds)
        await conn.execute(
            webhook_messages.update()
            .where(webhook_messages.c.id == func.any(ids))
            .values(lease_token=token, lease_until=until)
        )
        rows = await conn.execute(
            select(
                webhook_messages.c.id,
                webhook_messages.c.endpoint_id,
                webhook_messages.c.event_id,
                webhook_messages.c.body,
                webhook_messages.c.attempts,
                webhook_endpoints.c.url,
                webhook_endpoints.c.secret,
                webhook_endpoints.c.previous_secret,
                webhook_endpoints.c.previous_secret_expires_at,
            )
            .join(webhook_endpoints, webhook_endpoints.c.id == webhook_messages.c.endpoint_id)
            .where(webhook_messages.c.id == func.any(ids))
            .order_by(webhook_messages.c.next_attempt_at, webhook_messages.c.id)
        )
        return [
            Lease(
                token=token,
                message_id=r.id,
                endpoint_id=r.endpoint_id,
                event_id=r.event_id,
                url=r.url,
                body=bytes(r.body),
                secrets=signing_secrets(
                    r.secret, r.previous_secret, r.previous_secret_expires_at, now
                ),
                attempts=r.attempts,
            )
            for r in rows
        ]


async def attempt(rt: Runtime, sender: Sender, lease: Lease) -> Outcome:
    """Send the leased message once and record the outcome."""
    # The signature's timestamp is the wall clock's: the receiver checks it against its own to
    # refuse replays. Schedules follow the app's clock.
    signed = headers(message_id(lease.event_id), lease.body, lease.secrets, system_clock.now())
    answer = await sender.post(lease.url, signed, lease.body)
    verdict = judge(answer.status, answer.retry_after)
    outcome = await record(rt, lease, answer, verdict)
    metrics.webhook_attempts.labels(outcome.value).inc()
    metrics.webhook_attempt_duration.observe(answer.duration_ms / 1000)
    if outcome is not Outcome.DELIVERED:
        log.info(
            "webhooks.attempt_failed",
            endpoint_id=lease.endpoint_id,
            message_id=lease.message_id,
            status=answer.status,
            error=answer.error,
            outcome=outcome.value,
        )
    return outcome


def _schedule(verdict: Verdict, attempts: int) -> timedelta | None:
    """The wait before the next attempt after ``attempts`` (None: give up)."""
    planned = next_delay(attempts, random.uniform(-1, 1))
    if planned is None or verdict.retry_after is None:
        return planned
    return verdict.retry_after


async def record(rt: Runtime, lease: Lease, answer: Answer, verdict: Verdict) -> Outcome:
    """The attempt, the message's next step and the endpoint's health, in one transaction.
    Returns the outcome recorded (``failed`` when the message was given up)."""
    now = rt.clock.now()
    attempts = lease.attempts + 1
    outcome = verdict.outcome
    values: dict[str, object] = {
        "attempts": attempts,
        "last_attempt_at": now,
        "lease_token": None,
        "lease_until": None,
    }
    if outcome is Outcome.DELIVERED:
        values.update(status="delivered", delivered_at=now)
    else:
        delay = _schedule(verdict, attempts)
        if delay is None:
            values["status"] = "failed"
            outcome = Outcome.FAILED
        else:
            values["next_attempt_at"] = now + delay
    async with rt.engine.begin() as conn:
        await conn.execute(
            webhook_attempts.insert().values(
                message_id=lease.message_id,
                endpoint_id=lease.endpoint_id,
                attempted_at=now,
                status_code=answer.status,
                duration_ms=answer.duration_ms,
                outcome=outcome.value,
                error=answer.error,
                response_excerpt=answer.excerpt,
            )
        )
        await conn.execute(
            webhook_messages.update()
            .where(
                webhook_messages.c.id == lease.message_id,
                webhook_messages.c.lease_token == lease.token,
            )
            .values(**values)
        )
        await _endpoint_health(conn, rt, lease.endpoint_id, verdict.outcome, now)
    return outcome


async def _endpoint_health(
    conn: AsyncConnection, rt: Runtime, endpoint_id: int, outcome: Outcome, now: datetime
) -> None:
    endpoints = webhook_endpoints.c
    if outcome is Outcome.DELIVERED:
        await conn.execute(
            webhook_endpoints.update()
            .where(endpoints.id == endpoint_id, endpoints.failing_since.is_not(None))
            .values(failing_since=None)
        )
        return
    failing_since = await conn.scalar(
        webhook_endpoints.update()
        .where(endpoints.id == endpoint_id)
        .values(failing_since=func.coalesce(endpoints.failing_since, now))
        .returning(endpoints.failing_since)
    )
    if outcome is Outcome.GONE:
        await disable(conn, endpoint_id, "the receiver answered 410 Gone", now)
        return
    limit = timedelta(hours=rt.settings.webhook_disable_after_hours)
    if failing_since is not None and now - failing_since >= limit:
        since = failing_since.isoformat()
        await disable(conn, endpoint_id, f"every attempt failed since {since}", now)


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
