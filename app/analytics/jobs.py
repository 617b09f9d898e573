"""Analytics' scheduled work (the catalogue, app/jobs/catalogue.py, makes the jobs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.analytics.alerts import check_anomalies
from app.analytics.usecases import refresh_outlook, store_weekly_report
from app.runtime import Runtime

WEEKLY_REPORT_CRON = "30 6 * * 1"  # Mondays 06:30, the programme's time: last week is complete


async def make_weekly_report(rt: Runtime) -> Mapping[str, Any]:
    report = await store_weekly_report(rt)
    return {"week_start": report.week_start.isoformat(), "figures": len(report.rows)}


async def make_outlook(rt: Runtime) -> Mapping[str, Any]:
    found = await refresh_outlook(rt)
    return {"pending": found.pending, "expiring": sum(m.points for m in found.expiring)}


ANOMALY_CHECK_SECONDS = 300.0
# The outlook scans every open lot (seconds at a million members): every 10 minutes is fresh
# enough for a projection by month.
OUTLOOK_SECONDS = 600.0

__all__ = [
    "ANOMALY_CHECK_SECONDS",
    "OUTLOOK_SECONDS",
    "WEEKLY_REPORT_CRON",
    "check_anomalies",
    "make_outlook",
    "make_weekly_report",
]
