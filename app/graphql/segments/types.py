"""A member's RFM segment as staff read it (docs/ANALYTICS.md, "Segments")."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from app.graphql.segments.enums import Segment
from app.segments.queries import MemberSegment, SegmentChange


@strawberry.type(description="A member's RFM scores and segment as of the last segmentation run.")
class MemberSegmentNode:
    segment: Segment
    since: datetime = strawberry.field(description="The run that first placed it there.")
    last_active_on: date | None = strawberry.field(
        description="Business day of its last activity in the window."
    )
    frequency: int = strawberry.field(description="Its activities in the window.")
    monetary: int = strawberry.field(description="Points earned in the window, net.")
    recency_score: int | None = strawberry.field(description="1-5; none: inactive in the window.")
    frequency_score: int | None
    monetary_score: int | None

    @classmethod
    def of(cls, found: MemberSegment) -> MemberSegmentNode:
        return cls(
            segment=found.segment,
            since=found.since,
            last_active_on=found.last_active_on,
            frequency=found.frequency,
            monetary=found.monetary,
            recency_score=found.recency_score,
            frequency_score=found.frequency_score,
            monetary_score=found.monetary_score,
        )


@strawberry.type(description="A change of a member's segment (none: not segmented, e.g. closed).")
class SegmentChangeNode:
    from_segment: Segment | None
    to_segment: Segment | None
    changed_at: datetime

    @classmethod
    def of(cls, change: SegmentChange) -> SegmentChangeNode:
        return cls(
            from_segment=change.from_segment,
            to_segment=change.to_segment,
            changed_at=change.changed_at,
        )


@strawberry.type(description="Members in one segment (as of the last segmentation run).")
class SegmentCount:
    segment: Segment
    members: int
