"""The demo programme's engagement part: FEATURES.md §5's numbers, seeded once."""

from __future__ import annotations

from app.engagement import usecases
from app.runtime import Runtime
from app.seed import seed_demo


async def test_seeding_twice_gives_the_demo_programme_once(runtime: Runtime) -> None:
    await seed_demo(runtime)
    await seed_demo(runtime)

    schedules = {s.code: (s, active) for s, active in await usecases.list_schedules(runtime)}
    daily, active = schedules["daily"]
    assert active and [daily.reward_for(n).points for n in range(1, 9)] == [5] * 6 + [25, 5]
    calendar, _ = schedules["calendar"]
    assert (calendar.reward_for(3).points, calendar.reward_for(3).gifts) == (10, ("small gift",))
    assert (calendar.reward_for(7).points, calendar.reward_for(7).lottery_draws) == (50, 1)
    tasks = {r.task.code: r.task for r in await usecases.list_tasks(runtime)}
    assert len(tasks) == 8
    assert tasks["buy-3-days"].reward.points == 100
    assert tasks["share-daily"].max_completions == 3
    assert tasks["team-spend"].team_size == 5
    assert tasks["monthly-points"].leaderboard
    assert {b.code for b in await usecases.list_badges(runtime)} >= {"new-product-explorer"}
    assert runtime.settings.engagement_referral_points == 100
    assert runtime.settings.engagement_winback_points == 100
    assert runtime.settings.engagement_team_bonus_percent == 20
