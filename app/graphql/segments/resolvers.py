"""A member's segment and its history: the Member type's ``segment`` and ``segmentHistory``
fields (staff only: ``memberSegment`` in the permission table)."""

from __future__ import annotations

from app.graphql.core.context import Info
from app.graphql.segments.types import MemberSegmentNode, SegmentChangeNode
from app.segments import usecases

READ = "memberSegment"


async def member_segment(info: Info, member_id: int) -> MemberSegmentNode | None:
    info.context.require(READ)
    found = (await usecases.member_segments(info.context.runtime, [member_id])).get(member_id)
    return None if found is None else MemberSegmentNode.of(found)


async def member_segment_history(info: Info, member_id: int) -> list[SegmentChangeNode]:
    info.context.require(READ)
    changes = await usecases.segment_history(info.context.runtime, member_id)
    return [SegmentChangeNode.of(change) for change in changes]
