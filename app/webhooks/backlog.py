"""The delivery backlog, for /metrics: messages waiting, and how long the oldest has waited."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app import metrics

# Pending messages of enabled endpoints (a disabled endpoint's wait for it to be enabled again),
# aged from their event's commit.
_BACKLOG = text(
    """
    SELECT count(*) AS depth,
           coalesce(extract(epoch FROM now() - min(m.event_created_at)), 0) AS oldest
    FROM webhook_messages m JOIN webhook_endpoints e ON e.id = m.endpoint_id
    WHERE m.status = 'pending' AND e.enabled
    """
)


@dataclass(frozen=True)
class Backlog:
    depth: int
    oldest_seconds: float


async def backlog(conn: AsyncConnection) -> Backlog:
    row = (await conn.execute(_BACKLOG)).one()
    return Backlog(int(row.depth), float(row.oldest))


async def backlog_gauges(conn: AsyncConnection) -> list[metrics.Measured]:
    """The backlog as /metrics reports it (docs/OPERATIONS.md)."""
    waiting = await backlog(conn)
    return [
        metrics.Measured(
            "jifen_webhook_backlog",
            "Webhook messages waiting for delivery to enabled endpoints (due or retrying).",
            waiting.depth,
        ),
        metrics.Measured(
            "jifen_webhook_oldest_undelivered_seconds",
            "Age of the oldest webhook message not yet delivered, from its event's commit.",
            waiting.oldest_seconds,
        ),
    ]
