"""Tasks on the database: definitions (staff, versioned), progress per member and period,
rewards on completion, team bonus, live progress events.

:meth:`TaskTracker.record` runs inside the transaction of whatever happened (a purchase, an
event, a sign-in), with the member's account lock already taken: progress, rewards and events
commit with it or not at all. A completion's rewards are keyed ``task:<id>:<period>:<n>``, so a
replay can never pay one twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ARRAY,
    CTE,
    BigInteger,
    Date,
    DateTime,
    Integer,
    String,
    and_,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.clock import Clock, business_date
from app.config import Settings
from app.configcache import GenerationCache, generation_of
from app.db import unnest_params
from app.earning.hooks import POINTS_OVERRIDES, PointsChoice
from app.engagement.activity import noting_activity
from app.engagement.referrals import UNREAD, pending_referrer
from app.engagement.rewards import Granted, RewardKind, Rewards
from app.engagement.tables import (
    badges,
    engagement_rewards,
    member_badges,
    task_progress,
    tasks,
    team_members,
)
from app.engagement.tasks import (
    Occurrence,
    Progress,
    Task,
    TaskTrigger,
    advance,
    matches,
    parse_task,
    plain,
)
from app.errors import DomainError, ErrorCode, invalid, not_found
from app.events.outbox import SIGNAL_PREFIX, event_params, events_insert_params, member_topic
from app.hooks import Hook
from app.ledger.models import Actor
from app.segments.queries import segment_of
from app.segments.tables import member_segments

PROGRESSED = "task.progressed"
COMPLETED = "task.completed"

# Told of each task a member completed, in the transaction that completed it, under the
# member's account lock (the games' quest levels listen: app/games/__init__.py), with what the
# listeners cache their reads by (:class:`ListenersGeneration`, read with the progress). Called
# only when something completed: the hot paths that merely progress pay nothing for it.
TASK_COMPLETED: Hook[[TaskTracker, int, Task, Actor, str | None]] = Hook(
    "engagement.task_completed"
)


class ListenersGeneration:
    """What the ``TASK_COMPLETED`` listeners cache their plan by (the quests: which tasks are a
    level, app/games/quests.py): a scalar subquery the provider gives, folded into the progress
    read (no round trip) and handed to the listeners. NULL without a provider."""

    def __init__(self) -> None:
        self._generation: Callable[[], Any] | None = None

    def provide(self, generation: Callable[[], Any]) -> None:
        self._generation = generation

    def __call__(self) -> Any:
        return null() if self._generation is None else self._generation()


LISTENERS_GENERATION = ListenersGeneration()


# The enabled tasks, per process, checked against the tasks table's generation in the
# statement that reads the member's progress (app/configcache.py).
ENABLED_TASKS: GenerationCache[list[Task]] = GenerationCache()


def challenge_topic(task_id: int) -> str:
    """A challenge's change signal (its board re-reads on each burst): a ``signal:`` topic, so
    the many transactions that feed one challenge do not queue on its topic lock (migration
    0008)."""
    return f"{SIGNAL_PREFIX}challenge:{task_id}"


def _generations(member_id: Any) -> list[Any]:
    """What the progress read carries besides the rows (no round trip of their own): the tasks
    table's generation, the member's segment, the experiments' generation (what a variant's
    task reward is cached by: app/earning/hooks.py, POINTS_OVERRIDES) and the quest listeners'
    (:class:`ListenersGeneration`)."""
    segment = (
        select(member_segments.c.segment)
        .where(member_segments.c.member_id == member_id)
        .scalar_subquery()
    )
    return [
        generation_of(tasks).label("generation"),
        segment.label("segment"),
        POINTS_OVERRIDES.generation().label("variants"),
        LISTENERS_GENERATION().label("listeners"),
    ]


@cache
def _progress_query(*, note_activity: bool, referral: bool = False) -> Any:
    """The tasks table's generation and the member's progress rows for some (task, period)
    keys: one row with the generation alone when there are none. With ``note_activity``, the
    same statement notes the member's activity and reads the one before it (``last_active``,
    app/engagement/activity.py); with ``referral``, it reads the referrer of the member's
    pending referral (``referrer_id``: a first purchase pays it). Built once per shape;
    parameters bound at each execution."""
    generation = select(*_generations(bindparam("member_id", type_=BigInteger))).subquery("g")
    wanted = and_(
        task_progress.c.member_id == bindparam("member_id", type_=BigInteger),
        tuple_(task_progress.c.task_id, task_progress.c.period).in_(
            bindparam("keys", expanding=True)
        ),
    )
    query = select(
        generation.c.generation,
        generation.c.segment,
        generation.c.variants,
        generation.c.listeners,
        task_progress,
    ).select_from(generation.outerjoin(task_progress, wanted))
    if referral:
        member_id = bindparam("member_id", type_=BigInteger)
        query = query.add_columns(pending_referrer(member_id).label("referrer_id"))
    if not note_activity:
        return query
    last_active, ctes = noting_activity()
    return query.add_columns(last_active).add_cte(*ctes)


# The progress read riding on a purchase's credit (earning's ``PurchaseRide``): its parameters
# and CTEs are named ``tp_``, so none is a column of the ledger's tables or another rider's.
RIDE = "tp_"
_RIDE_ROWS = ("task_id", "period", "progress", "completions", "last_day")


def _riding_read(*, referral: bool) -> tuple[list[CTE], CTE]:
    """:func:`_progress_query`'s read with the activity noted, as one row of one CTE for the
    purchase's credit to carry: the first row's columns, prefixed, and the progress rows as
    one array per column (``tp_seen`` one JSON array), asked for by two arrays of keys
    (``tp_task_ids``, ``tp_periods``): one text for any number of keys."""
    member_id = bindparam(f"{RIDE}member_id", type_=BigInteger)
    asked = (
        func.unnest(
            bindparam(f"{RIDE}task_ids", type_=ARRAY(BigInteger)),
            bindparam(f"{RIDE}periods", type_=ARRAY(String)),
        )
        .table_valued("task_id", "period")
        .render_derived("asked")
    )
    c = task_progress.c
    rows = (
        select(
            *(func.array_agg(c[name]).label(f"{RIDE}{name}") for name in _RIDE_ROWS),
            func.jsonb_agg(c.seen, type_=JSONB).label(f"{RIDE}seen"),
        )
        .where(
            c.member_id == member_id,
            tuple_(c.task_id, c.period).in_(select(asked.c.task_id, asked.c.period)),
        )
        .subquery(f"{RIDE}rows")
    )
    # The member's teams in the asked tasks: a team challenge's completion pays its bonus by it.
    teams = (
        select(
            func.array_agg(team_members.c.task_id).label(f"{RIDE}team_task_ids"),
            func.array_agg(team_members.c.team_id).label(f"{RIDE}team_ids"),
        )
        .where(
            team_members.c.member_id == member_id,
            team_members.c.task_id.in_(select(asked.c.task_id)),
        )
        .subquery(f"{RIDE}teams")
    )
    last_active, ctes = noting_activity(RIDE)
    columns = [*_generations(member_id), last_active]
    if referral:
        columns.append(pending_referrer(member_id).label("referrer_id"))
    read = (
        select(*(column.label(f"{RIDE}{column.name}") for column in columns), *rows.c, *teams.c)
        .select_from(rows.join(teams, true()))
        .cte(f"{RIDE}read")
    )
    return ctes, read


def ride_progress_read() -> tuple[list[CTE], CTE]:
    """The riding read of a purchase that is not a member's first (module-level: the credit's
    statement is built once for it)."""
    return _riding_read(referral=False)


def ride_progress_read_with_referral() -> tuple[list[CTE], CTE]:
    """The riding read of a member's first purchase: its pending referral's referrer too."""
    return _riding_read(referral=True)


@cache
def _save_and_announce_statement() -> Any:
    """The changed progress rows upserted and their events inserted, one statement: the rows
    and the events travel as one array per column (``unnest``), so the statement keeps one
    shape whatever their number. Built once; the arrays bound at each execution
    (``t_``: the progress rows, ``e_``: the events)."""
    number, text, day = BigInteger(), String(), Date()
    rows = unnest_params(
        "t_",
        member_id=number,
        task_id=number,
        period=text,
        progress=task_progress.c.progress.type,
        completions=Integer(),
        last_day=day,
        seen=text,
        updated_at=DateTime(timezone=True),
        completed_at=DateTime(timezone=True),
    )
    columns = [c.name for c in rows.c]
    values = [cast(c, JSONB) if c.name == "seen" else c for c in rows.c]
    saving = insert(task_progress).from_select(columns, select(*values))
    kept = ("progress", "completions", "last_day", "seen", "updated_at", "completed_at")
    saved = saving.on_conflict_do_update(
        index_elements=["member_id", "task_id", "period"],
        set_={name: saving.excluded[name] for name in kept},
    )
    return events_insert_params("e_").add_cte(saved.cte("saved"))


_LOG_COLUMNS = (
    "member_id",
    "key",
    "kind",
    "source",
    "points",
    "quantity",
    "item",
    "details",
    "created_at",
)


@cache
def _award_badge_statement() -> Any:
    """The member's badge (``ON CONFLICT DO NOTHING``) and, only when it was new, its
    reward-log row (:meth:`Rewards.log_values`' columns), the log row's id returned: one round
    trip. Built once; parameters bound at each execution."""
    member_id = bindparam("b_member_id", type_=BigInteger)
    code = bindparam("b_code", type_=member_badges.c.badge_code.type)
    now = bindparam("b_now", type_=member_badges.c.awarded_at.type)
    awarded = (
        insert(member_badges)
        .values(
            member_id=member_id,
            badge_code=code,
            source=bindparam("b_source", type_=member_badges.c.source.type),
            awarded_at=now,
        )
        .on_conflict_do_nothing()
        .returning(member_badges.c.badge_code)
        .cte("awarded")
    )
    c = engagement_rewards.c
    logged = (
        insert(engagement_rewards)
        .from_select(
            [*_LOG_COLUMNS],
            select(
                member_id,
                bindparam("b_key", type_=c.key.type),
                literal(RewardKind.BADGE.value, c.kind.type),
                literal("badge", c.source.type),
                literal(0, c.points.type),
                literal(1, c.quantity.type),
                awarded.c.badge_code,
                literal({}, c.details.type),
                now,
            ),
        )
        .on_conflict_do_nothing()
        .returning(c.id)
        .cte("logged")
    )
    return select(logged.c.id)


@dataclass(frozen=True)
class Fed:
    """What feeding an occurrence did: the tasks it advanced, and the member's activity before
    it (when the feed noted the activity)."""

    updates: list[TaskUpdate]
    last_active: datetime | None = None
    referrer_id: Any = UNREAD  # the pending referral's referrer, when the feed read it


@dataclass(frozen=True)
class ProgressHead:
    """The progress read's first row as :meth:`TaskTracker._load_many` gives it, from a read
    that rode on a purchase's credit (its ``tp_`` columns)."""

    generation: Any
    segment: Any
    variants: Any
    listeners: Any
    last_active: datetime | None
    referrer_id: Any = UNREAD


@dataclass(frozen=True)
class ProgressRead:
    """A progress read done before :meth:`TaskTracker.feed` (riding on a purchase's credit):
    the keys it asked for, its first row, the rows it found."""

    asked: list[tuple[int, str]]
    first: Any
    states: dict[tuple[int, str], Progress]
    # The member's team in each asked task that has one (a task asked without: no team).
    teams: dict[int, int] | None = None


@dataclass(frozen=True)
class RidingRead:
    """A progress read to ride on a purchase's credit (:func:`riding_read`): the statement's
    builder (``tp_`` CTEs, module-level), its parameters, the keys asked for and when the
    activity is noted."""

    build: Callable[[], tuple[list[CTE], CTE]]
    params: dict[str, Any]
    asked: list[tuple[int, str]]
    active_at: datetime

    def ridden(self, row: Any) -> ProgressRead:
        """The read from the credit's row (its ``tp_`` columns), typed as the read of its own
        gives it: the rows' arrays zipped back into progress rows."""
        head = ProgressHead(
            **{name: getattr(row, f"{RIDE}{name}") for name in _HEAD},
            referrer_id=getattr(row, f"{RIDE}referrer_id", UNREAD),
        )
        columns = [getattr(row, f"{RIDE}{name}") or [] for name in (*_RIDE_ROWS, "seen")]
        states = {
            (task_id, period): Progress(plain(progress), completions, last_day, tuple(seen))
            for task_id, period, progress, completions, last_day, seen in zip(*columns, strict=True)
        }
        teams = zip(
            getattr(row, f"{RIDE}team_task_ids") or [],
            getattr(row, f"{RIDE}team_ids") or [],
            strict=True,
        )
        return ProgressRead(self.asked, head, states, dict(teams))


_HEAD = ("generation", "segment", "variants", "listeners", "last_active")


def riding_read(
    member_id: int, occurrences: Sequence[Occurrence], active_at: datetime, *, referral: bool
) -> RidingRead:
    """The progress read :meth:`TaskTracker.feed` would send for these occurrences, noting the
    activity at ``active_at`` (and reading the pending referral, with ``referral``), to ride on
    a purchase's credit: its keys guessed from this process's cached tasks, as the feed's."""
    asked = _keys(_fed(ENABLED_TASKS.latest() or [], occurrences))
    params = {
        f"{RIDE}member_id": member_id,
        f"{RIDE}active_at": active_at,
        f"{RIDE}task_ids": [task_id for task_id, _ in asked],
        f"{RIDE}periods": [period for _, period in asked],
    }
    build = ride_progress_read_with_referral if referral else ride_progress_read
    return RidingRead(build, params, asked, active_at)


ANY: Any = object()  # a member of any segment: its segment is not read yet


def _fed(
    enabled: Sequence[Task], occurrences: Sequence[Occurrence], segment: Any = ANY
) -> list[tuple[Task, Occurrence]]:
    """Each (task, occurrence) where the occurrence feeds the task, in the occurrences' order,
    for a member of ``segment`` (ANY: before the member's segment is read)."""
    return [
        (task, o)
        for o in occurrences
        for task in enabled
        if matches(task, o) and (segment is ANY or task.for_segment(segment))
    ]


def _keys(fed: Sequence[tuple[Task, Occurrence]]) -> list[tuple[int, str]]:
    return sorted({(task.id, task.period_of(o.day)) for task, o in fed})


@dataclass(frozen=True)
class TaskRecord:
    task: Task
    enabled: bool
    version: int


@dataclass(frozen=True)
class TaskUpdate:
    """What one occurrence did to one task."""

    task: Task
    period: str
    progress: Progress
    completed: int
    granted: tuple[Granted, ...]


@dataclass(frozen=True)
class TaskStatus:
    """A task as the member's task centre shows it, in the current period."""

    task: Task
    period: str
    progress: Progress
    open: bool


def _record(row: Any) -> TaskRecord:
    return TaskRecord(parse_task(row.id, row.code, row.spec), row.enabled, row.version)


def _progress(row: Any) -> Progress:
    if row is None:
        return Progress()
    return Progress(plain(row.progress), row.completions, row.last_day, tuple(row.seen))


class TaskTracker:
    def __init__(self, conn: AsyncConnection, clock: Clock, settings: Settings) -> None:
        self.conn = conn
        self.clock = clock
        self.settings = settings
        self.rewards = Rewards.of(conn, clock, settings)
        # The member's teams read with its progress (a ride): (member, tasks asked, teams).
        self._teams: tuple[int, frozenset[int], dict[int, int]] | None = None

    def today(self) -> date:
        return business_date(self.clock.now(), self.settings.timezone)

    # ---------------------------------------------------------------------- definitions

    async def _check_badge(self, task: Task) -> None:
        code = task.reward.badge
        if code is not None and not await self.conn.scalar(
            select(badges.c.code).where(badges.c.code == code)
        ):
            raise not_found("badge", code, "reward")

    async def create(
        self, code: str, spec: Mapping[str, Any], *, actor: Actor, enabled: bool = True
    ) -> TaskRecord:
        task = parse_task(0, code, spec)
        await self._check_badge(task)
        now = self.clock.now()
        row = (
            await self.conn.execute(
                insert(tasks)
                .values(
                    code=code,
                    name=task.name,
                    kind=task.kind.value,
                    trigger=task.trigger.value,
                    event=task.event,
                    spec=task.as_spec(),
                    enabled=enabled,
                    version=1,
                    created_at=now,
                    updated_at=now,
                    updated_by=actor.principal,
                )
                .on_conflict_do_nothing()
                .returning(*tasks.c)
            )
        ).first()
        if row is None:
            raise DomainError(ErrorCode.ALREADY_EXISTS, f"task {code} already exists", "code")
        return _record(row)

    async def update(
        self,
        task_id: int,
        spec: Mapping[str, Any] | None,
        *,
        actor: Actor,
        enabled: bool | None = None,
        expected_version: int | None = None,
    ) -> TaskRecord:
        """Change a definition or switch it on/off; progress already made is kept."""
        row = (
            await self.conn.execute(select(tasks).where(tasks.c.id == task_id).with_for_update())
        ).first()
        if row is None:
            raise not_found("task", task_id, "id")
        if expected_version is not None and expected_version != row.version:
            raise invalid(f"the task is at version {row.version}", "expectedVersion")
        task = parse_task(task_id, row.code, row.spec if spec is None else spec)
        await self._check_badge(task)
        updated = (
            await self.conn.execute(
                tasks.update()
                .where(tasks.c.id == task_id)
                .values(
                    name=task.name,
                    kind=task.kind.value,
                    trigger=task.trigger.value,
                    event=task.event,
                    spec=task.as_spec(),
                    enabled=row.enabled if enabled is None else enabled,
                    version=row.version + 1,
                    updated_at=self.clock.now(),
                    updated_by=actor.principal,
                )
                .returning(*tasks.c)
            )
        ).one()
        return _record(updated)

    async def all(self, *, enabled: bool | None = None) -> list[TaskRecord]:
        query = select(tasks).order_by(tasks.c.id)
        if enabled is not None:
            query = query.where(tasks.c.enabled == enabled)
        return [_record(row) for row in await self.conn.execute(query)]

    async def find(self, code: str) -> TaskRecord:
        row = (await self.conn.execute(select(tasks).where(tasks.c.code == code))).first()
        if row is None:
            raise not_found("task", code, "task")
        return _record(row)

    async def find_by_id(self, task_id: int) -> TaskRecord:
        row = (await self.conn.execute(select(tasks).where(tasks.c.id == task_id))).first()
        if row is None:
            raise not_found("task", task_id, "id")
        return _record(row)

    async def enabled_tasks(self, generation: str | None = None) -> list[Task]:
        """Every enabled task; from the process's cache when ``generation`` (the tasks table's,
        read in this transaction) is the one it was cached at."""
        cached = ENABLED_TASKS.get(generation)
        if cached is not None:
            return cached
        query = select(tasks).where(tasks.c.enabled).order_by(tasks.c.id)
        found = [_record(row).task for row in await self.conn.execute(query)]
        return found if generation is None else ENABLED_TASKS.put(generation, found)

    # ------------------------------------------------------------------------- progress

    async def _load_many(
        self,
        member_id: int,
        keys: Sequence[tuple[int, str]],
        *,
        active_at: datetime | None = None,
        referral: bool = False,
    ) -> tuple[Any, dict[tuple[int, str], Progress]]:
        """The member's progress rows for these (task, period) pairs, in one statement, and its
        first row: the tasks table's ``generation`` and, with ``active_at``, ``last_active``
        (the activity is noted at ``active_at`` by the same statement)."""
        query = _progress_query(note_activity=active_at is not None, referral=referral)
        params = {"member_id": member_id, "keys": list(keys), "active_at": active_at}
        rows = (await self.conn.execute(query, params)).all()
        found = {(r.task_id, r.period): _progress(r) for r in rows if r.task_id is not None}
        return rows[0], found

    async def feed(
        self,
        member_id: int,
        occurrences: Sequence[Occurrence],
        *,
        actor: Actor,
        active_at: datetime | None = None,
        referral: bool = False,
        read: ProgressRead | None = None,
    ) -> Fed:
        """Feed what happened to every enabled task it matches (the member's lock is held);
        with ``active_at``, note the member's activity in the same read; with ``referral``,
        read the member's pending referral there too; with ``read``, that read was done
        already (it rode on a purchase's credit: :func:`riding_read`).

        The tasks are this process's cached ones when the progress read says they still are
        the enabled tasks (nearly always): then one read and one statement that saves the
        progress with its events, whatever the number of tasks and occurrences."""
        if read is None:
            keys = _keys(_fed(ENABLED_TASKS.latest() or [], occurrences))
            first, states = await self._load_many(
                member_id, keys, active_at=active_at, referral=referral
            )
        else:
            keys, first, states = read.asked, read.first, dict(read.states)
            if read.teams is not None:
                asked_tasks = frozenset(task_id for task_id, _ in keys)
                self._teams = (member_id, asked_tasks, read.teams)
        enabled = await self.enabled_tasks(first.generation)
        fed = _fed(enabled, occurrences, first.segment)
        asked = set(keys)
        missing = [key for key in _keys(fed) if key not in asked]
        if missing:  # the tasks changed since the keys were guessed: read what the guess missed
            states.update((await self._load_many(member_id, missing))[1])
        updates = await self._advance(member_id, fed, states, actor, first)
        last_active = first.last_active if active_at is not None or read is not None else None
        return Fed(updates, last_active, first.referrer_id if referral else UNREAD)

    async def _save_and_announce(self, member_id: int, changed: Sequence[TaskUpdate]) -> None:
        """Every changed progress row in one upsert, and their events (:meth:`_announced`), in
        one statement (:func:`_save_and_announce_statement`)."""
        now = self.clock.now()
        params = {
            "t_member_id": [member_id] * len(changed),
            "t_task_id": [u.task.id for u in changed],
            "t_period": [u.period for u in changed],
            "t_progress": [u.progress.progress for u in changed],
            "t_completions": [u.progress.completions for u in changed],
            "t_last_day": [u.progress.last_day for u in changed],
            # As JSON text: asyncpg would take a list in a JSONB[] for a nested array.
            "t_seen": [json.dumps(list(u.progress.seen)) for u in changed],
            "t_updated_at": [now] * len(changed),
            "t_completed_at": [
                now if u.progress.completions >= u.task.max_completions else None for u in changed
            ],
            # The challenges' signals too: raised by this member's write, on its shard.
            **event_params("e_", self._announced(member_id, changed), member_id=member_id),
        }
        await self.conn.execute(_save_and_announce_statement(), params)

    async def record(
        self, member_id: int, occurrence: Occurrence, candidates: Sequence[Task], *, actor: Actor
    ) -> list[TaskUpdate]:
        """Feed one occurrence to the tasks it matches (the member's lock is held): one read of
        their progress, one statement saving it with its events, whatever the number of tasks;
        rewards only for what completed."""
        fed = _fed(candidates, [occurrence])
        if not fed:
            return []
        first, states = await self._load_many(member_id, _keys(fed))
        fed = _fed(candidates, [occurrence], first.segment)
        return await self._advance(member_id, fed, states, actor, first)

    async def _advance(
        self,
        member_id: int,
        fed: Sequence[tuple[Task, Occurrence]],
        states: dict[tuple[int, str], Progress],
        actor: Actor,
        first: Any,
    ) -> list[TaskUpdate]:
        """Advance each fed task, pay what completed, save what changed and announce it
        (``first``: the progress read's first row, with the member's segment and the
        experiments' generation)."""
        changed: dict[tuple[int, str], TaskUpdate] = {}
        for task, occurrence in fed:
            key = (task.id, task.period_of(occurrence.day))
            before = states.get(key, Progress())
            after, completed = advance(task, before, occurrence)
            if after == before:
                continue
            granted: list[Granted] = []
            if completed:
                task = await self._variant_of(member_id, task, first)
            for n in range(before.completions + 1, before.completions + completed + 1):
                granted += await self._reward(member_id, task, key[1], n, actor)
            states[key] = after
            changed[key] = TaskUpdate(task, key[1], after, completed, tuple(granted))
        updates = list(changed.values())
        if updates:
            await self._save_and_announce(member_id, updates)
        for update in updates:
            if update.completed:
                await TASK_COMPLETED(self, member_id, update.task, actor, first.listeners)
        return updates

    async def _variant_of(self, member_id: int, task: Task, first: Any) -> Task:
        """The task as it pays this member: its reward points may be its experiment variant's
        (deciding them is the member's exposure: it is assigned now if it was not)."""
        chosen = await POINTS_OVERRIDES(
            self.conn,
            PointsChoice(
                kind="task_reward",
                code=task.code,
                programme=task.reward.points,
                member_id=member_id,
                segment=first.segment,
                generation=first.variants,
                now=self.clock.now(),
                assign=True,
            ),
        )
        if chosen.points == task.reward.points:
            return task
        return replace(task, reward=replace(task.reward, points=chosen.points))

    async def _team_of(self, member_id: int, task: Task) -> int | None:
        if task.team_size is None:
            return None
        known = self._teams
        if known is not None and known[0] == member_id and task.id in known[1]:
            return known[2].get(task.id)  # read with the progress
        team: int | None = await self.conn.scalar(
            select(team_members.c.team_id).where(
                team_members.c.task_id == task.id, team_members.c.member_id == member_id
            )
        )
        return team

    async def _reward(
        self, member_id: int, task: Task, period: str, n: int, actor: Actor
    ) -> list[Granted]:
        key = f"task:{task.id}:{period}:{n}"
        reward = task.reward
        reason = f"task {task.code} completed"
        found: list[Granted | None] = [
            await self.rewards.points(
                member_id, f"{key}:points", reward.points, source="task", reason=reason, actor=actor
            )
        ]
        team = await self._team_of(member_id, task)
        if team is not None:
            bonus = reward.points * self.settings.engagement_team_bonus_percent // 100
            found.append(
                await self.rewards.points(
                    member_id,
                    f"{key}:team_bonus",
                    bonus,
                    source="team",
                    reason=f"team bonus on {task.code}",
                    actor=actor,
                    details={"team_id": team},
                )
            )
        found.append(
            await self.rewards.item(
                member_id,
                f"{key}:lottery_draw",
                RewardKind.LOTTERY_DRAW,
                source="task",
                quantity=reward.lottery_draws,
            )
        )
        found.append(
            await self.rewards.item(
                member_id,
                f"{key}:makeup_card",
                RewardKind.MAKEUP_CARD,
                source="task",
                quantity=reward.makeup_cards,
            )
        )
        if reward.badge is not None:
            found.append(await self.award_badge(member_id, reward.badge, source=key))
        return [g for g in found if g is not None]

    async def award_badge(self, member_id: int, code: str, *, source: str) -> Granted | None:
        """A badge once per member, whatever awards it again: the badge and its reward-log row
        in one statement (the log row only when the badge is new)."""
        params = {
            "b_member_id": member_id,
            "b_code": code,
            "b_source": source,
            "b_key": f"badge:{code}",
            "b_now": self.clock.now(),
        }
        logged = await self.conn.scalar(_award_badge_statement(), params)
        if logged is None:
            return None
        return Granted(RewardKind.BADGE, f"badge:{code}", item=code)

    @staticmethod
    def _announced(member_id: int, updates: Sequence[TaskUpdate]) -> list[tuple[str, str, Any]]:
        """The member's progress events, and each challenge's (its board's live topic)."""
        announced = []
        for u in updates:
            payload = {
                "member_id": member_id,
                "task_id": u.task.id,
                "task": u.task.code,
                "period": u.period,
                "progress": str(u.progress.progress),
                "target": str(u.task.target),
                "completions": u.progress.completions,
                "max_completions": u.task.max_completions,
                "completed_now": u.completed,
            }
            kind = COMPLETED if u.completed else PROGRESSED
            announced.append((member_topic(member_id), kind, payload))
            if u.task.leaderboard or u.task.team_size:
                announced.append((challenge_topic(u.task.id), kind, payload))
        return announced

    # ------------------------------------------------------------------- manual tasks

    async def complete_manual(self, member_id: int, code: str, *, actor: Actor) -> TaskUpdate:
        record = await self.find(code)
        task = record.task
        if not record.enabled:
            raise DomainError(ErrorCode.NOT_FOUND, f"task {code} is not open", "task")
        if task.trigger is not TaskTrigger.MANUAL:
            raise invalid(f"task {code} completes by itself from {task.trigger} activity", "task")
        today = self.today()
        if not task.open_on(today):
            raise invalid(f"task {code} is not open on {today.isoformat()}", "task")
        if not task.for_segment(await segment_of(self.conn, member_id)):
            segments = ", ".join(task.segments or ())
            raise invalid(f"task {code} is for members in the segments {segments}", "task")
        done = await self.record(
            member_id, Occurrence(TaskTrigger.MANUAL, today), [task], actor=actor
        )
        if not done:  # no progress: every completion of this period is used
            raise DomainError(ErrorCode.LIMIT_REACHED, f"task {code} is already completed", "task")
        return done[0]

    # --------------------------------------------------------------------------- reads

    async def all_for(self, member_id: int, *, enabled: bool | None = None) -> list[TaskRecord]:
        """The tasks the member may take part in: a segment's task is not shown to members the
        last segmentation run placed elsewhere."""
        segment = await segment_of(self.conn, member_id)
        return [r for r in await self.all(enabled=enabled) if r.task.for_segment(segment)]

    async def centre(self, member_id: int) -> list[TaskStatus]:
        """Every enabled task open to the member with its progress in its current period."""
        today = self.today()
        records = await self.all_for(member_id, enabled=True)
        rows = await self.conn.execute(
            select(task_progress).where(task_progress.c.member_id == member_id)
        )
        found = {(r.task_id, r.period): r for r in rows}
        out = []
        for record in records:
            task = record.task
            period = task.period_of(today)
            state = _progress(found.get((task.id, period)))
            out.append(TaskStatus(task, period, state, task.open_on(today)))
        return out
