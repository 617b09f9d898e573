"""A member's RFM segment (staff)."""

from __future__ import annotations

import strawberry

from app.graphql.core.context import Info
from app.graphql.core.fields import described_field
from app.graphql.core.inputs import parse_id
from app.graphql.segments.resolvers import member_segment
from app.graphql.segments.types import MemberSegmentNode, SegmentCampaignNode
from app.segments import campaigns


@strawberry.type
class SegmentQueries:
    @described_field(
        "A member's RFM scores and segment as of the last segmentation run (none before it, "
        "or for a closed member); the same as member { segment }."
    )
    async def member_segment(
        self, info: Info, member_id: strawberry.ID
    ) -> MemberSegmentNode | None:
        info.context.require("memberSegment")
        return await member_segment(info, parse_id(member_id, "memberId"))

    @described_field("A segment bonus campaign by its code, with its progress.")
    async def segment_campaign(self, info: Info, code: str) -> SegmentCampaignNode:
        info.context.require("segmentCampaign")
        found = await campaigns.campaign_by_code(info.context.runtime, code)
        return SegmentCampaignNode.of(found)
