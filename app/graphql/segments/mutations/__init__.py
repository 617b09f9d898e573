"""The segments mutations; segments' share of the Mutation type."""

from __future__ import annotations

import strawberry

from app.graphql.segments.mutations.cancel_segment_campaign import cancel_segment_campaign
from app.graphql.segments.mutations.start_segment_campaign import start_segment_campaign


@strawberry.type
class SegmentMutations:
    start_segment_campaign = start_segment_campaign
    cancel_segment_campaign = cancel_segment_campaign
