"""Reads of the point value's history (the KPIs, the outlook and checkout ask here)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.valuation.policy import PointValue, plain
from app.valuation.tables import point_values

_HISTORY = select(point_values.c.value, point_values.c.effective_from).order_by(
    point_values.c.effective_from, point_values.c.id
)


async def point_value_history(conn: AsyncConnection) -> list[PointValue]:
    """Every change of the point value, oldest first."""
    rows = await conn.execute(_HISTORY)
    return [PointValue(plain(Decimal(r.value)), r.effective_from) for r in rows]


async def point_value_at(conn: AsyncConnection, at: datetime, default: Decimal) -> Decimal:
    """The point value in force at ``at`` (``default``, the setting, before any change)."""
    found = await conn.scalar(
        select(point_values.c.value)
        .where(point_values.c.effective_from <= at)
        .order_by(point_values.c.effective_from.desc(), point_values.c.id.desc())
        .limit(1)
    )
    return default if found is None else plain(Decimal(found))
