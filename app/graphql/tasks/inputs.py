"""The task, team and badge mutations' inputs."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry

from app.graphql.segments.enums import Segment
from app.graphql.tasks.enums import Metric, TaskKind, TaskPeriod, TaskTrigger


@strawberry.input
class TaskRewardInput:
    points: int = 0
    badge: str | None = None
    lottery_draws: int = 0
    makeup_cards: int = 0


@strawberry.input
class TaskSpecInput:
    name: str
    kind: TaskKind
    trigger: TaskTrigger
    reward: TaskRewardInput
    description: str = ""
    event: str | None = None
    metric: Metric = Metric.COUNT
    target: Decimal = Decimal(1)
    consecutive: bool = False
    period: TaskPeriod = TaskPeriod.LIFETIME
    starts_on: date | None = None
    ends_on: date | None = None
    max_completions: int = 1
    leaderboard: bool = False
    team_size: int | None = None
    segments: list[Segment] | None = strawberry.field(
        default=None,
        description="Only members in one of these RFM segments (as of the last segmentation "
        "run) make progress; leave it out for everyone.",
    )

    def spec(self) -> dict[str, Any]:
        """The stored spec's shape (the same snake_case keys): validated by parse_task."""
        raw: dict[str, Any] = _json(dataclasses.asdict(self))
        return raw


def _json(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json(item) for item in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


@strawberry.input
class CreateTaskInput:
    code: str
    task: TaskSpecInput
    enabled: bool = True


@strawberry.input
class UpdateTaskInput:
    code: str
    task: TaskSpecInput
    expected_version: int | None = None


@strawberry.input
class SetTaskEnabledInput:
    code: str
    enabled: bool


@strawberry.input
class CompleteTaskInput:
    member_id: strawberry.ID
    task: str = strawberry.field(description="The task's code.")


@strawberry.input
class CreateTeamInput:
    task: str = strawberry.field(description="The team challenge's code.")
    member_id: strawberry.ID = strawberry.field(description="The captain (joins at once).")
    name: str


@strawberry.input
class JoinTeamInput:
    code: str
    member_id: strawberry.ID


@strawberry.input
class SaveBadgeInput:
    code: str
    name: str
    description: str = ""
