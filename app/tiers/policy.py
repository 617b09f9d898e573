"""Tier policy: pure functions of the definitions, the qualifying spend and the clock's value.

* A member's tier is the highest whose threshold their **qualifying spend** reaches: purchases
  minus refunds over the rolling window (12 months in the demo) — or, in a programme that
  qualifies by points, the points earned over the window (less what was clawed back).
* **Upgrade at once**: the purchase that crosses a threshold upgrades the member in the same
  transaction; that purchase still earned at the old tier, the next one earns at the new tier.
* **Review** (a scheduled job): a tier is kept until its review date (12 months after it was
  reached, the "保级" period); at review the member keeps it if the spend still qualifies
  (the review date moves on a period), else drops to the tier the spend qualifies for.
* **Inactivity**: after a month (the demo's setting) with no points activity, the member loses
  one tier; each further inactive month another, never below the base tier.
* **Tasks** (measured per calendar quarter, business-local): a tier may name **upgrade tasks**
  ("spend 2,000 this quarter", "invite 3 friends this quarter"): completing any one of them
  upgrades a lower-tier member at once. A tier may name a **keep task** ("保级": "spend 3,000
  this quarter"): at review, a member whose rolling spend no longer qualifies keeps the tier if
  the task was completed in the review's quarter or the one before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise

from app.clock import add_months
from app.config import Settings
from app.errors import invalid

MAX_THRESHOLD = Decimal("1000000000")  # CNY; far beyond any real qualifying spend
MAX_MULTIPLIER = Decimal("10")
MAX_REFERRAL_TARGET = 1000


class QualifyingMeasure(StrEnum):
    """What thresholds count over the rolling window (one per programme)."""

    SPEND = "spend"  # CNY: purchases minus refunds
    POINTS = "points"  # points earned (earn entries less what was clawed back from them)


class TaskMeasure(StrEnum):
    QUARTER_SPEND = "quarter_spend"  # CNY, purchases minus refunds in the calendar quarter
    QUARTER_REFERRALS = "quarter_referrals"  # friends who joined and bought, in the quarter


@dataclass(frozen=True)
class TierTask:
    measure: TaskMeasure
    target: Decimal


@dataclass(frozen=True)
class QuarterMeasures:
    """A member's task measures in one calendar quarter."""

    spend: Decimal = Decimal(0)
    referrals: int = 0

    def value(self, measure: TaskMeasure) -> Decimal:
        if measure is TaskMeasure.QUARTER_SPEND:
            return self.spend
        return Decimal(self.referrals)


@dataclass(frozen=True)
class TierDef:
    code: str
    name: str
    rank: int
    threshold: Decimal
    multiplier: Decimal
    benefits: tuple[str, ...] = ()
    keep_task: TierTask | None = None
    upgrade_tasks: tuple[TierTask, ...] = ()


@dataclass(frozen=True)
class TierPolicy:
    window_months: int = 12
    review_months: int = 12
    inactivity_months: int = 1
    timezone: str = "Asia/Shanghai"  # the programme's: quarters are business-local
    measure: QualifyingMeasure = QualifyingMeasure.SPEND

    @classmethod
    def from_settings(cls, settings: Settings) -> TierPolicy:
        return cls(
            window_months=settings.tier_window_months,
            inactivity_months=settings.tier_inactivity_months,
            timezone=settings.timezone,
            measure=QualifyingMeasure(settings.tier_qualifying_measure),
        )


class ChangeReason(StrEnum):
    UPGRADE = "upgrade"
    TASK = "task"  # an upgrade task completed
    REVIEW = "review"
    INACTIVITY = "inactivity"


@dataclass(frozen=True)
class MemberTier:
    code: str
    since: datetime
    review_at: datetime
    last_activity_at: datetime


@dataclass(frozen=True)
class Decision:
    to: TierDef
    reason: ChangeReason


@dataclass(frozen=True)
class TierChange(Decision):
    """A decision once applied: the row `tier_changes` holds (`Member.tierHistory` shows it)."""

    from_tier: str
    qualifying_spend: Decimal
    created_at: datetime


@dataclass(frozen=True)
class TaskProgress:
    tier: TierDef
    purpose: str  # "upgrade" (to ``tier``) or "keep" (``tier``, at review)
    task: TierTask
    done: Decimal  # this quarter
    remaining: Decimal


