"""Quest levels (积分任务闯关): an ordered chain of engagement tasks; finishing level N pays N's
reward and unlocks level N + 1 (docs/GAMES.md).

A level is finished when its task completes **while it is the member's current level**: the
games listen to engagement's ``TASK_COMPLETED`` hook, in the transaction of the purchase, event
or sign-in that completed the task and under the member's account lock, so a level is paid
once and the quest advances with the occurrence or not at all. A completion of a level still
locked does not count, then or later: the levels are played in order. The reward goes through
engagement's reward log (key ``quest:<quest id>:<level>``), an ordinary ledger earn the audit
ties to its row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.configcache import GenerationCache, generation_of
from app.db import unit_of_work
from app.engagement.tasks import Task, TaskKind, plain
from app.engagement.tracker import TaskTracker
from app.errors import DomainError, ErrorCode, invalid, not_found
from app.events.outbox import SIGNAL_PREFIX, append_event, member_topic
from app.games.policy import MAX_POINTS, check_named
from app.games.tables import quest_levels, quest_progress, quests
from app.ledger.models import Actor
from app.runtime import Runtime

MAX_LEVELS = 20


def quest_topic(quest_id: int) -> str:
    """A quest's change signal (its definition), beside each member's own events."""
    return f"{SIGNAL_PREFIX}quest:{quest_id}"


@dataclass(frozen=True)
class LevelSpec:
    task: str  # the engagement task's code
    reward_points: int = 0
    badge: str | None = None


@dataclass(frozen=True)
class QuestSpec:
    code: str
    name: str
    starts_at: datetime
    levels: tuple[LevelSpec, ...]
    ends_at: datetime | None = None
    description: str = ""

    def check(self) -> None:
        check_named(self.code, self.name)
        if len(self.description) > 2000:
            raise invalid("description is longer than 2000 characters", "description")
        if self.ends_at is not None and self.ends_at <= self.starts_at:
            raise invalid("a quest must end after it starts", "endsAt")
        if not 1 <= len(self.levels) <= MAX_LEVELS:
            raise invalid(f"a quest has 1..{MAX_LEVELS} levels", "levels")
        if len({level.task for level in self.levels}) != len(self.levels):
            raise invalid("each level is a different task", "levels")
        for level in self.levels:
            if not 0 <= level.reward_points <= MAX_POINTS:
                raise invalid(f"a level's reward is 0..{MAX_POINTS:,} points", "levels")


def check_level_tasks(tasks: list[Task]) -> None:
    """A one-off task completed before its level unlocked could never complete again: only
    the first level may be one."""
    for position, task in enumerate(tasks[1:], start=2):
        if task.kind is TaskKind.ONE_OFF:
            raise invalid(
                f"level {position}'s task {task.code} is one-off: only level 1 may be", "levels"
            )


@dataclass(frozen=True)
class Level:
    position: int
    task_id: int
    task_code: str
    task_name: str
    target: str
    reward_points: int
    badge: str | None


@dataclass(frozen=True)
class Quest:
    id: int
    code: str
    name: str
    description: str
    starts_at: datetime
    ends_at: datetime | None
    enabled: bool
    levels: tuple[Level, ...]

    def open_at(self, now: datetime) -> bool:
        return (
            self.enabled and self.starts_at <= now and (self.ends_at is None or now < self.ends_at)
        )


@dataclass(frozen=True)
class Standing:
    """A member in a quest: the levels finished, the current one and its task's progress."""

    quest: Quest
    finished: int
    current: Level | None  # None once every level is finished
    current_progress: str  # the current level's task progress in its current period
    unlocked_at: datetime | None
    completed_at: datetime | None


