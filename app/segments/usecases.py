"""Segmentation's use cases: what GraphQL, the CLI and the job call."""

from __future__ import annotations

from app.db import unit_of_work
from app.runtime import Runtime
from app.segments import queries
from app.segments.activity import catch_up
from app.segments.compute import SegmentRun, compute_segments
from app.segments.policy import Segment
from app.segments.queries import MemberSegment, SegmentChange


async def recompute_segments(rt: Runtime) -> SegmentRun:
    """Every member's RFM scores and segment as of now (docs/ANALYTICS.md, "Segments")."""
    await catch_up(rt)  # the events since the projection's last round
    async with unit_of_work(rt.engine) as conn:
        return await compute_segments(
            conn,
            now=rt.clock.now(),
            tz=rt.settings.timezone,
            window_days=rt.settings.segment_window_days,
            new_days=rt.settings.segment_new_days,
        )


async def member_segments(rt: Runtime, member_ids: list[int]) -> dict[int, MemberSegment]:
    async with rt.read(*member_ids) as conn:
        return await queries.segments_of(conn, member_ids)


async def segment_history(rt: Runtime, member_id: int) -> list[SegmentChange]:
    async with rt.read(member_id) as conn:
        return await queries.segment_history(conn, member_id)


async def segment_counts(rt: Runtime, channel: str | None = None) -> dict[Segment, int]:
    async with rt.read() as conn:
        return await queries.counts(conn, channel)
