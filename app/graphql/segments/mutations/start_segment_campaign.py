"""startSegmentCampaign: N points to every member of a segment, within a budget; the
``segment-campaigns`` job credits them in chunks (docs/ANALYTICS.md, "Segment campaigns")."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.segments.inputs import StartSegmentCampaignInput
from app.graphql.segments.types import SegmentCampaignNode, SegmentCampaignStarted
from app.segments import campaigns


@mutation("Start a bonus campaign for a segment (credited by the segment-campaigns job).")
async def start_segment_campaign(
    call: Call, input: StartSegmentCampaignInput
) -> SegmentCampaignStarted:
    started = await campaigns.start_campaign(
        call.runtime,
        call.actor,
        code=input.code,
        segment=input.segment.value,
        points=input.points,
        budget=input.budget,
        reason=input.reason,
    )
    return SegmentCampaignStarted(campaign=SegmentCampaignNode.of(started))
