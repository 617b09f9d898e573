"""Settled messages (delivered or given up) and their attempts are kept
``webhook_retention_days``; the ``webhook-retention`` job deletes older ones, oldest first."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from app.runtime import Runtime
from app.webhooks.tables import webhook_messages

BATCH = 1_000


async def purge_settled(rt: Runtime) -> Mapping[str, Any]:
    cutoff = rt.clock.now() - timedelta(days=rt.settings.webhook_retention_days)
    deleted = 0
    while True:
        oldest = (
            select(webhook_messages.c.id)
            .where(webhook_messages.c.status != "pending", webhook_messages.c.created_at < cutoff)
            .order_by(webhook_messages.c.id)
            .limit(BATCH)
        )
        async with rt.engine.begin() as conn:
            result = await conn.execute(
                webhook_messages.delete().where(webhook_messages.c.id.in_(oldest.scalar_subquery()))
            )
        deleted += int(result.rowcount or 0)
        if (result.rowcount or 0) < BATCH:
            return {"deleted": deleted}
