"""The outlook: what is pending, the members by tier and the points due to expire in each of
the next 12 business months.

It sums every open lot — a scan that grows with the lots (millions at a million members), too
slow to run on each ask. So the ``analytics-outlook`` job computes it every few minutes and
keeps the result in ``analytics_outlook`` (one row); ``pointsOutlook`` reads that row and says
when it was computed (``as_of``). Asked before any run, it is computed on the spot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.analytics.policy import Granularity, next_bucket
from app.analytics.tables import analytics_outlook
from app.clock import business_date, business_midnight
from app.ledger.reporting import expiring_by_month, pending_points
from app.valuation.queries import point_value_at

EXPIRY_MONTHS = 12
_BY_TIER = text("SELECT tier_code, count(*) AS members FROM member_tiers GROUP BY tier_code")


@dataclass(frozen=True)
class ExpiringMonth:
    month: date  # its first business day
    points: int


@dataclass(frozen=True)
class Outlook:
    """The programme as it stood at ``as_of``: what is pending, the tiers, what will expire."""

    as_of: datetime
    pending: int  # points earned and still inside their return window
    members_by_tier: dict[str, int]
    expiring: list[ExpiringMonth]  # as_of's month (from as_of) and the 11 after it
    point_value: Decimal  # in force at as_of


async def compute(
    conn: AsyncConnection, now: datetime, *, tz: str, default_point_value: Decimal
) -> Outlook:
    """The outlook as of ``now``, from the lots themselves."""
    first = business_date(now, tz).replace(day=1)
    months = [first]
    for _ in range(EXPIRY_MONTHS):
        months.append(next_bucket(months[-1], Granularity.MONTH))
    until = business_midnight(months[-1], tz)
    found = await expiring_by_month(conn, now=now, until=until, timezone=tz)
    return Outlook(
        as_of=now,
        pending=await pending_points(conn, now),
        members_by_tier={r.tier_code: int(r.members) for r in await conn.execute(_BY_TIER)},
        expiring=[ExpiringMonth(m, found.get(m, 0)) for m in months[:-1]],
        point_value=await point_value_at(conn, now, default_point_value),
    )


async def store(conn: AsyncConnection, outlook: Outlook) -> None:
    row = {
        "as_of": outlook.as_of,
        "pending": outlook.pending,
        "members_by_tier": outlook.members_by_tier,
        "expiring": {m.month.isoformat(): m.points for m in outlook.expiring},
        "point_value": outlook.point_value,
    }
    await conn.execute(
        insert(analytics_outlook)
        .values(id=1, **row)
        .on_conflict_do_update(
            index_elements=["id"],
            set_=row,
            where=analytics_outlook.c.as_of <= outlook.as_of,  # an older run never wins
        )
    )


async def stored(conn: AsyncConnection) -> Outlook | None:
    row = (await conn.execute(select(analytics_outlook))).one_or_none()
    if row is None:
        return None
    return Outlook(
        as_of=row.as_of,
        pending=int(row.pending),
        members_by_tier={k: int(v) for k, v in row.members_by_tier.items()},
        expiring=[ExpiringMonth(date.fromisoformat(k), int(v)) for k, v in row.expiring.items()],
        point_value=Decimal(row.point_value),
    )
