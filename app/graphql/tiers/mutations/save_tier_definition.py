"""saveTierDefinition: create or change a tier (the whole ladder is checked again)."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.tiers.inputs import SaveTierDefinitionInput
from app.graphql.tiers.types import TierDefinitionSaved, TierNode
from app.tiers import usecases


@mutation(
    "Create or change a tier (staff). The whole ladder is checked again: one base tier at "
    "threshold 0, thresholds rising with rank. Takes effect at once; audited."
)
async def save_tier_definition(call: Call, input: SaveTierDefinitionInput) -> TierDefinitionSaved:
    saved = await usecases.save_tier_definition(
        call.runtime,
        input.definition(),
        actor=call.actor,
        expected_version=input.expected_version,
    )
    return TierDefinitionSaved(
        tier=TierNode.of(saved.definition, saved.version), changed=saved.changed
    )
