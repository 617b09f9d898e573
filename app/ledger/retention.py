"""Idempotency keys are kept ``idempotency_retention_days`` (docs/LEDGER.md, "Idempotency"):
long enough for any client's retries, an offline till's included. A key older than that is
forgotten, so the same key sent again afterwards is a new request. Keys of the domain's own
(order, refund and event ids) live in the business rows and are never forgotten."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from app.ledger.tables import idempotency_keys
from app.retention import delete_in_batches
from app.runtime import Runtime


async def purge_idempotency_keys(rt: Runtime) -> Mapping[str, Any]:
    cutoff = rt.clock.now() - timedelta(days=rt.settings.idempotency_retention_days)
    deleted = await delete_in_batches(
        rt.engine,
        idempotency_keys,
        where=idempotency_keys.c.created_at < cutoff,
        oldest_first=idempotency_keys.c.created_at,
    )
    return {"deleted": deleted}
