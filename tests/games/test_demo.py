"""The demo programme's games: seeded twice, one of each, the same each time, the audit clean."""

from __future__ import annotations

from app.games import duels, quests
from app.games.duelrules import DuelStatus
from app.runtime import Runtime
from app.seed import seed_demo
from tests.mall.conftest import assert_audit_clean


async def test_the_demo_has_duel_rules_a_challenge_and_a_quest(runtime: Runtime) -> None:
    summary = await seed_demo(runtime)
    assert await seed_demo(runtime) == summary
    assert [r.rules.code for r in await duels.list_duel_rules(runtime)] == ["demo-pk"]
    (waiting,) = await duels.member_duels(runtime, summary.demo_member_id, first=10)
    assert waiting.duel.status is DuelStatus.PENDING and waiting.duel.stake == 100
    assert waiting.duel.challenger_id == summary.member_ids[2]
    (quest,) = await quests.list_quests(runtime)
    assert [lv.task_code for lv in quest.levels] == [
        "complete-profile",
        "share-daily",
        "buy-3-days",
    ]
    await assert_audit_clean(runtime)
