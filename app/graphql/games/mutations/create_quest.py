"""createQuest: quest levels (积分任务闯关), an ordered chain of engagement tasks."""

from __future__ import annotations

from app.games import quests
from app.games.quests import LevelSpec, QuestSpec
from app.graphql.core.mutations import Call, mutation
from app.graphql.games.inputs import CreateQuestInput
from app.graphql.games.types import QuestNode, QuestPayload


@mutation("Chain tasks into quest levels (staff): finishing level N unlocks N + 1.")
async def create_quest(call: Call, input: CreateQuestInput) -> QuestPayload:
    levels = tuple(LevelSpec(lv.task, lv.reward_points, lv.badge) for lv in input.levels)
    spec = QuestSpec(
        code=input.code,
        name=input.name,
        starts_at=input.starts_at,
        levels=levels,
        ends_at=input.ends_at,
        description=input.description,
    )
    return QuestPayload(
        quest=QuestNode.of(await quests.create_quest(call.runtime, call.actor, spec))
    )
