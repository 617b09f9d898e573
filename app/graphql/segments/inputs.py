"""Starting a segment bonus campaign."""

from __future__ import annotations

import strawberry

from app.graphql.segments.enums import Segment


@strawberry.input
class StartSegmentCampaignInput:
    code: str = strawberry.field(
        description="Names the campaign; starting the same code again with the same terms "
        "answers with it (idempotent), with other terms is refused."
    )
    segment: Segment = strawberry.field(
        description="Every member the last segmentation run placed in it is targeted."
    )
    points: int = strawberry.field(description="Credited to each targeted member.")
    budget: int = strawberry.field(
        description="The most points the campaign credits in all; members left when it is "
        "spent are skipped."
    )
    reason: str


@strawberry.input
class CancelSegmentCampaignInput:
    code: str = strawberry.field(description="The campaign to stop.")
    reason: str = strawberry.field(description="Why (1 to 500 characters), kept with it.")
