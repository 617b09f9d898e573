"""An experiment's results per variant, from the ledger's facts as analytics classifies them
(app/analytics/flows.py), with confidence intervals by SciPy (docs/EXPERIMENTS.md, "Results").

Each member counts from the moment it was assigned until the experiment ended (stopped or
rolled out) or now: what it did before it was in the experiment is not the variant's doing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from scipy import stats
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.analytics.flows import ACTIVE_KINDS, FLOW_SQL
from app.ledger.reporting import JOURNAL
from app.valuation.policy import PointValue, value_at

CONFIDENCE = 0.95
RATE_PLACES = Decimal("0.000001")
CENT = Decimal("0.01")
_ACTIVE = ", ".join(f"'{kind}'" for kind in ACTIVE_KINDS)

# The variant's members, and each one's facts while in the experiment.
_FACTS = f"""
WITH assigned AS (
    SELECT member_id, variant_id, assigned_at,
           (assigned_at AT TIME ZONE :tz)::date AS assigned_day
    FROM experiment_assignments
    WHERE experiment_id = :experiment AND assigned_at < :until
), facts AS (
    SELECT a.member_id, (e.created_at AT TIME ZONE :tz)::date AS day, {FLOW_SQL} AS flow,
           e.amount, e.kind IN ({_ACTIVE}) AS active
    FROM assigned a JOIN {JOURNAL} e ON e.member_id = a.member_id
    WHERE e.created_at >= a.assigned_at AND e.created_at < :until
), bought AS (
    SELECT a.member_id, count(*) AS purchases, sum(p.amount - p.refunded_amount) AS sales
    FROM assigned a JOIN purchases p ON p.member_id = a.member_id
    WHERE p.created_at >= a.assigned_at AND p.created_at < :until
    GROUP BY a.member_id
), per_member AS (
    SELECT a.variant_id, a.member_id,
           coalesce(sum(f.amount) FILTER (
               WHERE f.flow LIKE 'issued:%' AND f.flow <> 'issued:gift'), 0) AS issued,
           coalesce(-sum(f.amount) FILTER (
               WHERE f.flow LIKE 'redeemed:%' AND f.flow <> 'redeemed:gift'), 0) AS redeemed,
           coalesce(bool_or(f.active AND f.day > a.assigned_day), false) AS retained
    FROM assigned a LEFT JOIN facts f ON f.member_id = a.member_id
    GROUP BY a.variant_id, a.member_id
)
"""

_BY_VARIANT = text(
    _FACTS
    + """
SELECT v.id, v.code, v.name, count(pm.member_id) AS members,
       coalesce(sum(pm.issued), 0) AS issued, avg(pm.issued) AS issued_mean,
       stddev_samp(pm.issued) AS issued_sd,
       coalesce(sum(pm.redeemed), 0) AS redeemed,
       count(*) FILTER (WHERE pm.retained) AS retained,
       coalesce(sum(b.purchases), 0) AS purchases,
       coalesce(sum(b.sales), 0) AS sales,
       avg(coalesce(b.sales, 0)) FILTER (WHERE pm.member_id IS NOT NULL) AS sales_mean,
       stddev_samp(coalesce(b.sales, 0)) FILTER (WHERE pm.member_id IS NOT NULL) AS sales_sd
FROM experiment_variants v
LEFT JOIN per_member pm ON pm.variant_id = v.id
LEFT JOIN bought b ON b.member_id = pm.member_id
WHERE v.experiment_id = :experiment
GROUP BY v.id
ORDER BY v.position
"""
)

# Points issued per variant and business day: their cost is at the value in force that day.
_ISSUED_BY_DAY = text(
    _FACTS
    + """
SELECT a.variant_id, f.day, sum(f.amount) AS points
FROM facts f JOIN assigned a ON a.member_id = f.member_id
WHERE f.flow LIKE 'issued:%' AND f.flow <> 'issued:gift'
GROUP BY a.variant_id, f.day
"""
)


@dataclass(frozen=True)
class Interval:
    """An estimate with its two-sided confidence interval (None: too few members)."""

    estimate: float | None
    low: float | None
    high: float | None
    confidence: float = CONFIDENCE


@dataclass(frozen=True)
class Comparison:
    """A variant against the control (the first variant): two-sided p-values (None: nothing
    to test, e.g. no spread in either variant)."""

    issued_p_value: float | None  # Welch's t-test, points issued per member
    sales_p_value: float | None  # Welch's t-test, sales per member
    retention_p_value: float | None  # Fisher's exact test, retained or not


@dataclass(frozen=True)
class VariantResult:
    code: str
    name: str
    members: int
    points_issued: int
    points_cost: Decimal  # CNY: each day's points at the point value in force that day
    points_redeemed: int
    redemption_rate: Decimal | None  # redeemed / issued
    purchases: int
    sales: Decimal  # CNY, less refunds
    retained: int  # members active on a business day after the day they were assigned
    retention_rate: Decimal | None
    issued_per_member: Interval  # mean, t interval
    sales_per_member: Interval  # mean, t interval
    retention: Interval  # Wilson score interval
    versus_control: Comparison | None  # None for the control itself


def mean_interval(n: int, mean: float | None, sd: float | None) -> Interval:
    """Student's t interval of a mean (SciPy): none below two members."""
    if n == 0 or mean is None:
        return Interval(None, None, None)
    if n < 2 or sd is None:
        return Interval(mean, None, None)
    if sd == 0:
        return Interval(mean, mean, mean)
    low, high = stats.t.interval(CONFIDENCE, n - 1, loc=mean, scale=sd / math.sqrt(n))
    return Interval(mean, float(low), float(high))


