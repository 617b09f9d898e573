"""Tier policy: pure functions of the definitions, the qualifying spend and the clock's value.

* A member's tier is the highest whose threshold their **qualifying spend** reaches: purchases
  minus refunds over the rolling window (12 months in the demo).
* **Upgrade at once**: the purchase that crosses a threshold upgrades the member in the same
  transaction; that purchase still earned at the old tier, the next one earns at the new tier.
* **Review** (a scheduled job): a tier is kept until its review date (12 months after it was
  reached, the "保级" period); at review the member keeps it if the spend still qualifies
  (the review date moves on a period), else drops to the tier the spend qualifies for.
* **Inactivity**: after a month (the demo's setting) with no points activity, the member loses
  one tier; each further inactive month another, never below the base tier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from app.clock import add_months


@dataclass(frozen=True)
class TierDef:
    code: str
    name: str
    rank: int
    threshold: Decimal
    multiplier: Decimal
    benefits: tuple[str, ...] = ()


@dataclass(frozen=True)
class TierPolicy:
    window_months: int = 12
    review_months: int = 12
    inactivity_months: int = 1


class ChangeReason(StrEnum):
    UPGRADE = "upgrade"
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
class Progress:
    current: TierDef
    next: TierDef | None
    qualifying_spend: Decimal
    spend_to_next: Decimal  # 0 at the top tier


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


def review(
    defs: Sequence[TierDef],
    tier: MemberTier,
    spend: Decimal,
    now: datetime,
    policy: TierPolicy,
) -> Decision | None:
    """What the scheduled review does to one member (None: nothing changes)."""
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
        if target.rank < current.rank:
            return Decision(target, ChangeReason.REVIEW)
        return Decision(current, ChangeReason.REVIEW)  # kept: the review date moves on
    return None


def progress(defs: Sequence[TierDef], current: str, spend: Decimal) -> Progress:
    tier = by_code(defs, current)
    higher = [d for d in ordered(defs) if d.rank > tier.rank]
    nxt = higher[0] if higher else None
    needed = max(nxt.threshold - spend, Decimal(0)) if nxt else Decimal(0)
    return Progress(tier, nxt, spend, needed)


def window_start(now: datetime, policy: TierPolicy) -> datetime:
    return add_months(now, -policy.window_months)


# The demo programme (FEATURES.md section 4): 普卡 below 5,000 CNY a year.
DEMO_TIERS = (
    TierDef("normal", "普卡", 0, Decimal("0"), Decimal("1.0"), ("points on every purchase",)),
    TierDef(
        "silver", "银卡", 1, Decimal("5000"), Decimal("1.2"), ("birthday gift", "free delivery")
    ),
    TierDef(
        "gold",
        "金卡",
        2,
        Decimal("20000"),
        Decimal("1.5"),
        ("birthday gift", "free delivery", "exclusive items"),
    ),
    TierDef(
        "diamond",
        "钻石卡",
        3,
        Decimal("50000"),
        Decimal("2.0"),
        ("birthday gift", "free delivery", "exclusive items", "dedicated service"),
    ),
)
