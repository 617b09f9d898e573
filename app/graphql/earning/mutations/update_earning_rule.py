"""updateEarningRule: replace a rule's definition (a new version)."""

from __future__ import annotations

from app.earning import usecases
from app.graphql.core.inputs import parse_id
from app.graphql.core.mutations import Call, mutation
from app.graphql.earning.inputs import UpdateEarningRuleInput, rule_spec_of
from app.graphql.earning.types import EarningRuleNode, EarningRulePayload


@mutation("Replace an earning rule's definition (a new version).", result="EarningRuleResult")
async def update_earning_rule(call: Call, input: UpdateEarningRuleInput) -> EarningRulePayload:
    record = await usecases.update_rule(
        call.runtime,
        call.actor,
        parse_id(input.id, "id"),
        rule_spec_of(input.rule),
        expected_version=input.expected_version,
    )
    return EarningRulePayload(rule=EarningRuleNode(record=record))
