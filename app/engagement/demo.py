"""The demo programme's engagement part (FEATURES.md §5, seeds [000][001][003]): sign-in
schedules, badges, tasks and challenges. Seeding never overwrites what an operator changed."""

from __future__ import annotations

from typing import Any

from app.engagement import usecases
from app.engagement.teams import Badge
from app.ledger.models import Actor
from app.runtime import Runtime

DEMO_BADGES = (
    Badge("new-product-explorer", "新品探索家 New-product explorer", "Bought from 3 categories."),
    Badge("profile-complete", "Profile complete", "Completed the member profile."),
    Badge("seven-day-streak", "Seven-day streak", "Signed in 7 days in a row."),
    Badge("points-champion", "Monthly points champion", "Earned 1,000 points in a month."),
)

# The behaviour tasks' points (profile, follow, share) are paid by the earning rules of the
# same names (docs/EARNING.md: 10 each, 30 a day for sharing); their tasks show the progress
# and add a badge where the seeds name one, so nothing is paid twice.
DEMO_TASKS: dict[str, dict[str, Any]] = {
    "complete-profile": {
        "name": "Complete your profile (10 points)",
        "kind": "one_off",
        "trigger": "event",
        "event": "profile_completed",
        "reward": {"badge": "profile-complete"},
    },
    "follow-account": {
        "name": "Follow the official account (10 points)",
        "kind": "one_off",
        "trigger": "event",
        "event": "follow",
        "reward": {},
    },
    "share-daily": {
        "name": "Share: 10 points each, at most 30 a day",
        "kind": "repeatable",
        "trigger": "event",
        "event": "share",
        "period": "day",
        "max_completions": 3,
        "reward": {},
    },
    "buy-3-days": {
        "name": "Buy on 3 consecutive days: +100",
        "kind": "challenge",
        "trigger": "purchase",
        "metric": "days",
        "consecutive": True,
        "target": 3,
        "period": "month",
        "reward": {"points": 100},
    },
    "monthly-points": {
        "name": "Monthly points challenge: earn 1,000 points this month",
        "kind": "challenge",
        "trigger": "points",
        "metric": "points",
        "target": 1000,
        "period": "month",
        "leaderboard": True,
        "reward": {"badge": "points-champion", "lottery_draws": 1},
    },
    "team-spend": {
        "name": "Team challenge: spend 1,000 CNY this month (+20% in a team)",
        "kind": "challenge",
        "trigger": "purchase",
        "metric": "amount",
        "target": 1000,
        "period": "month",
        "team_size": 5,
        "reward": {"points": 200},
    },
    "new-product-explorer": {
        "name": "New-product explorer: buy from 3 categories",
        "kind": "one_off",
        "trigger": "purchase",
        "metric": "categories",
        "target": 3,
        "reward": {"badge": "new-product-explorer", "points": 30},
    },
    "seven-day-streak": {
        "name": "Sign in 7 days in a row: a badge and a make-up card",
        "kind": "one_off",
        "trigger": "sign_in",
        "metric": "days",
        "consecutive": True,
        "target": 7,
        "reward": {"badge": "seven-day-streak", "makeup_cards": 1},
    },
}


async def seed_engagement(rt: Runtime, actor: Actor) -> None:
    await usecases.seed_schedules(rt, actor)
    known_badges = {badge.code for badge in await usecases.list_badges(rt)}
    for badge in DEMO_BADGES:
        if badge.code not in known_badges:
            await usecases.save_badge(rt, badge)
    known_tasks = {record.task.code for record in await usecases.list_tasks(rt)}
    for code, spec in DEMO_TASKS.items():
        if code not in known_tasks:
            await usecases.create_task(rt, actor, code, spec)