@dataclass(frozen=True)
class Progress:
    current: TierDef
    next: TierDef | None
    qualifying_spend: Decimal
    spend_to_next: Decimal  # 0 at the top tier
    tasks: tuple[TaskProgress, ...] = ()


def ordered(defs: Sequence[TierDef]) -> list[TierDef]:
    return sorted(defs, key=lambda d: d.rank)


def base_tier(defs: Sequence[TierDef]) -> TierDef:
    return ordered(defs)[0]


def by_code(defs: Sequence[TierDef], code: str) -> TierDef:
    for d in defs:
        if d.code == code:
            return d
    return base_tier(defs)


def qualifying_tier(defs: Sequence[TierDef], spend: Decimal) -> TierDef:
    best = base_tier(defs)
    for d in ordered(defs):
        if spend >= d.threshold:
            best = d
    return best


def upgrade(defs: Sequence[TierDef], current: str, spend: Decimal) -> Decision | None:
    """The upgrade a purchase earns at once, if its spend crosses a higher threshold."""
    target = qualifying_tier(defs, spend)
    if target.rank > by_code(defs, current).rank:
        return Decision(target, ChangeReason.UPGRADE)
    return None


def task_met(task: TierTask, measures: QuarterMeasures) -> bool:
    return measures.value(task.measure) >= task.target


def upgrade_by_task(
    defs: Sequence[TierDef], current: str, measures: QuarterMeasures
) -> Decision | None:
    """The highest tier above the current one with an upgrade task completed this quarter."""
    rank = by_code(defs, current).rank
    reached = [
        d
        for d in ordered(defs)
        if d.rank > rank and any(task_met(t, measures) for t in d.upgrade_tasks)
    ]
    return Decision(reached[-1], ChangeReason.TASK) if reached else None


def review(
    defs: Sequence[TierDef],
    tier: MemberTier,
    spend: Decimal,
    now: datetime,
    policy: TierPolicy,
    quarters: Sequence[QuarterMeasures] = (),
) -> Decision | None:
    """What the scheduled review does to one member (None: nothing changes). ``quarters``: the
    task measures of the review's quarter and the one before, for the keep task."""
    current = by_code(defs, tier.code)
    base = base_tier(defs)
    if current.rank == base.rank:
        return None
    quiet_since = max(tier.last_activity_at, tier.since)
    if add_months(quiet_since, policy.inactivity_months) <= now:
        lower = [d for d in ordered(defs) if d.rank < current.rank]
        return Decision(lower[-1], ChangeReason.INACTIVITY)
    if now >= tier.review_at:
        target = qualifying_tier(defs, spend)
        keep = current.keep_task
        kept_by_task = keep is not None and any(task_met(keep, q) for q in quarters)
        if target.rank < current.rank and not kept_by_task:
            return Decision(target, ChangeReason.REVIEW)
        return Decision(current, ChangeReason.REVIEW)  # kept: the review date moves on
    return None


def _task_progress(tier: TierDef, purpose: str, task: TierTask, q: QuarterMeasures) -> TaskProgress:
    done = q.value(task.measure)
    return TaskProgress(tier, purpose, task, done, max(task.target - done, Decimal(0)))


def progress(
    defs: Sequence[TierDef],
    current: str,
    spend: Decimal,
    quarter: QuarterMeasures = QuarterMeasures(),
) -> Progress:
    """The way up: spend to the next tier, and this quarter's tasks (upgrade tasks of every
    higher tier, the current tier's keep task)."""
    tier = by_code(defs, current)
    higher = [d for d in ordered(defs) if d.rank > tier.rank]
    nxt = higher[0] if higher else None
    needed = max(nxt.threshold - spend, Decimal(0)) if nxt else Decimal(0)
    tasks = [_task_progress(d, "upgrade", t, quarter) for d in higher for t in d.upgrade_tasks]
    if tier.keep_task is not None:
        tasks.append(_task_progress(tier, "keep", tier.keep_task, quarter))
    return Progress(tier, nxt, spend, needed, tuple(tasks))


def window_start(now: datetime, policy: TierPolicy) -> datetime:
    return add_months(now, -policy.window_months)


def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def quarter_start(day: date) -> date:
    return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)


def previous_quarter_start(day: date) -> date:
    return quarter_start(quarter_start(day) - timedelta(days=1))


