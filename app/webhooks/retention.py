"""Settled messages (delivered or given up) and their attempts are kept
``webhook_retention_days``; the ``webhook-retention`` job deletes older ones, oldest first."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from app.retention import delete_in_batches
from app.runtime import Runtime
from app.webhooks.tables import webhook_messages


async def purge_settled(rt: Runtime) -> Mapping[str, Any]:
    cutoff = rt.clock.now() - timedelta(days=rt.settings.webhook_retention_days)
    deleted = await delete_in_batches(
        rt.engine,
        webhook_messages,
        where=(webhook_messages.c.status != "pending") & (webhook_messages.c.created_at < cutoff),
        oldest_first=webhook_messages.c.id,
    )
    return {"deleted": deleted}
