"""Analytics' use cases: what GraphQL, the CLI and the jobs call."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.analytics.kpis import (
    Kpis,
    Outlook,
    kpis,
    outlook,
    point_value_history,
    top_redeemed_items,
)
from app.analytics.policy import Granularity, PointValue, plain
from app.analytics.report import TOP_ITEMS, WeeklyReport, build, previous_week
from app.analytics.tables import point_values, weekly_reports
from app.clock import business_date
from app.db import unit_of_work
from app.errors import invalid
from app.ledger.models import Actor
from app.runtime import Runtime

MAX_POINT_VALUE = Decimal("1000")
WEEK, DAY = Granularity.WEEK, Granularity.DAY


async def _kpis(
    rt: Runtime,
    conn: AsyncConnection,
    start: date,
    end: date,
    granularity: Granularity | None,
    channel: str | None = None,
) -> Kpis:
    return await kpis(
        conn,
        start,
        end,
        granularity=granularity,
        channel=channel,
        tz=rt.settings.timezone,
        default_point_value=Decimal(rt.settings.point_value_cny),
    )


async def programme_kpis(
    rt: Runtime,
    start: date,
    end: date,
    *,
    granularity: Granularity | None = None,
    channel: str | None = None,
) -> Kpis:
    async with rt.engine.connect() as conn:
        return await _kpis(rt, conn, start, end, granularity, channel)


def _check_point_value(value: Decimal) -> Decimal:
    try:
        exact = value.quantize(Decimal("0.000001"))
    except InvalidOperation:
        raise invalid("the point value must be a number", "value") from None
    if not exact.is_finite() or exact <= 0 or exact > MAX_POINT_VALUE or exact != value:
        raise invalid(
            f"the point value is a positive amount of CNY up to {MAX_POINT_VALUE}, "
            "with at most six decimal places",
            "value",
        )
    return exact


async def set_point_value(
    rt: Runtime, actor: Actor, value: Decimal, *, effective_from: datetime | None, reason: str
) -> PointValue:
    """Record a change of the programme's point value, in force from ``effective_from`` (now
    when not given). Earlier figures keep the value in force at their time."""
    checked = _check_point_value(value)
    if not reason.strip() or len(reason) > 500:
        raise invalid("a reason of 1 to 500 characters is required", "reason")
    now = rt.clock.now()
    at = effective_from or now
    if at.tzinfo is None:
        raise invalid("effectiveFrom needs a time zone", "effectiveFrom")
    async with unit_of_work(rt.engine) as conn:
        await conn.execute(
            point_values.insert().values(
                value=checked,
                effective_from=at,
                reason=reason,
                actor=actor.principal,
                created_at=now,
            )
        )
    return PointValue(plain(checked), at)


async def point_value_changes(rt: Runtime) -> list[PointValue]:
    async with rt.engine.connect() as conn:
        return await point_value_history(conn)


async def weekly_report(rt: Runtime, week_start: date | None = None) -> WeeklyReport:
    """The report of the business week starting on Monday ``week_start`` (default: the week
    before this one) against the week before it."""
    tz = rt.settings.timezone
    start = week_start or previous_week(business_date(rt.clock.now(), tz))
    if start.weekday() != 0:
        raise invalid("a report's week starts on a Monday", "weekStart")
    end = start + timedelta(days=6)
    last_start, last_end = start - timedelta(days=7), start - timedelta(days=1)
    async with rt.engine.connect() as conn:
        this = await _kpis(rt, conn, start, end, WEEK)
        before = await _kpis(rt, conn, last_start, last_end, WEEK)
        this_days = await _kpis(rt, conn, start, end, DAY)
        last_days = await _kpis(rt, conn, last_start, last_end, DAY)
        items = await top_redeemed_items(conn, start, end, tz=tz, limit=TOP_ITEMS)
    return build(start, this, before, this_days, last_days, items)


async def store_weekly_report(rt: Runtime) -> WeeklyReport:
    """Make last week's report and keep it (the Monday job); made again, it replaces the
    stored one."""
    report = await weekly_report(rt)
    row = {"html": report.html, "csv": report.csv, "created_at": rt.clock.now()}
    async with unit_of_work(rt.engine) as conn:
        await conn.execute(
            insert(weekly_reports)
            .values(week_start=report.week_start, **row)
            .on_conflict_do_update(index_elements=["week_start"], set_=row)
        )
    return report


async def programme_outlook(rt: Runtime) -> Outlook:
    """Pending points, members by tier and the points due to expire in each of the next 12
    months, as of now."""
    async with rt.engine.connect() as conn:
        return await outlook(
            conn,
            rt.clock.now(),
            tz=rt.settings.timezone,
            default_point_value=Decimal(rt.settings.point_value_cny),
        )
