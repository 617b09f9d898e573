"""saveBadge: create or change a badge."""

from __future__ import annotations

from app.engagement import usecases
from app.engagement.teams import Badge
from app.graphql.core.mutations import Call, mutation
from app.graphql.tasks.inputs import SaveBadgeInput
from app.graphql.tasks.types import BadgeNode, BadgeSaved


@mutation("Create or change a badge (staff).")
async def save_badge(call: Call, input: SaveBadgeInput) -> BadgeSaved:
    badge = await usecases.save_badge(
        call.runtime, Badge(input.code, input.name, input.description)
    )
    return BadgeSaved(badge=BadgeNode.of(badge))
