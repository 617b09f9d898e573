"""The tier mutations; the tiers' share of the Mutation type."""

from __future__ import annotations

import strawberry

from app.graphql.tiers.mutations.save_tier_definition import save_tier_definition


@strawberry.type
class TierMutations:
    save_tier_definition = save_tier_definition
