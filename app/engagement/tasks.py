"""Tasks and challenges: definitions and progress arithmetic, pure (no I/O).

A task is data staff manage. It is fed by the same occurrences as the earning rules (events,
purchases, the points they earn) and by sign-ins; it counts a **metric** over a **period** and
completes each time the metric reaches the **target**, at most ``max_completions`` times a period:

| kind | example (demo) | period | max |
| --- | --- | --- | --- |
| one_off | complete the profile, follow the account | lifetime | 1 |
| repeatable | share: 10 each, at most 30 a day | day | 3 |
| challenge | buy on 3 consecutive days → 100; earn 1,000 points this month | window / month | 1 |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from app.errors import invalid
from app.segments.policy import check_segments

MAX_TARGET = Decimal("100000000")
MAX_REWARD_POINTS = 1_000_000
MAX_COMPLETIONS = 1_000
MAX_TEAM_SIZE = 100
CODE_LENGTH = 48


class TaskKind(StrEnum):
    ONE_OFF = "one_off"
    REPEATABLE = "repeatable"
    CHALLENGE = "challenge"


class TaskTrigger(StrEnum):
    EVENT = "event"  # recordEvent with the task's event name
    PURCHASE = "purchase"  # recordPurchase
    POINTS = "points"  # points earned by purchases, events and sign-ins
    SIGN_IN = "sign_in"  # checkIn
    MANUAL = "manual"  # completeTask (the front end reports it, or staff)


class Metric(StrEnum):
    COUNT = "count"  # occurrences
    AMOUNT = "amount"  # a purchase's amount (CNY)
    QUANTITY = "quantity"  # an event's quantity
    POINTS = "points"  # points earned
    DAYS = "days"  # distinct business days (optionally consecutive)
    CATEGORIES = "categories"  # distinct purchase categories


class TaskPeriod(StrEnum):
    LIFETIME = "lifetime"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    WINDOW = "window"  # the task's own window (starts_on .. ends_on)


@dataclass(frozen=True)
class TaskReward:
    points: int = 0
    badge: str | None = None
    lottery_draws: int = 0
    makeup_cards: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "points": self.points,
            "badge": self.badge,
            "lottery_draws": self.lottery_draws,
            "makeup_cards": self.makeup_cards,
        }


@dataclass(frozen=True)
class Task:
    id: int
    code: str
    name: str
    kind: TaskKind
    trigger: TaskTrigger
    metric: Metric
    target: Decimal
    period: TaskPeriod
    max_completions: int
    reward: TaskReward
    event: str | None = None
    consecutive: bool = False
    starts_on: date | None = None
    ends_on: date | None = None
    description: str = ""
    leaderboard: bool = False
    team_size: int | None = None  # a team challenge: members join teams of at most this many
    segments: tuple[str, ...] | None = None  # only members in one of these RFM segments

    def for_segment(self, segment: str | None) -> bool:
        return self.segments is None or segment in self.segments

    def open_on(self, day: date) -> bool:
        return (self.starts_on is None or self.starts_on <= day) and (
            self.ends_on is None or day <= self.ends_on
        )

    def period_of(self, day: date) -> str:
        """The progress row's period key for a business day."""
        if self.period is TaskPeriod.LIFETIME:
            return "life"
        if self.period is TaskPeriod.DAY:
            return day.isoformat()
        if self.period is TaskPeriod.WEEK:
            year, week, _ = day.isocalendar()
            return f"{year}-W{week:02d}"
        if self.period is TaskPeriod.MONTH:
            return f"{day.year:04d}-{day.month:02d}"
        return "window"

    def as_spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "kind": self.kind.value,
            "trigger": self.trigger.value,
            "event": self.event,
            "metric": self.metric.value,
            "target": str(self.target),
            "consecutive": self.consecutive,
            "period": self.period.value,
            "starts_on": None if self.starts_on is None else self.starts_on.isoformat(),
            "ends_on": None if self.ends_on is None else self.ends_on.isoformat(),
            "max_completions": self.max_completions,
            "reward": self.reward.as_dict(),
            "leaderboard": self.leaderboard,
            "team_size": self.team_size,
            "segments": None if self.segments is None else list(self.segments),
        }


