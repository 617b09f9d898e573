"""Teams for team challenges, challenge boards, badges.

A team belongs to one challenge (a task with ``team_size``): members join by its code, at most
``team_size`` of them, one team per member and challenge. A member of a team earns the team
bonus (``JIFEN_ENGAGEMENT_TEAM_BONUS_PERCENT``, demo 20 %) on top of the challenge's points
when it completes it (see :mod:`app.engagement.tracker`). Team progress is the sum of its
members' progress in the challenge's current period.

Boards rank from ``task_progress`` in PostgreSQL — the same rows, in the same transaction, as
the progress itself, so a board is never behind nor in need of a rebuild — with the
leaderboards' order: more progress first, then who got there first, then the smaller id.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.clock import Clock, business_date
from app.config import Settings
from app.engagement.tables import badges, member_badges, task_progress, team_members, teams
from app.engagement.tasks import Task, check_code, plain
from app.engagement.tracker import TaskTracker, challenge_topic
from app.errors import DomainError, ErrorCode, invalid, not_found
from app.events.outbox import append_event
from app.ledger.models import Actor
from app.members.tables import members

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
TEAM_CODE_LENGTH = 6
MAX_BOARD = 100


@dataclass(frozen=True)
class Team:
    id: int
    task_id: int
    code: str
    name: str
    captain_id: int
    max_size: int
    size: int
    created_at: datetime


@dataclass(frozen=True)
class Standing:
    rank: int
    subject_id: int  # a member id, or a team id on a team board
    progress: Decimal
    reached_at: datetime


@dataclass(frozen=True)
class Badge:
    code: str
    name: str
    description: str


@dataclass(frozen=True)
class MemberBadge:
    badge: Badge
    source: str
    awarded_at: datetime


def _team(row: object) -> Team:
    return Team(*(getattr(row, name) for name in Team.__dataclass_fields__))


class Teams:
    def __init__(self, conn: AsyncConnection, clock: Clock, settings: Settings) -> None:
        self.conn = conn
        self.clock = clock
        self.settings = settings
        self.tracker = TaskTracker(conn, clock, settings)

    def _period(self, task: Task) -> str:
        return task.period_of(business_date(self.clock.now(), self.settings.timezone))

    async def _team_challenge(self, code: str) -> Task:
        record = await self.tracker.find(code)
        if record.task.team_size is None or not record.enabled:
            raise invalid(f"task {code} is not an open team challenge", "task")
        return record.task

    async def _add(self, team_id: int, task_id: int, member_id: int) -> None:
        added = await self.conn.scalar(
            insert(team_members)
            .values(
                team_id=team_id, member_id=member_id, task_id=task_id, joined_at=self.clock.now()
            )
            .on_conflict_do_nothing()
            .returning(team_members.c.member_id)
        )
        if added is None:
            raise DomainError(
                ErrorCode.ALREADY_EXISTS, "already in a team for this challenge", "memberId"
            )

    async def _require_member(self, member_id: int) -> None:
        if not await self.conn.scalar(select(members.c.id).where(members.c.id == member_id)):
            raise not_found("member", member_id, "memberId")

    async def create(self, task_code: str, captain_id: int, name: str, *, actor: Actor) -> Team:
        if not name.strip() or len(name) > 100:
            raise invalid("a team name is 1..100 characters", "name")
        task = await self._team_challenge(task_code)
        await self._require_member(captain_id)
        row = None
        while row is None:  # a new code on the rare collision
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(TEAM_CODE_LENGTH))
            row = (
                await self.conn.execute(
                    insert(teams)
                    .values(
                        task_id=task.id,
                        code=code,
                        name=name.strip(),
                        captain_id=captain_id,
                        max_size=task.team_size,
                        size=1,
                        created_at=self.clock.now(),
                    )
                    .on_conflict_do_nothing()
                    .returning(*teams.c)
                )
            ).first()
        team = _team(row)
        await self._add(team.id, task.id, captain_id)
        await self._announce(team, "team.created", captain_id, actor)
        return team

    async def join(self, code: str, member_id: int, *, actor: Actor) -> Team:
        """Join by code; the team row's lock makes the size limit exact under a rush."""
        row = (
            await self.conn.execute(
                select(teams).where(teams.c.code == code.strip().upper()).with_for_update()
            )
        ).first()
        if row is None:
            raise not_found("team", code, "code")
        await self._require_member(member_id)
        team = _team(row)
        if team.size >= team.max_size:
            raise DomainError(
                ErrorCode.LIMIT_REACHED, f"team {team.code} is full ({team.max_size})", "code"
            )
        await self._add(team.id, team.task_id, member_id)
        await self.conn.execute(
            teams.update().where(teams.c.id == team.id).values(size=team.size + 1)
        )
        team = Team(**{**team.__dict__, "size": team.size + 1})
        await self._announce(team, "team.joined", member_id, actor)
        return team

    async def _announce(self, team: Team, kind: str, member_id: int, actor: Actor) -> None:
        payload = {"team_id": team.id, "code": team.code, "member_id": member_id, "size": team.size}
        await append_event(
            self.conn,
            challenge_topic(team.task_id),
            kind,
            {**payload, "by": actor.principal},
            member_id=member_id,  # the member joining (or founding): on that member's shard
        )

    async def get(self, code: str) -> tuple[Team, list[int], Decimal]:
        """The team, its member ids, its progress in the challenge's current period."""
        row = (
            await self.conn.execute(select(teams).where(teams.c.code == code.strip().upper()))
        ).first()
        if row is None:
            raise not_found("team", code, "code")
        team = _team(row)
        record = await self.tracker.find_by_id(team.task_id)
        ids = (
            await self.conn.scalars(
                select(team_members.c.member_id)
                .where(team_members.c.team_id == team.id)
                .order_by(team_members.c.joined_at, team_members.c.member_id)
            )
        ).all()
        total = await self.conn.scalar(
            select(func.coalesce(func.sum(task_progress.c.progress), 0)).where(
                task_progress.c.task_id == team.task_id,
                task_progress.c.period == self._period(record.task),
                task_progress.c.member_id.in_(ids),
            )
        )
        return team, list(ids), plain(Decimal(total or 0))

    # ---------------------------------------------------------------------------- boards

    async def member_board(self, task_code: str, top: int) -> tuple[Task, str, list[Standing]]:
        task = await self._board_task(task_code, top)
        period = self._period(task)
        rows = await self.conn.execute(
            select(task_progress.c.member_id, task_progress.c.progress, task_progress.c.updated_at)
            .where(
                task_progress.c.task_id == task.id,
                task_progress.c.period == period,
                task_progress.c.progress > 0,
            )
            .order_by(
                task_progress.c.progress.desc(),
                task_progress.c.updated_at,
                task_progress.c.member_id,
            )
            .limit(top)
        )
        return (
            task,
            period,
            [
                Standing(rank, r.member_id, plain(r.progress), r.updated_at)
                for rank, r in enumerate(rows, start=1)
            ],
        )

    async def member_rank(self, task: Task, period: str, member_id: int) -> Standing | None:
        mine = (
            await self.conn.execute(
                select(task_progress.c.progress, task_progress.c.updated_at).where(
                    task_progress.c.task_id == task.id,
                    task_progress.c.period == period,
                    task_progress.c.member_id == member_id,
                    task_progress.c.progress > 0,
                )
            )
        ).first()
        if mine is None:
            return None
        ahead = await self.conn.scalar(
            select(func.count())
            .select_from(task_progress)
            .where(
                task_progress.c.task_id == task.id,
                task_progress.c.period == period,
                (task_progress.c.progress > mine.progress)
                | (
                    (task_progress.c.progress == mine.progress)
                    & (
                        (task_progress.c.updated_at < mine.updated_at)
                        | (
                            (task_progress.c.updated_at == mine.updated_at)
                            & (task_progress.c.member_id < member_id)
                        )
                    )
                ),
            )
        )
        return Standing(int(ahead or 0) + 1, member_id, plain(mine.progress), mine.updated_at)

    async def team_board(self, task_code: str, top: int) -> tuple[Task, str, list[Standing]]:
        task = await self._board_task(task_code, top, teams_only=True)
        period = self._period(task)
        total = func.coalesce(func.sum(task_progress.c.progress), 0).label("total")
        reached = func.max(task_progress.c.updated_at).label("reached")
        rows = await self.conn.execute(
            select(teams.c.id, total, reached, teams.c.created_at)
            .select_from(
                teams.join(team_members, team_members.c.team_id == teams.c.id).outerjoin(
                    task_progress,
                    (task_progress.c.member_id == team_members.c.member_id)
                    & (task_progress.c.task_id == teams.c.task_id)
                    & (task_progress.c.period == period),
                )
            )
            .where(teams.c.task_id == task.id)
            .group_by(teams.c.id, teams.c.created_at)
            .order_by(total.desc(), reached.asc().nulls_last(), teams.c.id)
            .limit(top)
        )
        return (
            task,
            period,
            [
                Standing(rank, r.id, plain(Decimal(r.total)), r.reached or r.created_at)
                for rank, r in enumerate(rows, start=1)
            ],
        )

    async def _board_task(self, code: str, top: int, *, teams_only: bool = False) -> Task:
        if not 1 <= top <= MAX_BOARD:
            raise invalid(f"top must be between 1 and {MAX_BOARD}", "top")
        task = (await self.tracker.find(code)).task
        if teams_only and task.team_size is None:
            raise invalid(f"task {code} is not a team challenge", "task")
        if not teams_only and not (task.leaderboard or task.team_size):
            raise invalid(f"task {code} has no leaderboard", "task")
        return task


