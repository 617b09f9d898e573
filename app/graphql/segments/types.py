"""A member's RFM segment as staff read it (docs/ANALYTICS.md, "Segments")."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from app.graphql.segments.enums import Segment
from app.segments.campaigns import Campaign
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


@strawberry.type(name="SegmentCampaign", description="A segment bonus campaign and its progress.")
class SegmentCampaignNode:
    code: str
    segment: Segment
    points: int
    budget: int
    reason: str
    status: str = strawberry.field(
        description="running, done (nothing left pending) or cancelled (by staff: what it "
        "credited stays, its pending members were skipped)."
    )
    members: int = strawberry.field(description="Members targeted when it started.")
    granted_members: int
    granted_points: int
    skipped_members: int = strawberry.field(
        description="Closed since it started, or left when the budget was spent."
    )
    pending_members: int
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    cancelled_by: str | None
    cancel_reason: str | None

    @classmethod
    def of(cls, campaign: Campaign) -> SegmentCampaignNode:
        return cls(
            code=campaign.code,
            segment=campaign.segment,
            points=campaign.points,
            budget=campaign.budget,
            reason=campaign.reason,
            status=campaign.status,
            members=campaign.members,
            granted_members=campaign.granted_members,
            granted_points=campaign.granted_points,
            skipped_members=campaign.skipped_members,
            pending_members=campaign.pending_members,
            created_by=campaign.created_by,
            created_at=campaign.created_at,
            finished_at=campaign.finished_at,
            cancelled_by=campaign.cancelled_by,
            cancel_reason=campaign.cancel_reason,
        )


@strawberry.type
class SegmentCampaignStarted:
    campaign: SegmentCampaignNode


@strawberry.type
class SegmentCampaignCancelled:
    campaign: SegmentCampaignNode