class Quests:
    def __init__(self, conn: AsyncConnection, rt: Runtime) -> None:
        self.conn = conn
        self.rt = rt
        self.tracker = TaskTracker(conn, rt.clock, rt.settings)

    async def create(self, spec: QuestSpec, actor: Actor) -> Quest:
        spec.check()
        records = [await self.tracker.find(level.task) for level in spec.levels]
        check_level_tasks([r.task for r in records])
        now = self.rt.clock.now()
        quest_id = await self.conn.scalar(
            insert(quests)
            .values(
                code=spec.code,
                name=spec.name,
                description=spec.description,
                starts_at=spec.starts_at,
                ends_at=spec.ends_at,
                enabled=True,
                created_by=actor.principal,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["code"])
            .returning(quests.c.id)
        )
        if quest_id is None:
            raise DomainError(ErrorCode.ALREADY_EXISTS, f"quest {spec.code} exists", "code")
        await self.conn.execute(
            quest_levels.insert(),
            [
                {
                    "quest_id": quest_id,
                    "position": n,
                    "task_id": record.task.id,
                    "reward_points": level.reward_points,
                    "badge": level.badge,
                }
                for n, (level, record) in enumerate(zip(spec.levels, records, strict=True), 1)
            ],
        )
        return await self.get(int(quest_id))

    async def get(self, quest_id: int) -> Quest:
        found = await self.listing(quest_id=quest_id)
        if not found:
            raise not_found("quest", quest_id, "questId")
        return found[0]

    async def by_code(self, code: str) -> Quest:
        quest_id = await self.conn.scalar(select(quests.c.id).where(quests.c.code == code))
        if quest_id is None:
            raise not_found("quest", code, "code")
        return await self.get(int(quest_id))

    async def listing(self, *, quest_id: int | None = None) -> list[Quest]:
        query = select(quests).order_by(quests.c.id)
        if quest_id is not None:
            query = query.where(quests.c.id == quest_id)
        rows = (await self.conn.execute(query)).all()
        tasks = {r.task.id: r.task for r in await self.tracker.all()}
        levels = await self.conn.execute(
            select(quest_levels)
            .where(quest_levels.c.quest_id.in_([r.id for r in rows]))
            .order_by(quest_levels.c.quest_id, quest_levels.c.position)
        )
        by_quest: dict[int, list[Level]] = {}
        for lv in levels:
            task = tasks[lv.task_id]
            by_quest.setdefault(lv.quest_id, []).append(
                Level(
                    lv.position,
                    task.id,
                    task.code,
                    task.name,
                    str(task.target),
                    lv.reward_points,
                    lv.badge,
                )
            )
        return [
            Quest(
                r.id,
                r.code,
                r.name,
                r.description,
                r.starts_at,
                r.ends_at,
                r.enabled,
                tuple(by_quest.get(r.id, [])),
            )
            for r in rows
        ]

    async def standings(self, member_id: int, *, quest_id: int | None = None) -> list[Standing]:
        """The member in every quest (or one): its level and the current task's progress."""
        found = await self.listing(quest_id=quest_id)
        rows = await self.conn.execute(
            select(quest_progress).where(quest_progress.c.member_id == member_id)
        )
        progress = {r.quest_id: r for r in rows}
        centre = {s.task.id: s for s in await self.tracker.centre(member_id)}
        out = []
        for quest in found:
            row = progress.get(quest.id)
            finished = 0 if row is None else row.finished
            current = quest.levels[finished] if finished < len(quest.levels) else None
            status = None if current is None else centre.get(current.task_id)
            out.append(
                Standing(
                    quest,
                    finished,
                    current,
                    "0" if status is None else str(plain(status.progress.progress)),
                    None if row is None else row.unlocked_at,
                    None if row is None else row.completed_at,
                )
            )
        return out


@cache
def _levels_of_task() -> Select[Any]:
    """The open quests' levels that are the task, with the member's progress in each quest:
    built once (every completed task asks it), parameters bound at each execution."""
    member_id = bindparam("q_member_id", type_=quest_progress.c.member_id.type)
    now = bindparam("q_now", type_=quests.c.starts_at.type)
    current = and_(
        quest_progress.c.quest_id == quest_levels.c.quest_id,
        quest_progress.c.member_id == member_id,
    )
    return (
        select(quest_levels, quests.c.name, quest_progress.c.finished)
        .join(quests, quests.c.id == quest_levels.c.quest_id)
        .outerjoin(quest_progress, current)
        .where(
            quest_levels.c.task_id == bindparam("q_task_id", type_=quest_levels.c.task_id.type),
            quests.c.enabled,
            quests.c.starts_at <= now,
            or_(quests.c.ends_at.is_(None), quests.c.ends_at > now),
        )
    )


