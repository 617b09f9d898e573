"""Earning rules (staff) and the preview of what a basket would earn."""

from __future__ import annotations

import strawberry

from app.earning import usecases
from app.earning.commands import PreviewPoints, RuleDraft
from app.graphql.core.context import Info
from app.graphql.core.fields import described_field
from app.graphql.core.inputs import aware, parse_id
from app.graphql.core.pagination import Page
from app.graphql.earning.breakdown import PointsBreakdown
from app.graphql.earning.inputs import PreviewPointsInput, purchase_lines, rule_spec_of
from app.graphql.earning.types import EarningRuleConnection, EarningRuleNode


@strawberry.type
class EarningQueries:
    @described_field("Earning rules, by id (staff).")
    async def earning_rules(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        enabled: bool | None = None,
    ) -> EarningRuleConnection:
        ctx = info.context
        ctx.require("earningRules")
        page = Page.of("rule", first, after, ctx.runtime.settings.page_size_cap)
        rows = await usecases.list_rules(
            ctx.runtime, enabled=enabled, after_id=page.after, first=page.fetch
        )
        return page.connection(
            EarningRuleConnection,
            rows,
            lambda record: EarningRuleNode(record=record),
            lambda record: record.rule.id,
        )

    @described_field("The points a basket would earn now, with the breakdown (nothing written).")
    async def preview_points(self, info: Info, input: PreviewPointsInput) -> PointsBreakdown:
        ctx = info.context
        ctx.require("previewPoints")
        member_id = parse_id(input.member_id, "memberId")
        await ctx.require_on_member("previewPoints", member_id)
        draft = None
        if input.draft is not None:
            ctx.require("earningRules")  # a draft is staff's: whoever may read the rules
            rule_id = input.draft.id
            draft = RuleDraft(
                spec=rule_spec_of(input.draft.rule),
                rule_id=None if rule_id is None else parse_id(rule_id, "draft.id"),
            )
        outcome = await usecases.preview_points(
            ctx.runtime,
            PreviewPoints(
                member_id=member_id,
                channel=input.channel,
                lines=purchase_lines(input.lines),
                at=aware(input.at, "at"),
                draft=draft,
            ),
        )
        return PointsBreakdown.of_outcome(outcome)
