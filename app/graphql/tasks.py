"""Tasks and challenges, challenge and team boards, teams, badges (docs/ENGAGEMENT.md).

Resolvers check permissions, translate GraphQL values into plain values and call
:mod:`app.engagement.usecases`; the task arithmetic lives in :mod:`app.engagement.tasks`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import strawberry

from app.engagement import usecases
from app.engagement.rewards import Granted
from app.engagement.tasks import Metric, TaskKind, TaskPeriod, TaskTrigger
from app.engagement.teams import Badge, MemberBadge, Standing, Team
from app.engagement.tracker import TaskRecord, TaskStatus, challenge_topic
from app.graphql.context import Info
from app.graphql.errors import MutationError, refusal_as_payload
from app.graphql.fields import described_field, described_mutation, described_subscription
from app.graphql.pagination import parse_id
from app.graphql.subscriptions import state_on_change

strawberry.enum(TaskKind, name="TaskKind")
strawberry.enum(TaskTrigger, name="TaskTrigger")
strawberry.enum(Metric, name="TaskMetric")
strawberry.enum(TaskPeriod, name="TaskPeriod")

CHALLENGE_BOARD = "challengeBoard"


def _id(value: int) -> strawberry.ID:
    return strawberry.ID(str(value))


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
            id=_id(t.id),
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
        return cls(rank=s.rank, id=_id(s.subject_id), progress=s.progress, reached_at=s.reached_at)


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


# ------------------------------------------------------------------------------------ inputs


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

    def spec(self) -> dict[str, Any]:
        """The stored spec's shape (the same snake_case keys): validated by parse_task."""
        raw: dict[str, Any] = _json(dataclasses.asdict(self))
        return raw


def _json(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _json(item) for key, item in value.items()}
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


# ----------------------------------------------------------------------------------- payloads


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


TaskResult = Annotated[TaskSaved | MutationError, strawberry.union("TaskResult")]
CompleteTaskResult = Annotated[
    TaskCompleted | MutationError, strawberry.union("CompleteTaskResult")
]
TeamResult = Annotated[TeamPayload | MutationError, strawberry.union("TeamResult")]
SaveBadgeResult = Annotated[BadgeSaved | MutationError, strawberry.union("SaveBadgeResult")]


async def _team_node(info: Info, code: str) -> TeamNode:
    team, ids, progress = await usecases.get_team(info.context.runtime, code)
    task = await _task_code(info, team)
    return TeamNode(
        id=_id(team.id),
        code=team.code,
        name=team.name,
        task=task,
        captain_id=_id(team.captain_id),
        size=team.size,
        max_size=team.max_size,
        member_ids=[_id(i) for i in ids],
        progress=progress,
    )


async def _task_code(info: Info, team: Team) -> str:
    for record in await usecases.list_tasks(info.context.runtime):
        if record.task.id == team.task_id:
            return record.task.code
    return str(team.task_id)


async def _board(
    info: Info, task: str, top: int, member_id: strawberry.ID | None
) -> ChallengeBoardNode:
    ctx = info.context
    ctx.require(CHALLENGE_BOARD)
    member = None if member_id is None else parse_id(str(member_id), "memberId")
    if member is not None:
        await ctx.readable_member(CHALLENGE_BOARD, member)
    found, period, standings, mine = await usecases.challenge_board(ctx.runtime, task, top, member)
    return ChallengeBoardNode(
        task=found.code,
        period=period,
        top=[StandingNode.of(s) for s in standings],
        member=None if mine is None else StandingNode.of(mine),
    )


# ------------------------------------------------------------------------------------ queries


@strawberry.type
class TaskQueries:
    @described_field("The programme's tasks and challenges.")
    async def tasks(self, info: Info, enabled: bool | None = None) -> list[TaskNode]:
        info.context.require("tasks")
        return [
            TaskNode.of(r) for r in await usecases.list_tasks(info.context.runtime, enabled=enabled)
        ]

    @described_field("Every open task with the member's progress in its current period.")
    async def task_centre(self, info: Info, member_id: strawberry.ID) -> list[TaskStatusNode]:
        member = parse_id(str(member_id), "memberId")
        await info.context.readable_member("taskCentre", member)
        return [
            TaskStatusNode.of(s) for s in await usecases.task_centre(info.context.runtime, member)
        ]

    @described_field("A challenge's members ranked by progress this period (top ≤ 100).")
    async def challenge_board(
        self, info: Info, task: str, top: int = 10, member_id: strawberry.ID | None = None
    ) -> ChallengeBoardNode:
        return await _board(info, task, top, member_id)

    @described_field("A team challenge's teams ranked by their members' progress (top ≤ 100).")
    async def team_board(self, info: Info, task: str, top: int = 10) -> ChallengeBoardNode:
        info.context.require("teamBoard")
        found, period, standings = await usecases.team_board(info.context.runtime, task, top)
        return ChallengeBoardNode(
            task=found.code, period=period, top=[StandingNode.of(s) for s in standings], member=None
        )

    @described_field("A team by its code.")
    async def team(self, info: Info, code: str) -> TeamNode:
        info.context.require("team")
        return await _team_node(info, code)

    @described_field("The programme's badges.")
    async def badges(self, info: Info) -> list[BadgeNode]:
        info.context.require("badges")
        return [BadgeNode.of(b) for b in await usecases.list_badges(info.context.runtime)]

    @described_field("The badges a member holds, oldest first.")
    async def member_badges(self, info: Info, member_id: strawberry.ID) -> list[MemberBadgeNode]:
        member = parse_id(str(member_id), "memberId")
        await info.context.readable_member("memberBadges", member)
        found = await usecases.member_badges(info.context.runtime, member)
        return [MemberBadgeNode.of(b) for b in found]


