"""Analytics' scheduled work (the catalogue, app/jobs/catalogue.py, makes the jobs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.analytics.alerts import check_anomalies
from app.analytics.usecases import store_weekly_report
from app.runtime import Runtime

WEEKLY_REPORT_CRON = "30 6 * * 1"  # Mondays 06:30, the programme's time: last week is complete


async def make_weekly_report(rt: Runtime) -> Mapping[str, Any]:
    report = await store_weekly_report(rt)
    return {"week_start": report.week_start.isoformat(), "figures": len(report.rows)}


ANOMALY_CHECK_SECONDS = 300.0

__all__ = ["ANOMALY_CHECK_SECONDS", "WEEKLY_REPORT_CRON", "check_anomalies", "make_weekly_report"]
