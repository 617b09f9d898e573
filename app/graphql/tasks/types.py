"""Tasks and challenges, boards, teams and badges, and the task mutations' payloads."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import strawberry

from app.engagement.rewards import Granted
from app.engagement.teams import Badge, MemberBadge, Standing
from app.engagement.tracker import TaskRecord, TaskStatus
from app.graphql.core.fields import node_id
from app.graphql.tasks.enums import Metric, TaskKind, TaskPeriod, TaskTrigger


@strawberry.type(name="TaskReward")
class TaskRewardNode:
    points: int
    badge: str | None
    lottery_draws: int
    makeup_cards: int


@strawberry.type(name="Task", description="A task or challenge (data, managed by staff).")
class TaskNode:
    id: strawberry.ID
    code: str
    name: str
    description: str
    kind: TaskKind
    trigger: TaskTrigger
    event: str | None
    metric: Metric
    target: Decimal
    consecutive: bool
    period: TaskPeriod
    starts_on: date | None
    ends_on: date | None
    max_completions: int = strawberry.field(description="Per period (the cap of a repeatable).")
    reward: TaskRewardNode
    leaderboard: bool
    team_size: int | None = strawberry.field(description="Set for a team challenge.")
    enabled: bool
    version: int

    @classmethod
    def of(cls, record: TaskRecord) -> TaskNode:
        t = record.task
        return cls(
            id=node_id(t.id),
            code=t.code,
            name=t.name,
            description=t.description,
            kind=t.kind,
            trigger=t.trigger,
            event=t.event,
            metric=t.metric,
            target=t.target,
            consecutive=t.consecutive,
            period=t.period,
            starts_on=t.starts_on,
            ends_on=t.ends_on,
            max_completions=t.max_completions,
            reward=TaskRewardNode(
                points=t.reward.points,
                badge=t.reward.badge,
                lottery_draws=t.reward.lottery_draws,
                makeup_cards=t.reward.makeup_cards,
            ),
            leaderboard=t.leaderboard,
            team_size=t.team_size,
            enabled=record.enabled,
            version=record.version,
        )


@strawberry.type(name="TaskStatus", description="A task in the member's task centre.")
class TaskStatusNode:
    task: TaskNode
    period: str = strawberry.field(description="life, 2026-11-23, 2026-W48, 2026-11 or window.")
    progress: Decimal
    completions: int
    completed: bool = strawberry.field(description="No more completions this period.")
    open: bool = strawberry.field(description="Inside the task's dates today.")

    @classmethod
    def of(cls, status: TaskStatus) -> TaskStatusNode:
        task = status.task
        return cls(
            task=TaskNode.of(TaskRecord(task, True, 0)),
            period=status.period,
            progress=status.progress.progress,
            completions=status.progress.completions,
            completed=status.progress.completions >= task.max_completions,
            open=status.open,
        )


@strawberry.type(name="GrantedReward", description="A reward given (points, gift, draw, …).")
class GrantedNode:
    kind: str = strawberry.field(description="points, gift, lottery_draw, badge, makeup_card.")
    points: int
    quantity: int
    item: str | None

    @classmethod
    def of(cls, g: Granted) -> GrantedNode:
        return cls(kind=g.kind.value, points=g.points, quantity=g.quantity, item=g.item)


@strawberry.type(name="ChallengeStanding")
class StandingNode:
    rank: int
    id: strawberry.ID = strawberry.field(description="A member id, or a team id on team boards.")
    progress: Decimal
    reached_at: datetime

    @classmethod
    def of(cls, s: Standing) -> StandingNode:
        return cls(
            rank=s.rank, id=node_id(s.subject_id), progress=s.progress, reached_at=s.reached_at
        )


@strawberry.type(name="ChallengeBoard", description="A challenge's ranking in its period.")
class ChallengeBoardNode:
    task: str
    period: str
    top: list[StandingNode]
    member: StandingNode | None = strawberry.field(description="`memberId`'s standing.")


@strawberry.type(name="Team")
class TeamNode:
    id: strawberry.ID
    code: str = strawberry.field(description="Give it to friends: they join with it.")
    name: str
    task: str
    captain_id: strawberry.ID
    size: int
    max_size: int
    member_ids: list[strawberry.ID]
    progress: Decimal = strawberry.field(description="Members' progress in the current period.")


@strawberry.type(name="Badge")
class BadgeNode:
    code: str
    name: str
    description: str

    @classmethod
    def of(cls, b: Badge) -> BadgeNode:
        return cls(code=b.code, name=b.name, description=b.description)


@strawberry.type(name="MemberBadge")
class MemberBadgeNode:
    badge: BadgeNode
    source: str
    awarded_at: datetime

    @classmethod
    def of(cls, m: MemberBadge) -> MemberBadgeNode:
        return cls(badge=BadgeNode.of(m.badge), source=m.source, awarded_at=m.awarded_at)


@strawberry.type(description="A task definition was saved.")
class TaskSaved:
    task: TaskNode


@strawberry.type(description="The task progressed and, when complete, paid its reward.")
class TaskCompleted:
    status: TaskStatusNode
    rewards: list[GrantedNode]


@strawberry.type(description="The team as it is now.")
class TeamPayload:
    team: TeamNode


@strawberry.type(description="A badge definition was saved.")
class BadgeSaved:
    badge: BadgeNode
