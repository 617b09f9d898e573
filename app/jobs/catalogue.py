"""Every scheduled job of Jifen. To add one, define a ``Job`` next to its domain code
(``app/<domain>/jobs.py``) and add it to the list below (docs/LIFECYCLE.md, "Jobs")."""

from __future__ import annotations

from app.jobs.registry import Job, registry


def all_jobs() -> dict[str, Job]:
    from app.analytics.jobs import WEEKLY_REPORT_CRON, make_weekly_report
    from app.jobs.core import CORE_JOBS
    from app.lifecycle.jobs import LIFECYCLE_JOBS
    from app.mall.jobs import MALL_JOBS
    from app.webhooks.retention import purge_settled

    return registry(
        [
            *CORE_JOBS,
            *LIFECYCLE_JOBS,
            *MALL_JOBS,
            Job(
                "webhook-retention",
                "Delete webhook messages settled longer ago than JIFEN_WEBHOOK_RETENTION_DAYS.",
                purge_settled,
                every_seconds=3600,
            ),
            Job(
                "weekly-report",
                "The weekly operations report (积分运营周报) of the previous business week "
                "against the week before, kept for staff (docs/ANALYTICS.md).",
                make_weekly_report,
                cron=WEEKLY_REPORT_CRON,
            ),
        ]
    )
