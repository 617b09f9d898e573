"""Analytics' use cases: what GraphQL, the CLI and the jobs call."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.analytics import outlook
from app.analytics.kpis import Kpis, kpis, top_redeemed_items
from app.analytics.outlook import Outlook
from app.analytics.policy import Granularity
from app.analytics.report import TOP_ITEMS, WeeklyReport, build, previous_week
from app.analytics.tables import weekly_reports
from app.clock import business_date
from app.db import unit_of_work
from app.errors import invalid
from app.runtime import Runtime

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
    async with rt.read(one_statement=True) as conn:  # kpis() reads in one statement
        return await _kpis(rt, conn, start, end, granularity, channel)


async def weekly_report(rt: Runtime, week_start: date | None = None) -> WeeklyReport:
    """The report of the business week starting on Monday ``week_start`` (default: the week
    before this one) against the week before it."""
    tz = rt.settings.timezone
    start = week_start or previous_week(business_date(rt.clock.now(), tz))
    if start.weekday() != 0:
        raise invalid("a report's week starts on a Monday", "weekStart")
    end = start + timedelta(days=6)
    last_start, last_end = start - timedelta(days=7), start - timedelta(days=1)
    async with rt.read() as conn:
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
    months, as the ``analytics-outlook`` job last computed them (now, before its first run)."""
    async with rt.engine.connect() as conn:
        found = await outlook.stored(conn)
    return found or await refresh_outlook(rt)


async def refresh_outlook(rt: Runtime) -> Outlook:
    """Compute the outlook now, from the lots, and keep it (the ``analytics-outlook`` job)."""
    async with unit_of_work(rt.engine) as conn:
        found = await outlook.compute(
            conn,
            rt.clock.now(),
            tz=rt.settings.timezone,
            default_point_value=Decimal(rt.settings.point_value_cny),
        )
        await outlook.store(conn, found)
    return found