# ---------------------------------------------------------------------------------- mutations


@strawberry.type
class TaskMutations:
    @described_mutation("Create a task or challenge (staff).")
    async def create_task(self, info: Info, input: CreateTaskInput) -> TaskResult:
        ctx = info.context

        async def run() -> TaskSaved:
            ctx.require("createTask")
            record = await usecases.create_task(
                ctx.runtime,
                ctx.principal.to_actor(),
                input.code,
                input.task.spec(),
                enabled=input.enabled,
            )
            return TaskSaved(task=TaskNode.of(record))

        return await refusal_as_payload(run)

    @described_mutation("Replace a task's definition (staff); progress made is kept.")
    async def update_task(self, info: Info, input: UpdateTaskInput) -> TaskResult:
        ctx = info.context

        async def run() -> TaskSaved:
            ctx.require("updateTask")
            record = await usecases.update_task(
                ctx.runtime,
                ctx.principal.to_actor(),
                input.code,
                input.task.spec(),
                expected_version=input.expected_version,
            )
            return TaskSaved(task=TaskNode.of(record))

        return await refusal_as_payload(run)

    @described_mutation("Open or close a task (staff).")
    async def set_task_enabled(self, info: Info, input: SetTaskEnabledInput) -> TaskResult:
        ctx = info.context

        async def run() -> TaskSaved:
            ctx.require("setTaskEnabled")
            record = await usecases.update_task(
                ctx.runtime, ctx.principal.to_actor(), input.code, None, enabled=input.enabled
            )
            return TaskSaved(task=TaskNode.of(record))

        return await refusal_as_payload(run)

    @described_mutation("Complete a manual task (one the front end reports, e.g. a follow).")
    async def complete_task(self, info: Info, input: CompleteTaskInput) -> CompleteTaskResult:
        ctx = info.context

        async def run() -> TaskCompleted:
            member = parse_id(str(input.member_id), "memberId")
            await ctx.require_on_member("completeTask", member)
            update = await usecases.complete_task(
                ctx.runtime, ctx.principal.to_actor(), member, input.task
            )
            status = TaskStatus(update.task, update.period, update.progress, True)
            return TaskCompleted(
                status=TaskStatusNode.of(status),
                rewards=[GrantedNode.of(g) for g in update.granted],
            )

        return await refusal_as_payload(run)

    @described_mutation("Start a team for a team challenge; the captain joins at once.")
    async def create_team(self, info: Info, input: CreateTeamInput) -> TeamResult:
        ctx = info.context

        async def run() -> TeamPayload:
            member = parse_id(str(input.member_id), "memberId")
            await ctx.require_on_member("createTeam", member)
            team = await usecases.create_team(
                ctx.runtime, ctx.principal.to_actor(), input.task, member, input.name
            )
            return TeamPayload(team=await _team_node(info, team.code))

        return await refusal_as_payload(run)

    @described_mutation("Join a team by its code (one team per challenge; size limited).")
    async def join_team(self, info: Info, input: JoinTeamInput) -> TeamResult:
        ctx = info.context

        async def run() -> TeamPayload:
            member = parse_id(str(input.member_id), "memberId")
            await ctx.require_on_member("joinTeam", member)
            team = await usecases.join_team(
                ctx.runtime, ctx.principal.to_actor(), input.code, member
            )
            return TeamPayload(team=await _team_node(info, team.code))

        return await refusal_as_payload(run)

    @described_mutation("Create or change a badge (staff).")
    async def save_badge(self, info: Info, input: SaveBadgeInput) -> SaveBadgeResult:
        ctx = info.context

        async def run() -> BadgeSaved:
            ctx.require("saveBadge")
            badge = await usecases.save_badge(
                ctx.runtime, Badge(input.code, input.name, input.description)
            )
            return BadgeSaved(badge=BadgeNode.of(badge))

        return await refusal_as_payload(run)


# ------------------------------------------------------------------------------ subscriptions


@strawberry.type
class TaskSubscriptions:
    @described_subscription("A challenge's board now, then whenever progress on it changes.")
    async def challenge_board(
        self, info: Info, task: str, top: int = 10, member_id: strawberry.ID | None = None
    ) -> AsyncGenerator[ChallengeBoardNode, None]:
        ctx = info.context
        first = await _board(info, task, top, member_id)  # checks, NOT_FOUND, bad input first
        found = await usecases.find_task(ctx.runtime, first.task)
        sent_first = False

        async def read() -> ChallengeBoardNode:
            nonlocal sent_first
            if not sent_first:
                sent_first = True
                return first
            return await _board(info, task, top, member_id)

        async for board in state_on_change(ctx, challenge_topic(found.task.id), read):
            yield board
