"""Tier policy without a database: tasks, reviews with the keep task, the ladder's checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from app.errors import DomainError
from app.tiers.policy import (
    DEMO_TIERS,
    ChangeReason,
    MemberTier,
    QuarterMeasures,
    TaskMeasure,
    TierPolicy,
    TierTask,
    check_definition,
    check_ladder,
    previous_quarter_start,
    progress,
    quarter_of,
    quarter_start,
    review,
    upgrade_by_task,
)

NORMAL, SILVER, GOLD, DIAMOND = DEMO_TIERS
NOW = datetime(2026, 11, 23, 2, tzinfo=UTC)


def test_quarters_are_calendar_quarters() -> None:
    assert quarter_of(date(2026, 11, 23)) == "2026-Q4"
    assert quarter_start(date(2026, 11, 23)) == date(2026, 10, 1)
    assert previous_quarter_start(date(2026, 11, 23)) == date(2026, 7, 1)
    assert previous_quarter_start(date(2027, 2, 1)) == date(2026, 10, 1)
    assert quarter_of(date(2027, 3, 31)) == "2027-Q1"


def test_three_referrals_upgrade_to_silver_and_a_quarters_spend_to_gold() -> None:
    assert upgrade_by_task(DEMO_TIERS, "normal", QuarterMeasures(referrals=2)) is None
    by_friends = upgrade_by_task(DEMO_TIERS, "normal", QuarterMeasures(referrals=3))
    assert by_friends is not None and by_friends.to.code == "silver"
    assert by_friends.reason is ChangeReason.TASK
    # Both tasks done: the highest tier reached wins.
    both = upgrade_by_task(DEMO_TIERS, "normal", QuarterMeasures(Decimal("8000"), 3))
    assert both is not None and both.to.code == "gold"
    # Never a task "upgrade" to the tier one is already in, or below.
    assert upgrade_by_task(DEMO_TIERS, "gold", QuarterMeasures(Decimal("9000"), 5)) is None


def gold_member(review_at: datetime) -> MemberTier:
    since = datetime(2025, 11, 1, tzinfo=UTC)
    return MemberTier("gold", since, review_at, last_activity_at=NOW)


def test_the_keep_task_keeps_gold_at_review_when_the_spend_no_longer_qualifies() -> None:
    member = gold_member(review_at=NOW)
    policy = TierPolicy()
    low = Decimal("6000")  # qualifies for silver only
    dropped = review(DEMO_TIERS, member, low, NOW, policy, (QuarterMeasures(Decimal("2999")),))
    assert dropped is not None and dropped.to.code == "silver"
    # 3,000 spent last quarter counts too.
    kept = review(
        DEMO_TIERS, member, low, NOW, policy, (QuarterMeasures(), QuarterMeasures(Decimal(3000)))
    )
    assert kept is not None and kept.to.code == "gold" and kept.reason is ChangeReason.REVIEW


def test_progress_lists_the_higher_tiers_upgrade_tasks_and_the_keep_task() -> None:
    p = progress(DEMO_TIERS, "silver", Decimal("6000"), QuarterMeasures(Decimal("1500"), 1))
    assert [(t.tier.code, t.purpose, t.done, t.remaining) for t in p.tasks] == [
        ("gold", "upgrade", Decimal("1500"), Decimal("6500")),
    ]
    gold = progress(DEMO_TIERS, "gold", Decimal("21000"), QuarterMeasures(Decimal("3500")))
    assert [(t.tier.code, t.purpose, t.remaining) for t in gold.tasks] == [
        ("gold", "keep", Decimal(0)),
    ]


def test_the_demo_ladder_passes_its_own_checks() -> None:
    check_ladder(DEMO_TIERS)
    for d in DEMO_TIERS:
        check_definition(d)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"code": "no spaces"}, "code"),
        ({"name": " "}, "name"),
        ({"threshold": Decimal("5000.001")}, "threshold"),
        ({"threshold": Decimal("-1")}, "threshold"),
        ({"multiplier": Decimal("0")}, "multiplier"),
        ({"multiplier": Decimal("11")}, "multiplier"),
        ({"keep_task": TierTask(TaskMeasure.QUARTER_SPEND, Decimal("0"))}, "keepTask"),
        ({"upgrade_tasks": (TierTask(TaskMeasure.QUARTER_REFERRALS, Decimal("2.5")),)}, None),
    ],
)
def test_a_bad_definition_is_refused_naming_its_field(
    change: dict[str, object], field: str | None
) -> None:
    with pytest.raises(DomainError) as refused:
        check_definition(replace(SILVER, **change))  # type: ignore[arg-type]
    assert refused.value.field == (field or "upgradeTasks")


@pytest.mark.parametrize(
    ("ladder", "message"),
    [
        ((NORMAL, replace(SILVER, threshold=Decimal("0"))), "threshold must be above"),
        ((NORMAL, replace(SILVER, rank=0)), "same rank"),
        ((replace(NORMAL, threshold=Decimal("1")), SILVER), "lowest tier's threshold"),
        ((replace(NORMAL, upgrade_tasks=SILVER.upgrade_tasks), SILVER), "lowest tier has no"),
        ((), "at least one tier"),
    ],
)
def test_a_ladder_that_does_not_rise_is_refused(ladder: tuple[object, ...], message: str) -> None:
    with pytest.raises(DomainError) as refused:
        check_ladder(ladder)  # type: ignore[arg-type]
    assert message in refused.value.message
