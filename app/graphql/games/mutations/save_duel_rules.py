"""saveDuelRules: what PK duels under a code allow (created, or changed for new duels)."""

from __future__ import annotations

from app.games import duels
from app.games.duelrules import DuelRules
from app.graphql.core.mutations import Call, mutation
from app.graphql.games.inputs import SaveDuelRulesInput
from app.graphql.games.types import DuelRulesNode, DuelRulesPayload


@mutation("Create or change PK duel rules by code (staff); running duels keep their terms.")
async def save_duel_rules(call: Call, input: SaveDuelRulesInput) -> DuelRulesPayload:
    rules = DuelRules(
        code=input.code,
        name=input.name,
        metrics=tuple(dict.fromkeys(input.metrics)),
        max_stake=input.max_stake,
        reward_points=input.reward_points,
        tie_rule=input.tie_rule,
        accept_hours=input.accept_hours,
        max_hours=input.max_hours,
        enabled=input.enabled,
    )
    saved = await duels.save_duel_rules(call.runtime, call.actor, rules)
    return DuelRulesPayload(rules=DuelRulesNode.of(saved))
