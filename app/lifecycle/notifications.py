"""A member's notifications (expiry reminders today), read or unread."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import unit_of_work
from app.errors import invalid
from app.lifecycle.tables import notifications
from app.runtime import Runtime

MAX_MARKED = 100


@dataclass(frozen=True)
class Notification:
    id: int
    member_id: int
    kind: str
    title: str
    body: str
    payload: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


def _notification(row: Any) -> Notification:
    return Notification(
        row.id,
        row.member_id,
        row.kind,
        row.title,
        row.body,
        dict(row.payload),
        row.created_at,
        row.read_at,
    )


async def list_notifications(
    rt: Runtime, member_id: int, *, first: int, before_id: int | None, unread_only: bool
) -> list[Notification]:
    """Newest first; ``before_id`` is the cursor (the last id of the previous page)."""
    query = select(notifications).where(notifications.c.member_id == member_id)
    if unread_only:
        query = query.where(notifications.c.read_at.is_(None))
    if before_id is not None:
        query = query.where(notifications.c.id < before_id)
    async with rt.read(member_id) as conn:
        rows = await conn.execute(query.order_by(notifications.c.id.desc()).limit(first))
        return [_notification(row) for row in rows]


async def _unread(conn: AsyncConnection, member_id: int) -> int:
    count = await conn.scalar(
        select(func.count()).where(
            notifications.c.member_id == member_id, notifications.c.read_at.is_(None)
        )
    )
    return int(count or 0)


async def unread_count(rt: Runtime, member_id: int) -> int:
    async with rt.read(member_id) as conn:
        return await _unread(conn, member_id)


async def mark_read(rt: Runtime, member_id: int, ids: list[int] | None) -> tuple[int, int]:
    """Mark the member's notifications read (``ids`` of them, or all when None); returns
    (how many changed, unread left). Ids of other members' notifications change nothing."""
    if ids is not None and not 1 <= len(ids) <= MAX_MARKED:
        raise invalid(f"give 1..{MAX_MARKED} notification ids, or none for all", "ids")
    condition = [notifications.c.member_id == member_id, notifications.c.read_at.is_(None)]
    if ids is not None:
        condition.append(notifications.c.id.in_(ids))
    async with unit_of_work(rt.engine) as conn:
        result = await conn.execute(
            notifications.update().where(*condition).values(read_at=rt.clock.now())
        )
        return result.rowcount, await _unread(conn, member_id)
