"""The programme's tiers and their audited changes."""

from __future__ import annotations

import strawberry

from app.graphql.core.context import Info
from app.graphql.core.fields import described_field
from app.graphql.tiers.types import TierDefinitionVersionNode, TierNode
from app.tiers import usecases


@strawberry.type
class TierQueries:
    @described_field("The programme's tiers, lowest first.")
    async def tiers(self, info: Info) -> list[TierNode]:
        info.context.require("tiers")
        rt = info.context.runtime
        versions = await usecases.tier_versions(rt)
        return [TierNode.of(d, versions.get(d.code)) for d in await usecases.list_tiers(rt)]

    @described_field("Who changed which tier definition, newest first (at most 200).")
    async def tier_definition_versions(
        self, info: Info, code: str | None = None
    ) -> list[TierDefinitionVersionNode]:
        info.context.require("tierDefinitionVersions")
        versions = await usecases.tier_definition_versions(info.context.runtime, code)
        return [TierDefinitionVersionNode.of(v) for v in versions]
