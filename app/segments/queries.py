"""Reads of segmentation: a member's segment and history, the latest run, the counts. Other
packages (earning's rules, engagement's tasks, the KPIs, GraphQL) ask here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.segments.policy import Segment
from app.segments.tables import (
    member_segment_changes,
    member_segments,
    segment_counts,
    segment_runs,
)


@dataclass(frozen=True)
class MemberSegment:
    member_id: int
    segment: Segment
    since: datetime
    last_active_on: date | None
    frequency: int
    monetary: int
    recency_score: int | None
    frequency_score: int | None
    monetary_score: int | None


@dataclass(frozen=True)
class SegmentChange:
    from_segment: Segment | None
    to_segment: Segment | None
    changed_at: datetime


def _segment(value: str | None) -> Segment | None:
    return None if value is None else Segment(value)


async def segments_of(conn: AsyncConnection, member_ids: list[int]) -> dict[int, MemberSegment]:
    """The members' segments as of the last run (members never placed are absent)."""
    rows = await conn.execute(
        select(member_segments).where(member_segments.c.member_id.in_(member_ids))
    )
    return {
        r.member_id: MemberSegment(**{**r._asdict(), "segment": Segment(r.segment)}) for r in rows
    }


async def segment_of(conn: AsyncConnection, member_id: int) -> Segment | None:
    found = await conn.scalar(
        select(member_segments.c.segment).where(member_segments.c.member_id == member_id)
    )
    return _segment(found)


async def segment_history(conn: AsyncConnection, member_id: int) -> list[SegmentChange]:
    """The member's changes of segment, newest first."""
    rows = await conn.execute(
        select(member_segment_changes)
        .where(member_segment_changes.c.member_id == member_id)
        .order_by(member_segment_changes.c.id.desc())
    )
    return [
        SegmentChange(_segment(r.from_segment), _segment(r.to_segment), r.changed_at) for r in rows
    ]


async def last_run_at(conn: AsyncConnection) -> datetime | None:
    found: datetime | None = await conn.scalar(select(func.max(segment_runs.c.computed_at)))
    return found


async def counts(conn: AsyncConnection, channel: str | None) -> dict[Segment, int]:
    """Members per segment as of the last run, every segment listed; one channel's or all."""
    query = select(segment_counts.c.segment, func.sum(segment_counts.c.members)).group_by(
        segment_counts.c.segment
    )
    if channel is not None:
        query = query.where(segment_counts.c.channel == channel)
    found = {Segment(segment): int(n) for segment, n in await conn.execute(query)}
    return {segment: found.get(segment, 0) for segment in Segment}
