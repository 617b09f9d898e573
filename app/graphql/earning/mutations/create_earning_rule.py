"""createEarningRule: a new earning rule (versioned and audited)."""

from __future__ import annotations

from app.earning import usecases
from app.graphql.core.mutations import Call, mutation
from app.graphql.earning.inputs import CreateEarningRuleInput, rule_spec_of
from app.graphql.earning.types import EarningRuleNode, EarningRulePayload


@mutation(
    "Create an earning rule (staff); every change is versioned and audited.",
    result="EarningRuleResult",
)
async def create_earning_rule(call: Call, input: CreateEarningRuleInput) -> EarningRulePayload:
    record = await usecases.create_rule(
        call.runtime, call.actor, rule_spec_of(input.rule), enabled=input.enabled
    )
    return EarningRulePayload(rule=EarningRuleNode(record=record))
