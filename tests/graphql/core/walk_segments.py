"""The permission walk's requests for segments' operations (core/test_permissions.py): staff
only, so programme-wide (the member asked about does not widen who may ask)."""

from __future__ import annotations

from typing import Any

from app.ledger.models import Actor
from app.segments.campaigns import start_campaign

PAYLOAD = "{ __typename ... on MutationError { code message } }"
PROGRAMME_WIDE = frozenset(
    {"memberSegment", "segmentCampaign", "startSegmentCampaign", "cancelSegmentCampaign"}
)
WALK = Actor("staff:walk", "test", kind="staff")


async def segments_request_for(
    operation: str, world: Any, key: str
) -> tuple[str, dict[str, Any]] | None:
    if operation == "memberSegment":
        return (
            "query($m: ID!) { memberSegment(memberId: $m) { segment } }",
            {"m": world.member_a},
        )
    if operation == "segmentCampaign":
        terms = {"segment": "new", "points": 1, "budget": 10, "reason": "walk"}
        await start_campaign(world.api.runtime, WALK, code="walk", **terms)  # type: ignore[arg-type]
        return '{ segmentCampaign(code: "walk") { status } }', {}
    if operation == "startSegmentCampaign":
        return (
            f"""mutation($k: String!) {{ startSegmentCampaign(input: {{code: $k, segment: NEW,
                 points: 1, budget: 10, reason: "walk"}}) {PAYLOAD} }}""",
            {"k": key},
        )
    if operation == "cancelSegmentCampaign":  # allowed: NOT_FOUND (no such campaign)
        return (
            f"""mutation($k: String!) {{ cancelSegmentCampaign(input: {{code: $k,
                 reason: "walk"}}) {PAYLOAD} }}""",
            {"k": key},
        )
    return None
