"""The sign-in mutations' inputs."""

from __future__ import annotations

from datetime import date

import strawberry


@strawberry.input
class CheckInInput:
    member_id: strawberry.ID


@strawberry.input
class MakeUpSignInInput:
    member_id: strawberry.ID
    day: date = strawberry.field(description="A missed business day of the current month.")


@strawberry.input
class GrantMakeUpCardsInput:
    member_id: strawberry.ID
    count: int
    reason: str
    idempotency_key: str


@strawberry.input
class ScheduleDayInput:
    day: int
    points: int | None = None
    bonus: int = 0
    gifts: list[str] = strawberry.field(default_factory=list)
    lottery_draws: int = 0


@strawberry.input
class SaveSignInScheduleInput:
    code: str
    name: str
    base_points: int
    cycle_days: int = 7
    days: list[ScheduleDayInput] = strawberry.field(default_factory=list)
    activate: bool = False
