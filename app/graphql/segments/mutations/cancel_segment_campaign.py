"""cancelSegmentCampaign: stop a running segment bonus campaign; what it credited stays, its
pending members are skipped (docs/ANALYTICS.md, "Segment campaigns")."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.segments.inputs import CancelSegmentCampaignInput
from app.graphql.segments.types import SegmentCampaignCancelled, SegmentCampaignNode
from app.segments import campaigns


@mutation("Stop a running segment campaign (what it credited stays; again: the same answer).")
async def cancel_segment_campaign(
    call: Call, input: CancelSegmentCampaignInput
) -> SegmentCampaignCancelled:
    cancelled = await campaigns.cancel_campaign(
        call.runtime, call.actor, code=input.code, reason=input.reason
    )
    return SegmentCampaignCancelled(campaign=SegmentCampaignNode.of(cancelled))
