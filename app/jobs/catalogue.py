"""Every scheduled job of Jifen, declared here: the jobs package sits above the domains, so a
domain writes the job's function (``app/<domain>/jobs.py`` or a use case) and this catalogue
names and schedules it (docs/LIFECYCLE.md, "Jobs")."""

from __future__ import annotations

from app.jobs.registry import Job, registry


def all_jobs() -> dict[str, Job]:
    from app.analytics.jobs import (
        ANOMALY_CHECK_SECONDS,
        OUTLOOK_SECONDS,
        WEEKLY_REPORT_CRON,
        check_anomalies,
        make_outlook,
        make_weekly_report,
    )
    from app.games.jobs import close_games
    from app.jobs.core import CORE_JOBS
    from app.ledger.retention import purge_idempotency_keys
    from app.lifecycle.reminders import send_expiry_reminders
    from app.lifecycle.retention import purge_notifications
    from app.mall.jobs import redemption_timeouts
    from app.segments.jobs import SEGMENTS_CRON, compute_segments_job, run_segment_campaigns
    from app.webhooks.retention import purge_settled

    return registry(
        [
            *CORE_JOBS,
            Job(
                "expiry-reminders",
                "Tell members N days before their points expire (demo: 30 and 7): one "
                "notification and one points.expiring event per member, expiry day and threshold.",
                send_expiry_reminders,
                every_seconds=600,
            ),
            Job(
                "redemption-timeouts",
                "Close redemption orders not confirmed in time: hold voided, stock back.",
                redemption_timeouts,
                every_seconds=30,
            ),
            Job(
                "games-close",
                "Close the points games whose end has come by the clock: an auction's winning "
                "hold committed into a redemption order, every other hold voided; a campaign's "
                "pledges all committed (goal reached) or all voided (docs/GAMES.md).",
                close_games,
                every_seconds=5,
            ),
            Job(
                "webhook-retention",
                "Delete webhook messages settled longer ago than JIFEN_WEBHOOK_RETENTION_DAYS.",
                purge_settled,
                every_seconds=3600,
            ),
            Job(
                "idempotency-retention",
                "Forget idempotency keys older than JIFEN_IDEMPOTENCY_RETENTION_DAYS.",
                purge_idempotency_keys,
                every_seconds=3600,
            ),
            Job(
                "notification-retention",
                "Delete notifications older than JIFEN_NOTIFICATION_RETENTION_DAYS (expiry "
                "reminders once their day has passed).",
                purge_notifications,
                every_seconds=3600,
            ),
            Job(
                "weekly-report",
                "The weekly operations report (积分运营周报) of the previous business week "
                "against the week before, kept for staff (docs/ANALYTICS.md).",
                make_weekly_report,
                cron=WEEKLY_REPORT_CRON,
            ),
            Job(
                "analytics-outlook",
                "The outlook (pointsOutlook): pending points, members by tier and the points "
                "due to expire in each of the next 12 months, from every open lot.",
                make_outlook,
                every_seconds=OUTLOOK_SECONDS,
            ),
            Job(
                "segments",
                "Every member's RFM scores and segment (champions, loyal, potential, at risk, "
                "hibernating, new) over JIFEN_SEGMENT_WINDOW_DAYS (docs/ANALYTICS.md).",
                compute_segments_job,
                cron=SEGMENTS_CRON,
            ),
            Job(
                "anomaly-alerts",
                "Look for redemption surges, members over-earning, failed-credential surges and "
                "budgets nearly spent; fire each once as an alert event (docs/ANALYTICS.md).",
                check_anomalies,
                every_seconds=ANOMALY_CHECK_SECONDS,
            ),
            Job(
                "segment-campaigns",
                "Credit the members of running segment bonus campaigns, in chunks, within "
                "their budgets; resumes a run cut off by a crash (docs/ANALYTICS.md).",
                run_segment_campaigns,
                every_seconds=30,
            ),
        ]
    )