@dataclass(frozen=True)
class Occurrence:
    """Something that happened to a member, as tasks see it."""

    trigger: TaskTrigger
    day: date
    event: str | None = None
    amount: Decimal = Decimal(0)
    quantity: Decimal = Decimal(1)
    points: int = 0
    categories: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Progress:
    progress: Decimal = Decimal(0)
    completions: int = 0
    last_day: date | None = None
    seen: tuple[str, ...] = field(default_factory=tuple)


def plain(value: Decimal) -> Decimal:
    """A stored NUMERIC without its trailing zeros (300.0000 → 300, 12.5000 → 12.5)."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


# ------------------------------------------------------------------------------ definitions


def _enum(kind: type[StrEnum], raw: Any, name: str) -> Any:
    try:
        return kind(raw)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise invalid(f"{name} must be one of {allowed}", name) from None


def _int(raw: Any, name: str, low: int, high: int) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or not low <= raw <= high:
        raise invalid(f"{name} must be a whole number from {low} to {high}", name)
    return raw


def _day(raw: Any, name: str) -> date | None:
    if raw is None:
        return None
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        raise invalid(f"{name} must be a date like 2026-11-23", name) from None


def _target(raw: Any) -> Decimal:
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise invalid("target must be a number", "target") from None
    if not value.is_finite() or value <= 0 or value > MAX_TARGET or value != round(value, 2):
        raise invalid(f"target must be above 0, at most {MAX_TARGET}, 2 decimals", "target")
    return value


def _reward(raw: Mapping[str, Any]) -> TaskReward:
    badge = raw.get("badge")
    if badge is not None and (not isinstance(badge, str) or not 1 <= len(badge) <= CODE_LENGTH):
        raise invalid("reward badge must be a badge code", "reward")
    # An empty reward is allowed: a task that only shows progress in the task centre (the demo's
    # share task, whose points the earning rule already pays).
    return TaskReward(
        points=_int(raw.get("points", 0), "points", 0, MAX_REWARD_POINTS),
        badge=badge,
        lottery_draws=_int(raw.get("lottery_draws", 0), "lotteryDraws", 0, 10),
        makeup_cards=_int(raw.get("makeup_cards", 0), "makeupCards", 0, 10),
    )


_METRICS_OF = {
    TaskTrigger.EVENT: {Metric.COUNT, Metric.QUANTITY, Metric.DAYS},
    TaskTrigger.PURCHASE: {Metric.COUNT, Metric.AMOUNT, Metric.DAYS, Metric.CATEGORIES},
    TaskTrigger.POINTS: {Metric.POINTS},
    TaskTrigger.SIGN_IN: {Metric.COUNT, Metric.DAYS},
    TaskTrigger.MANUAL: {Metric.COUNT},
}


def _check_shape(task: Task) -> None:
    """Contradictions a single field cannot show."""
    if task.metric not in _METRICS_OF[task.trigger]:
        raise invalid(f"a {task.trigger} task cannot count {task.metric}", "metric")
    if (task.trigger is TaskTrigger.EVENT) != (task.event is not None):
        raise invalid("an event name is needed exactly for event tasks", "event")
    if task.consecutive and task.metric is not Metric.DAYS:
        raise invalid("consecutive applies to the days metric only", "consecutive")
    if task.kind is TaskKind.ONE_OFF and (
        task.period is not TaskPeriod.LIFETIME or task.max_completions != 1
    ):
        raise invalid("a one-off task is lifetime and completes once", "period")
    if task.period is TaskPeriod.WINDOW and (task.starts_on is None or task.ends_on is None):
        raise invalid("a window task needs startsOn and endsOn", "startsOn")
    if task.starts_on and task.ends_on and task.ends_on < task.starts_on:
        raise invalid("endsOn is before startsOn", "endsOn")
    if (task.leaderboard or task.team_size) and task.kind is not TaskKind.CHALLENGE:
        raise invalid("only challenges have leaderboards and teams", "leaderboard")


def check_code(code: str) -> str:
    """A task's or badge's code: a stable handle front ends and the seed refer to."""
    if not code or len(code) > CODE_LENGTH or not code.replace("-", "").replace("_", "").isalnum():
        raise invalid(f"code must be 1..{CODE_LENGTH} letters, digits, - or _", "code")
    return code


def _names(raw: Any, name: str) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list | tuple) or not all(isinstance(item, str) for item in raw):
        raise invalid(f"{name} must be a list of names", name)
    return tuple(sorted(set(raw)))


def parse_task(task_id: int, code: str, spec: Mapping[str, Any]) -> Task:
    """A task from its stored or submitted spec; INVALID_INPUT with the field when wrong."""
    check_code(code)
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise invalid("name must be 1..200 characters", "name")
    event = spec.get("event")
    if event is not None and (not isinstance(event, str) or not 1 <= len(event) <= 64):
        raise invalid("event must be 1..64 characters", "event")
    team = spec.get("team_size")
    task = Task(
        id=task_id,
        code=code,
        name=name.strip(),
        description=str(spec.get("description") or "")[:1000],
        kind=_enum(TaskKind, spec.get("kind"), "kind"),
        trigger=_enum(TaskTrigger, spec.get("trigger"), "trigger"),
        event=event,
        metric=_enum(Metric, spec.get("metric", "count"), "metric"),
        target=_target(spec.get("target", 1)),
        consecutive=bool(spec.get("consecutive", False)),
        period=_enum(TaskPeriod, spec.get("period", "lifetime"), "period"),
        starts_on=_day(spec.get("starts_on"), "startsOn"),
        ends_on=_day(spec.get("ends_on"), "endsOn"),
        max_completions=_int(spec.get("max_completions", 1), "maxCompletions", 1, MAX_COMPLETIONS),
        reward=_reward(spec.get("reward") or {}),
        leaderboard=bool(spec.get("leaderboard", False)),
        team_size=None if team is None else _int(team, "teamSize", 2, MAX_TEAM_SIZE),
        segments=check_segments(_names(spec.get("segments"), "segments"), "segments"),
    )
    _check_shape(task)
    return task


# ------------------------------------------------------------------------------- progress


def matches(task: Task, occurrence: Occurrence) -> bool:
    """The occurrence feeds the task, whoever the member (its segment is checked apart:
    :meth:`Task.for_segment`)."""
    return (
        task.trigger is occurrence.trigger
        and (task.event is None or task.event == occurrence.event)
        and task.open_on(occurrence.day)
    )


def _measure(task: Task, occurrence: Occurrence) -> Decimal:
    if task.metric is Metric.AMOUNT:
        return occurrence.amount
    if task.metric is Metric.QUANTITY:
        return occurrence.quantity
    if task.metric is Metric.POINTS:
        return Decimal(occurrence.points)
    return Decimal(1)


def advance(task: Task, state: Progress, occurrence: Occurrence) -> tuple[Progress, int]:
    """The progress after ``occurrence`` and how many completions it made (0 or more)."""
    if state.completions >= task.max_completions:
        return state, 0
    if task.metric is Metric.DAYS:
        if state.last_day is not None and occurrence.day <= state.last_day:
            return state, 0  # the day already counted (or an older one arrived late)
        if task.consecutive:
            return _advance_run(task, state, occurrence.day)
    if task.metric is Metric.CATEGORIES:
        seen = tuple(sorted(set(state.seen) | occurrence.categories))
        state = replace(state, seen=seen, progress=Decimal(len(seen)))
    else:
        state = replace(state, progress=state.progress + _measure(task, occurrence))
    state = replace(state, last_day=occurrence.day)
    reached = min(task.max_completions, int(state.progress // task.target))
    done = max(0, reached - state.completions)
    return replace(state, completions=state.completions + done), done


def _advance_run(task: Task, state: Progress, day: date) -> tuple[Progress, int]:
    """Consecutive days: a gap restarts the run; a completed run starts over from 0."""
    run = state.progress + 1 if state.last_day == day - timedelta(days=1) else Decimal(1)
    state = replace(state, progress=run, last_day=day)
    if run < task.target:
        return state, 0
    return replace(state, progress=Decimal(0), completions=state.completions + 1), 1