def proportion_interval(k: int, n: int) -> Interval:
    """Wilson score interval of a proportion (SciPy's binomtest)."""
    if n == 0:
        return Interval(None, None, None)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return Interval(k / n, float(ci.low), float(ci.high))


def _rate(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(RATE_PLACES, ROUND_HALF_EVEN)


def cost_of(
    points_by_day: dict[date, int], history: list[PointValue], default: Decimal, tz: str
) -> Decimal:
    """Each business day's points times the point value in force when that day began (as
    analytics' cost of points: docs/ANALYTICS.md)."""
    zone = ZoneInfo(tz)
    total = sum(
        (
            points * value_at(history, datetime.combine(day, time(), zone), default)
            for day, points in points_by_day.items()
        ),
        Decimal(0),
    )
    return total.quantize(CENT, ROUND_HALF_EVEN)


async def variant_results(
    conn: AsyncConnection,
    experiment_id: int,
    *,
    until: datetime,
    timezone: str,
    values: list[PointValue],
    default_value: Decimal,
) -> list[VariantResult]:
    params = {"experiment": experiment_id, "until": until, "tz": timezone}
    by_day: dict[int, dict[date, int]] = {}
    for row in await conn.execute(_ISSUED_BY_DAY, params):
        by_day.setdefault(row.variant_id, {})[row.day] = int(row.points)
    rows = list(await conn.execute(_BY_VARIANT, params))
    results = []
    for r in rows:
        members = int(r.members)
        issued = int(r.issued)
        redeemed = int(r.redeemed)
        results.append(
            VariantResult(
                code=r.code,
                name=r.name,
                members=members,
                points_issued=issued,
                points_cost=cost_of(by_day.get(r.id, {}), values, default_value, timezone),
                points_redeemed=redeemed,
                redemption_rate=_rate(redeemed, issued),
                purchases=int(r.purchases),
                sales=Decimal(r.sales).quantize(CENT),
                retained=int(r.retained),
                retention_rate=_rate(int(r.retained), members),
                issued_per_member=mean_interval(
                    members, _float(r.issued_mean), _float(r.issued_sd)
                ),
                sales_per_member=mean_interval(members, _float(r.sales_mean), _float(r.sales_sd)),
                retention=proportion_interval(int(r.retained), members),
                versus_control=None if r is rows[0] else compare(rows[0], r),
            )
        )
    return results


def compare(control: Any, variant: Any) -> Comparison:
    """SciPy's tests of ``variant`` against ``control`` (rows of the per-variant statement)."""
    return Comparison(
        issued_p_value=welch_p(control, variant, "issued"),
        sales_p_value=welch_p(control, variant, "sales"),
        retention_p_value=fisher_p(
            int(control.retained), int(control.members), int(variant.retained), int(variant.members)
        ),
    )


def welch_p(control: Any, variant: Any, measure: str) -> float | None:
    n1, n2 = int(control.members), int(variant.members)
    sd1, sd2 = _float(getattr(control, f"{measure}_sd")), _float(getattr(variant, f"{measure}_sd"))
    if n1 < 2 or n2 < 2 or sd1 is None or sd2 is None or sd1 == sd2 == 0:
        return None
    mean1 = _float(getattr(control, f"{measure}_mean"))
    mean2 = _float(getattr(variant, f"{measure}_mean"))
    tested = stats.ttest_ind_from_stats(mean1, sd1, n1, mean2, sd2, n2, equal_var=False)
    return _finite(float(tested.pvalue))


def fisher_p(k1: int, n1: int, k2: int, n2: int) -> float | None:
    if n1 == 0 or n2 == 0:
        return None
    return _finite(float(stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue))


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _float(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)
