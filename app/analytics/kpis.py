"""KPIs for a period: read from the rollups (a few hundred rows at most), never the ledger.

Every figure is defined in docs/ANALYTICS.md. Points are whole points; money is CNY.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.analytics.flows import (
    ADJUSTED_OUT,
    CLAWED_BACK,
    EXPIRED,
    ISSUED_SOURCES,
    NEW_MEMBERS,
    REDEEMED_USES,
    RETURNED,
    SIGNINS,
)
from app.analytics.policy import Bucket, Granularity, buckets, rate
from app.clock import business_midnight
from app.segments.policy import Segment
from app.valuation.policy import PointValue, plain, value_at

GIFT = "gift"  # members giving points to each other: in both breakdowns, in neither total

_CHANNEL = "(CAST(:channel AS text) IS NULL OR channel = :channel)"
# Everything a KPI read needs in one statement — one round trip, in autocommit, where a
# statement each (and BEGIN, ROLLBACK) made nine: on a loaded box each waits for a core, and
# the waits were the p99. A bucket is date_trunc of a plain timestamp: of a timestamptz it is
# worked out in the session's time zone, row by row, the costliest part of a 13-month read.
# Tagged rows (``part``):
# - ``flow``: per bucket and flow, the points and facts of the period;
# - ``before``: per flow, the points and facts before the period (outstanding, members);
# - ``active``: active members per bucket;
# - ``issued``: points issued per day of the period, only when the point value changed during
#   it (the cost of points takes each day's at its own value; else one value for all);
# - ``sales``: member sales of the period;
# - ``value``: the point value's history (app/valuation's table);
# - ``segment``: members per segment as of the last run (app/segments' table).
_READ = text(
    f"""
    SELECT 'flow' AS part, date_trunc(:grain, day::timestamp)::date AS day, flow AS name,
           sum(points) AS n, sum(facts) AS m, NULL::numeric AS amount, NULL::timestamptz AS at
    FROM analytics_flows WHERE day BETWEEN :start AND :end AND {_CHANNEL}
    GROUP BY 2, 3
    UNION ALL
    SELECT 'before', NULL, flow, sum(points), sum(facts), NULL, NULL
    FROM analytics_flows WHERE day < :start AND {_CHANNEL}
    GROUP BY flow
    UNION ALL
    SELECT 'active', bucket, NULL, sum(members), NULL, NULL, NULL
    FROM analytics_activity
    WHERE grain = :grain AND bucket BETWEEN :start AND :end AND {_CHANNEL}
    GROUP BY bucket
    UNION ALL
    SELECT 'issued', day, NULL, sum(points), NULL, NULL, NULL
    FROM analytics_flows
    WHERE day BETWEEN :start AND :end AND {_CHANNEL}
      AND flow LIKE 'issued:%' AND flow <> 'issued:{GIFT}'
      AND EXISTS (SELECT 1 FROM point_values
                  WHERE effective_from > :since AND effective_from <= :until)
    GROUP BY day
    UNION ALL
    SELECT 'sales', NULL, NULL, NULL, NULL, coalesce(sum(amount), 0), NULL
    FROM analytics_sales WHERE day BETWEEN :start AND :end AND {_CHANNEL}
    UNION ALL
    SELECT 'value', NULL, NULL, id, NULL, value, effective_from FROM point_values
    UNION ALL
    SELECT 'segment', NULL, segment, sum(members), NULL, NULL, NULL
    FROM segment_counts WHERE {_CHANNEL}
    GROUP BY segment
    """
)


@dataclass
class Flows:
    """The points that moved in a span of business days, by flow."""

    issued_by_source: dict[str, int] = field(default_factory=dict)
    redeemed_by_use: dict[str, int] = field(default_factory=dict)
    expired: int = 0
    clawed_back: int = 0
    returned: int = 0
    adjusted_out: int = 0
    net: int = 0  # the change in outstanding points
    new_members: int = 0
    signins: int = 0
    signins_by_streak: dict[str, int] = field(default_factory=dict)
    streak_days: int = 0  # the streaks the sign-ins reached, summed
    facts_by_flow: dict[str, int] = field(default_factory=dict)

    @property
    def issued(self) -> int:
        return sum(v for k, v in self.issued_by_source.items() if k != GIFT)

    @property
    def redeemed(self) -> int:
        return sum(v for k, v in self.redeemed_by_use.items() if k != GIFT)

    @property
    def mean_streak(self) -> Decimal | None:
        return rate(self.streak_days, self.signins)

    def add(self, flow: str, points: int, facts: int) -> None:
        self.facts_by_flow[flow] = self.facts_by_flow.get(flow, 0) + facts
        kind, _, name = flow.partition(":")
        if kind == SIGNINS:  # not a movement of points: its points are the streaks reached
            self.signins += facts
            self.streak_days += points
            self.signins_by_streak[name] = self.signins_by_streak.get(name, 0) + facts
            return
        self.net += points
        if kind == "issued":
            self.issued_by_source[name] = self.issued_by_source.get(name, 0) + points
        elif kind == "redeemed":
            self.redeemed_by_use[name] = self.redeemed_by_use.get(name, 0) - points
        elif flow == EXPIRED:
            self.expired -= points
        elif flow == CLAWED_BACK:
            self.clawed_back -= points
        elif flow == RETURNED:
            self.returned += points
        elif flow == ADJUSTED_OUT:
            self.adjusted_out -= points
        elif flow == NEW_MEMBERS:
            self.new_members += facts


def _empty_flows() -> Flows:
    flows = Flows()
    flows.issued_by_source = dict.fromkeys(ISSUED_SOURCES, 0)
    flows.redeemed_by_use = dict.fromkeys(REDEEMED_USES, 0)
    return flows


@dataclass(frozen=True)
class BucketFigures:
    start: date
    end: date
    flows: Flows
    outstanding: int  # at the bucket's end
    members: int  # registered by the bucket's end
    active_members: int
    point_value: Decimal  # in force at the bucket's end
    liability: Decimal  # outstanding times the point value


@dataclass(frozen=True)
class Kpis:
    start: date
    end: date
    granularity: Granularity
    channel: str | None
    buckets: list[BucketFigures]
    totals: Flows
    opening_outstanding: int
    outstanding: int
    members: int
    liability: Decimal
    point_value: Decimal
    consumption_rate: Decimal | None
    redemption_rate: Decimal | None
    breakage_rate: Decimal | None
    member_sales: Decimal
    points_cost: Decimal
    points_roi: Decimal | None
    # Members per RFM segment as of the last segmentation run (not of the period: segments
    # are recomputed, not kept per day).
    members_by_segment: dict[str, int] = field(default_factory=dict)


def day_end(day: date, tz: str) -> datetime:
    """The instant a business day ends (the next day's business midnight)."""
    return business_midnight(day + timedelta(days=1), tz)


def _sum_flows(rows: Iterable[tuple[str, int, int]]) -> Flows:
    flows = _empty_flows()
    for flow, points, facts in rows:
        flows.add(flow, int(points), int(facts))
    return flows


@dataclass
class _Read:
    """The one statement's rows, by part."""

    by_bucket: dict[date, list[tuple[str, int, int]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    earlier: list[tuple[str, int, int]] = field(default_factory=list)
    active: dict[date, int] = field(default_factory=dict)
    issued_by_day: dict[date, int] = field(default_factory=dict)
    sales: Decimal = Decimal(0)
    values: list[tuple[datetime, int, PointValue]] = field(default_factory=list)
    segments: dict[str, int] = field(default_factory=dict)

    @property
    def history(self) -> list[PointValue]:
        """The point value's changes, oldest first (by time, then as entered)."""
        return [value for _, _, value in sorted(self.values, key=lambda v: (v[0], v[1]))]

    def add(self, r: Any) -> None:
        if r.part == "flow":
            self.by_bucket[r.day].append((r.name, int(r.n), int(r.m)))
        elif r.part == "before":
            self.earlier.append((r.name, int(r.n), int(r.m)))
        elif r.part == "active":
            self.active[r.day] = int(r.n)
        elif r.part == "issued":
            self.issued_by_day[r.day] = int(r.n)
        elif r.part == "sales":
            self.sales = Decimal(r.amount)
        elif r.part == "value":
            self.values.append((r.at, int(r.n), PointValue(plain(Decimal(r.amount)), r.at)))
        else:
            self.segments[r.name] = int(r.n)


async def kpis(
    conn: AsyncConnection,
    start: date,
    end: date,
    *,
    granularity: Granularity | None,
    channel: str | None,
    tz: str,
    default_point_value: Decimal,
) -> Kpis:
    grain, spans = buckets(start, end, granularity)
    start, end = spans[0].start, spans[-1].end
    read = _Read()
    params = {
        "start": start,
        "end": end,
        "channel": channel,
        "grain": grain.value,
        "since": business_midnight(start, tz),
        "until": business_midnight(end, tz),
    }
    for r in await conn.execute(_READ, params):
        read.add(r)
    during = [row for rows in read.by_bucket.values() for row in rows]
    before = _sum_flows(read.earlier)
    history = read.history
    figures = _bucket_figures(
        spans, read.by_bucket, before, read.active, history, tz, default_point_value
    )
    totals = _sum_flows(during)
    lifetime = _sum_flows(read.earlier + during)
    last = figures[-1]
    cost = _points_cost(
        (start, end), read.issued_by_day, totals.issued, history, tz, default_point_value
    )
    return Kpis(
        start=start,
        end=end,
        granularity=grain,
        channel=channel,
        buckets=figures,
        totals=totals,
        opening_outstanding=before.net,
        outstanding=last.outstanding,
        members=last.members,
        liability=last.liability,
        point_value=last.point_value,
        consumption_rate=rate(totals.redeemed, totals.issued),
        redemption_rate=rate(lifetime.redeemed, lifetime.issued),
        breakage_rate=rate(lifetime.expired, lifetime.issued),
        member_sales=read.sales,
        points_cost=cost,
        points_roi=rate(read.sales, cost),
        members_by_segment={s.value: read.segments.get(s.value, 0) for s in Segment},
    )


def _points_cost(
    window: tuple[date, date],
    issued_by_day: dict[date, int],
    issued: int,
    history: list[PointValue],
    tz: str,
    default_point_value: Decimal,
) -> Decimal:
    """The points issued in the window, each business day's at the point value in force when
    the day began (a change during a day counts from the next)."""
    first, last = window

    def value_on(day: date) -> Decimal:
        return value_at(history, business_midnight(day, tz), default_point_value)

    changed = any(
        c.effective_from is not None
        and business_midnight(first, tz) < c.effective_from <= business_midnight(last, tz)
        for c in history
    )
    if not changed:  # one value over the whole window
        return Decimal(issued) * value_on(first)
    return sum(
        (Decimal(points) * value_on(day) for day, points in issued_by_day.items()), Decimal(0)
    )


def _bucket_figures(
    spans: list[Bucket],
    by_bucket: dict[date, list[tuple[str, int, int]]],
    before: Flows,
    active: dict[date, int],
    history: list[PointValue],
    tz: str,
    default_point_value: Decimal,
) -> list[BucketFigures]:
    outstanding, members = before.net, before.new_members
    figures = []
    for span in spans:
        flows = _sum_flows(by_bucket.get(span.start, []))
        outstanding += flows.net
        members += flows.new_members
        value = value_at(history, day_end(span.end, tz), default_point_value)
        figures.append(
            BucketFigures(
                start=span.start,
                end=span.end,
                flows=flows,
                outstanding=outstanding,
                members=members,
                active_members=active.get(span.start, 0),
                point_value=value,
                liability=Decimal(outstanding) * value,
            )
        )
    return figures


@dataclass(frozen=True)
class RedeemedItem:
    code: str
    name: str
    quantity: int
    points: int


_TOP_ITEMS = text(
    """
    SELECT i.code, i.name, sum(o.quantity) AS quantity, sum(o.points) AS points
    FROM mall_orders o JOIN mall_items i ON i.id = o.item_id
    WHERE o.confirmed_at >= :since AND o.confirmed_at < :until
      AND o.status IN ('confirmed', 'fulfilled')
    GROUP BY i.id, i.code, i.name
    ORDER BY points DESC, quantity DESC, i.code
    LIMIT :limit
    """
)


async def top_redeemed_items(
    conn: AsyncConnection, start: date, end: date, *, tz: str, limit: int
) -> list[RedeemedItem]:
    """The mall items most redeemed (by points) in the business days ``[start, end]``: orders
    confirmed then and not returned since."""
    rows = await conn.execute(
        _TOP_ITEMS,
        {"since": business_midnight(start, tz), "until": day_end(end, tz), "limit": limit},
    )
    return [RedeemedItem(r.code, r.name, int(r.quantity), int(r.points)) for r in rows]
