"""setEarningRuleEnabled: enable or disable a rule (a new version)."""

from __future__ import annotations

from app.earning import usecases
from app.graphql.core.inputs import parse_id
from app.graphql.core.mutations import Call, mutation
from app.graphql.earning.inputs import SetEarningRuleEnabledInput
from app.graphql.earning.types import EarningRuleNode, EarningRulePayload


@mutation("Enable or disable an earning rule (a new version).", result="EarningRuleResult")
async def set_earning_rule_enabled(
    call: Call, input: SetEarningRuleEnabledInput
) -> EarningRulePayload:
    record = await usecases.set_rule_enabled(
        call.runtime,
        call.actor,
        parse_id(input.id, "id"),
        input.enabled,
        expected_version=input.expected_version,
    )
    return EarningRulePayload(rule=EarningRuleNode(record=record))