# ---------------------------------------------------------------------------------- badges


async def save_badge(conn: AsyncConnection, clock: Clock, badge: Badge) -> Badge:
    check_code(badge.code)
    if not badge.name.strip() or len(badge.name) > 200:
        raise invalid("name must be 1..200 characters", "name")
    if len(badge.description) > 1000:
        raise invalid("description is at most 1000 characters", "description")
    values = {"name": badge.name.strip(), "description": badge.description}
    statement = insert(badges).values(code=badge.code, created_at=clock.now(), **values)
    await conn.execute(statement.on_conflict_do_update(index_elements=["code"], set_=values))
    return badge


async def list_badges(conn: AsyncConnection) -> list[Badge]:
    rows = await conn.execute(select(badges).order_by(badges.c.code))
    return [Badge(r.code, r.name, r.description) for r in rows]


async def badges_of(conn: AsyncConnection, member_id: int) -> list[MemberBadge]:
    rows = await conn.execute(
        select(badges, member_badges.c.source, member_badges.c.awarded_at)
        .join(member_badges, member_badges.c.badge_code == badges.c.code)
        .where(member_badges.c.member_id == member_id)
        .order_by(member_badges.c.awarded_at, badges.c.code)
    )
    return [MemberBadge(Badge(r.code, r.name, r.description), r.source, r.awarded_at) for r in rows]