def levels_generation() -> Any:
    """The quests' and their levels' generations, as one text (app/configcache.py): what
    :data:`_LEVEL_TASKS` is kept by, read with the member's task progress."""
    return func.concat(generation_of(quests), "/", generation_of(quest_levels))


# The tasks that are a level of an enabled quest, per :func:`levels_generation`: a completed
# task that is none (most completions: explorer, points, spend challenges) reads no levels.
_LEVEL_TASKS: GenerationCache[frozenset[int]] = GenerationCache()


async def _level_tasks(conn: AsyncConnection, generation: str | None) -> frozenset[int]:
    kept = _LEVEL_TASKS.get(generation)
    if kept is not None:
        return kept
    query = (
        select(quest_levels.c.task_id)
        .join(quests, quests.c.id == quest_levels.c.quest_id)
        .where(quests.c.enabled)
    )
    found = frozenset(await conn.scalars(query))
    return found if generation is None else _LEVEL_TASKS.put(generation, found)


async def task_completed(
    tracker: TaskTracker, member_id: int, task: Task, actor: Actor, generation: str | None
) -> None:
    """Engagement's hook: the task just completed for the member (its account locked): each
    open quest whose current level for the member is this task advances one level.
    ``generation``: the levels' (:func:`levels_generation`), read with the progress."""
    if task.id not in await _level_tasks(tracker.conn, generation):
        return  # a level of no enabled quest (whatever their dates): nothing to advance
    params = {"q_member_id": member_id, "q_task_id": task.id, "q_now": tracker.clock.now()}
    rows = await tracker.conn.execute(_levels_of_task(), params)
    for row in rows.all():
        if row.position != (row.finished or 0) + 1:
            continue  # a level finished already, or still locked: it does not count
        await _finish_level(tracker, member_id, row, actor)


async def _finish_level(tracker: TaskTracker, member_id: int, level: Any, actor: Actor) -> None:
    conn, now = tracker.conn, tracker.clock.now()
    key = f"quest:{level.quest_id}:{level.position}"
    await tracker.rewards.points(
        member_id,
        key,
        level.reward_points,
        source="quest",
        reason=f"quest {level.name}: level {level.position}",
        actor=actor,
    )
    if level.badge is not None:
        await tracker.award_badge(member_id, level.badge, source=key)
    values = {"finished": level.position, "unlocked_at": now, "completed_at": now}
    upsert = insert(quest_progress).values(
        member_id=member_id, quest_id=level.quest_id, updated_at=now, **values
    )
    await conn.execute(
        upsert.on_conflict_do_update(
            index_elements=["member_id", "quest_id"], set_=values | {"updated_at": now}
        )
    )
    total = await conn.scalar(
        select(quest_levels.c.position)
        .where(quest_levels.c.quest_id == level.quest_id)
        .order_by(quest_levels.c.position.desc())
        .limit(1)
    )
    payload = {
        "member_id": member_id,
        "quest_id": level.quest_id,
        "level": level.position,
        "levels": total,
        "reward_points": level.reward_points,
        "next_level": None if level.position == total else level.position + 1,
    }
    await append_event(conn, member_topic(member_id), "quest.level_finished", payload)
    if level.position == total:
        await append_event(conn, member_topic(member_id), "quest.completed", payload)


# ------------------------------------------------------------------------------ use cases


async def create_quest(rt: Runtime, actor: Actor, spec: QuestSpec) -> Quest:
    async with unit_of_work(rt.engine) as conn:
        return await Quests(conn, rt).create(spec, actor)


async def ensure_quest(rt: Runtime, actor: Actor, spec: QuestSpec) -> Quest:
    """Create the quest unless one with its code exists (the demo seed)."""
    try:
        return await create_quest(rt, actor, spec)
    except DomainError as error:
        if error.code is not ErrorCode.ALREADY_EXISTS:
            raise
    async with rt.engine.connect() as conn:
        return await Quests(conn, rt).by_code(spec.code)


async def list_quests(rt: Runtime) -> list[Quest]:
    async with rt.read() as conn:
        return await Quests(conn, rt).listing()


async def quest_standings(
    rt: Runtime, member_id: int, *, quest_id: int | None = None
) -> list[Standing]:
    async with rt.read(member_id) as conn:
        return await Quests(conn, rt).standings(member_id, quest_id=quest_id)
