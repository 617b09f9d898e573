"""Appending events to the outbox, inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.events.tables import events


def member_topic(member_id: int) -> str:
    return f"member:{member_id}"


async def append_event(
    conn: AsyncConnection, topic: str, event_type: str, payload: dict[str, Any]
) -> None:
    await conn.execute(events.insert().values(topic=topic, type=event_type, payload=payload))