def _check_amount(value: Decimal, field: str, *, places: int, limit: Decimal) -> None:
    exponent = value.as_tuple().exponent
    if not value.is_finite() or (isinstance(exponent, int) and exponent < -places):
        raise invalid(f"at most {places} decimal places", field)
    if value < 0 or value > limit:
        raise invalid(f"must be between 0 and {limit}", field)


def _check_task(task: TierTask, field: str) -> None:
    _check_amount(task.target, field, places=2, limit=MAX_THRESHOLD)
    if task.target <= 0:
        raise invalid("a task's target must be above 0", field)
    if task.measure is TaskMeasure.QUARTER_REFERRALS and (
        task.target != task.target.to_integral_value() or task.target > MAX_REFERRAL_TARGET
    ):
        raise invalid(f"a referral target is a whole number up to {MAX_REFERRAL_TARGET}", field)


def check_definition(d: TierDef) -> None:
    """One definition on its own: names, amounts, tasks."""
    if not d.code or len(d.code) > 32 or not d.code.replace("_", "").replace("-", "").isalnum():
        raise invalid("a code is 1-32 letters, digits, '-' or '_'", "code")
    if not d.name.strip() or len(d.name) > 100:
        raise invalid("a name is 1-100 characters", "name")
    if not 0 <= d.rank <= 100:
        raise invalid("rank must be between 0 and 100", "rank")
    _check_amount(d.threshold, "threshold", places=2, limit=MAX_THRESHOLD)
    _check_amount(d.multiplier, "multiplier", places=4, limit=MAX_MULTIPLIER)
    if d.multiplier <= 0:
        raise invalid("a multiplier must be above 0", "multiplier")
    if len(d.benefits) > 50 or any(not b.strip() or len(b) > 200 for b in d.benefits):
        raise invalid("up to 50 benefits of 1-200 characters", "benefits")
    if d.keep_task is not None:
        _check_task(d.keep_task, "keepTask")
    if len(d.upgrade_tasks) > 10:
        raise invalid("up to 10 upgrade tasks", "upgradeTasks")
    for task in d.upgrade_tasks:
        _check_task(task, "upgradeTasks")


def check_ladder(defs: Sequence[TierDef]) -> None:
    """The whole set: one base tier at threshold 0, thresholds rising with rank, no tasks on
    the base tier (nobody is below it or falls out of it)."""
    if not defs:
        raise invalid("a programme needs at least one tier", "code")
    ranks = [d.rank for d in defs]
    if len(set(ranks)) != len(ranks):
        raise invalid("two tiers have the same rank", "rank")
    ladder = ordered(defs)
    base = ladder[0]
    if base.threshold != 0:
        raise invalid("the lowest tier's threshold must be 0", "threshold")
    if base.keep_task is not None or base.upgrade_tasks:
        raise invalid("the lowest tier has no keep or upgrade tasks", "upgradeTasks")
    for lower, higher in pairwise(ladder):
        if higher.threshold <= lower.threshold:
            raise invalid(
                f"{higher.code}'s threshold must be above {lower.code}'s ({lower.threshold})",
                "threshold",
            )


# The demo programme (FEATURES.md section 4): 普卡 below 5,000 CNY a year.
DEMO_TIERS = (
    TierDef("normal", "普卡", 0, Decimal("0"), Decimal("1.0"), ("points on every purchase",)),
    TierDef(
        "silver",
        "银卡",
        1,
        Decimal("5000"),
        Decimal("1.2"),
        ("birthday gift", "free delivery"),
        # FEATURES.md section 4's upgrade tasks: "invite 3 friends" here, "spend X this
        # quarter" for 金卡 (a quarter's spend below the annual threshold).
        upgrade_tasks=(TierTask(TaskMeasure.QUARTER_REFERRALS, Decimal("3")),),
    ),
    TierDef(
        "gold",
        "金卡",
        2,
        Decimal("20000"),
        Decimal("1.5"),
        ("birthday gift", "free delivery", "exclusive items"),
        keep_task=TierTask(TaskMeasure.QUARTER_SPEND, Decimal("3000")),  # 保级
        upgrade_tasks=(TierTask(TaskMeasure.QUARTER_SPEND, Decimal("8000")),),
    ),
    TierDef(
        "diamond",
        "钻石卡",
        3,
        Decimal("50000"),
        Decimal("2.0"),
        ("birthday gift", "free delivery", "exclusive items", "dedicated service"),
        keep_task=TierTask(TaskMeasure.QUARTER_SPEND, Decimal("10000")),
    ),
)
