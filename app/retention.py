"""Bounded tables: rows past their retention are deleted a batch at a time, oldest first.

Each batch is its own short transaction that picks its rows with ``FOR UPDATE SKIP LOCKED``, so
the purge never waits on a row a write holds, and a write waits at most one batch (at most
:data:`BATCH` rows) on the purge. Called by each domain's retention job (docs/OPERATIONS.md,
"Retention").
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, literal_column, select
from sqlalchemy.ext.asyncio import AsyncEngine

BATCH = 1_000


async def delete_in_batches(
    engine: AsyncEngine,
    table: Table,
    *,
    where: ColumnElement[bool],
    oldest_first: ColumnElement[object],
    batch: int = BATCH,
) -> int:
    """Delete every row of ``table`` matching ``where``; returns how many went."""
    # ctid names any table's row, whatever its key; the chosen rows are found by TID scan.
    ctid: ColumnElement[object] = literal_column("ctid")
    chosen = (
        select(ctid)
        .select_from(table)
        .where(where)
        .order_by(oldest_first)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    deleted = 0
    while True:
        async with engine.begin() as conn:
            result = await conn.execute(table.delete().where(ctid.in_(chosen.scalar_subquery())))
        done = int(result.rowcount or 0)
        deleted += done
        if done < batch:
            return deleted
