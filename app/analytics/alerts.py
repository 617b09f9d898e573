"""Anomaly alerts: a detector (the ``anomaly-alerts`` job) that looks for four kinds of trouble
and fires each as an event on the ``alerts`` topic of the outbox — staff follow it live
(``programmeAlerts``), webhook endpoints receive it (app/webhooks/catalogue.py):

- ``alert.redemption_surge``: one mall item's units ordered in the last window (an hour) at
  least ``factor`` times its own baseline (its units per window over the days before) and at
  least a minimum — "如某商品兑换量骤增, 需排查是否规则漏洞";
- ``alert.member_over_earning``: a member who earned in the last 24 hours at least ``factor``
  times the median of the members of its tier who earned then (薅羊毛), and a minimum;
- ``alert.credential_failures``: refused credentials in the last window, programme-wide, at or
  above the threshold (counted in Redis by the credential guard: :func:`note_credential_failure`);
- ``alert.budget_nearly_spent``: an earning rule's campaign budget, or a segment campaign's,
  spent at or above a share.

Each alert fires once per (kind, subject, window): the row in ``analytics_alerts`` and its
event are one statement, and the row is unique, so running the detector again, or in two
processes, fires nothing twice. Thresholds are settings (``JIFEN_ALERT_*``). Staff list the
alerts fired (``anomalyAlerts``) and acknowledge one when it was looked into.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.analytics.alert_tables import analytics_alerts
from app.clock import business_date
from app.config import Settings
from app.db import unit_of_work
from app.errors import invalid, not_found
from app.events.outbox import PROGRAMME
from app.ledger.models import Actor
from app.ledger.reporting import ACTIVITY_BY_MEMBER_SQL
from app.redisclient import RedisClient
from app.runtime import Runtime

TOPIC = "alerts"
REDEMPTION_SURGE = "alert.redemption_surge"
MEMBER_OVER_EARNING = "alert.member_over_earning"
CREDENTIAL_FAILURES = "alert.credential_failures"
BUDGET_NEARLY_SPENT = "alert.budget_nearly_spent"
ALERT_EVENTS = frozenset(
    {REDEMPTION_SURGE, MEMBER_OVER_EARNING, CREDENTIAL_FAILURES, BUDGET_NEARLY_SPENT}
)
EARNING_HOURS = 24

# Refused credentials per minute, programme-wide (kept two hours: the longest window is one day
# only for earning, which does not use them; the credential window is at most a day).
# One hash tag: on a Redis cluster every minute's key is in one slot, so one MGET reads them.
FAILURES_KEY = "jifen:alerts:{credential-failures}:"
FAILURES_KEPT_SECONDS = 25 * 3600


def _minute(at: datetime) -> int:
    return int(at.timestamp()) // 60


async def note_credential_failure(redis: RedisClient, at: datetime) -> None:
    """Count one refused credential (the credential guard calls it on every refusal)."""
    key = f"{FAILURES_KEY}{_minute(at)}"
    async with redis.pipeline(transaction=False) as pipe:
        pipe.incr(key)
        pipe.expire(key, FAILURES_KEPT_SECONDS)
        await pipe.execute()


async def credential_failures(redis: RedisClient, now: datetime, minutes: int) -> int:
    """Refused credentials in the ``minutes`` up to ``now`` (whole minutes)."""
    last = _minute(now)
    values = await redis.mget([f"{FAILURES_KEY}{m}" for m in range(last - minutes + 1, last + 1)])
    return sum(int(v) for v in values if v is not None)


@dataclass(frozen=True)
class Alert:
    kind: str  # the event type
    subject: str
    window_key: str
    details: dict[str, Any]


# The alert's row and its event in one statement: the event only when the row is new.
_FIRE = text(
    """
    WITH fired AS (
        INSERT INTO analytics_alerts (kind, subject, window_key, details, fired_at)
        VALUES (:kind, :subject, :window_key, CAST(:details AS jsonb), :now)
        ON CONFLICT (kind, subject, window_key) DO NOTHING
        RETURNING id, kind, subject, details, fired_at
    )
    INSERT INTO events (member_id, topic, type, payload)
    SELECT :programme, :topic, kind, jsonb_build_object('alert_id', id, 'subject', subject,
                                            'fired_at', fired_at) || details
    FROM fired
    RETURNING id
    """
)

_SURGES = text(
    """
    WITH recent AS (
        SELECT item_id, sum(quantity) AS units FROM mall_orders
        WHERE created_at > :window_start AND created_at <= :now GROUP BY item_id
    ),
    baseline AS (
        SELECT item_id, sum(quantity) AS units FROM mall_orders
        WHERE created_at > :baseline_start AND created_at <= :window_start
          AND item_id IN (SELECT item_id FROM recent)
        GROUP BY item_id
    )
    SELECT i.code, i.name, r.units AS units,
           coalesce(b.units, 0) / CAST(:windows AS numeric) AS baseline
    FROM recent r JOIN mall_items i ON i.id = r.item_id
    LEFT JOIN baseline b ON b.item_id = r.item_id
    WHERE r.units >= :minimum
      AND r.units >= CAST(:factor AS numeric) * coalesce(b.units, 0) / CAST(:windows AS numeric)
    ORDER BY i.code
    """
)

_OVER_EARNERS = text(
    f"""
    WITH earned AS (
        SELECT a.member_id, a.earned, coalesce(t.tier_code, '') AS tier
        FROM ({ACTIVITY_BY_MEMBER_SQL}) a
        LEFT JOIN member_tiers t ON t.member_id = a.member_id
        WHERE a.earned > 0
    ),
    peers AS (
        SELECT tier, percentile_cont(0.5) WITHIN GROUP (ORDER BY earned) AS median,
               count(*) AS earners
        FROM earned GROUP BY tier
    )
    SELECT e.member_id, e.earned, e.tier, p.median, p.earners
    FROM earned e JOIN peers p ON p.tier = e.tier
    WHERE p.earners >= :min_peers AND e.earned >= :minimum
      AND e.earned >= CAST(:factor AS float8) * p.median
    ORDER BY e.member_id
    """
)

_BUDGETS = text(
    """
    SELECT 'rule:' || r.id AS subject, r.name, (r.spec ->> 'budget')::bigint AS budget,
           b.used AS used
    FROM earning_rules r JOIN earning_budgets b ON b.rule_id = r.id
    WHERE jsonb_typeof(r.spec -> 'budget') = 'number'
      AND b.used >= CAST(:share AS numeric) * (r.spec ->> 'budget')::bigint
    UNION ALL
    SELECT 'segment-campaign:' || code, reason, budget, granted_points
    FROM segment_campaigns WHERE granted_points >= CAST(:share AS numeric) * budget
    ORDER BY 1
    """
)


def _hour(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H")


async def detect(
    conn: AsyncConnection, settings: Settings, now: datetime, failures: int
) -> list[Alert]:
    """Everything that is anomalous as of ``now`` (``failures``: refused credentials in the
    window, from Redis)."""
    window = timedelta(minutes=settings.alert_window_minutes)
    baseline = timedelta(days=settings.alert_baseline_days)
    found: list[Alert] = []
    surges = await conn.execute(
        _SURGES,
        {
            "now": now,
            "window_start": now - window,
            "baseline_start": now - window - baseline,
            "windows": baseline / window,
            "minimum": settings.alert_redemption_surge_min,
            "factor": settings.alert_redemption_surge_factor,
        },
    )
    for r in surges:
        found.append(
            Alert(
                REDEMPTION_SURGE,
                f"item:{r.code}",
                _hour(now),
                {
                    "item_code": r.code,
                    "item_name": r.name,
                    "units": int(r.units),
                    "baseline_units": str(round(r.baseline, 2)),
                    "window_minutes": settings.alert_window_minutes,
                },
            )
        )
    earners = await conn.execute(
        _OVER_EARNERS,
        {
            "since": now - timedelta(hours=EARNING_HOURS),
            "until": now,
            "min_peers": settings.alert_earning_min_peers,
            "minimum": settings.alert_earning_min_points,
            "factor": settings.alert_earning_factor,
        },
    )
    day = business_date(now, settings.timezone).isoformat()
    for r in earners:
        found.append(
            Alert(
                MEMBER_OVER_EARNING,
                f"member:{r.member_id}",
                day,
                {
                    "member_id": int(r.member_id),
                    "earned": int(r.earned),
                    "tier": r.tier or None,
                    "tier_median": str(round(r.median, 2)),
                    "tier_earners": int(r.earners),
                    "hours": EARNING_HOURS,
                },
            )
        )
    if failures >= settings.alert_credential_failures:
        found.append(
            Alert(
                CREDENTIAL_FAILURES,
                "programme",
                _hour(now),
                {"failures": failures, "window_minutes": settings.alert_window_minutes},
            )
        )
    for r in await conn.execute(_BUDGETS, {"share": settings.alert_budget_share}):
        found.append(
            Alert(
                BUDGET_NEARLY_SPENT,
                r.subject,
                f"budget:{r.budget}",  # raising the budget may alert again
                {"name": r.name, "budget": int(r.budget), "used": int(r.used)},
            )
        )
    return found


async def fire(conn: AsyncConnection, alerts: list[Alert], now: datetime) -> int:
    """Record and announce the alerts not fired before; how many were new."""
    new = 0
    for alert in alerts:
        done = await conn.execute(
            _FIRE,
            {
                "kind": alert.kind,
                "subject": alert.subject,
                "window_key": alert.window_key,
                "details": json.dumps(alert.details),
                "now": now,
                "topic": TOPIC,
                "programme": PROGRAMME,
            },
        )
        new += len(done.all())
    return new


async def check_anomalies(rt: Runtime) -> Mapping[str, Any]:
    """The ``anomaly-alerts`` job: detect, then fire what is new."""
    now = rt.clock.now()
    failures = await credential_failures(rt.redis, now, rt.settings.alert_window_minutes)
    async with unit_of_work(rt.engine) as conn:
        found = await detect(conn, rt.settings, now, failures)
        fired = await fire(conn, found, now)
    return {"anomalies": len(found), "fired": fired}


MAX_LISTED = 100


class AlertStatus(StrEnum):
    OPEN = "open"  # nobody said it was looked into
    ACKNOWLEDGED = "acknowledged"


@dataclass(frozen=True)
class FiredAlert:
    """An alert as staff list it: open until a staff member acknowledges it."""

    id: int
    kind: str
    subject: str
    details: dict[str, Any]
    fired_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledge_note: str | None

    @property
    def status(self) -> AlertStatus:
        return AlertStatus.OPEN if self.acknowledged_at is None else AlertStatus.ACKNOWLEDGED


def _fired(row: Row[Any]) -> FiredAlert:
    return FiredAlert(**{k: v for k, v in row._asdict().items() if k != "window_key"})


async def list_alerts(
    rt: Runtime,
    *,
    kind: str | None = None,
    status: AlertStatus | None = None,
    before: int | None = None,
    first: int = 50,
) -> list[FiredAlert]:
    """The alerts fired, newest first: of one kind, open or acknowledged, older than the alert
    ``before`` (the next page), at most ``first``."""
    if not 1 <= first <= MAX_LISTED:
        raise invalid(f"first must be 1 to {MAX_LISTED}", "first")
    if kind is not None and kind not in ALERT_EVENTS:
        raise invalid(f"unknown alert kind {kind[:40]!r}", "kind")
    query = select(analytics_alerts).order_by(analytics_alerts.c.id.desc()).limit(first)
    if kind is not None:
        query = query.where(analytics_alerts.c.kind == kind)
    if status is not None:
        ack = analytics_alerts.c.acknowledged_at
        query = query.where(ack.is_(None) if status is AlertStatus.OPEN else ack.is_not(None))
    if before is not None:
        query = query.where(analytics_alerts.c.id < before)
    async with rt.read() as conn:
        return [_fired(row) for row in await conn.execute(query)]


async def acknowledge_alert(
    rt: Runtime, actor: Actor, alert_id: int, note: str | None = None
) -> FiredAlert:
    """Mark the alert as looked into; acknowledging it again answers with the first
    acknowledgement (who and when stay)."""
    if note is not None and len(note) > 500:
        raise invalid("a note is at most 500 characters", "note")
    table = analytics_alerts
    async with unit_of_work(rt.engine) as conn:
        await conn.execute(
            update(table)
            .where(table.c.id == alert_id, table.c.acknowledged_at.is_(None))
            .values(
                acknowledged_at=rt.clock.now(),
                acknowledged_by=actor.principal,
                acknowledge_note=note,
            )
        )
        row = (await conn.execute(select(table).where(table.c.id == alert_id))).one_or_none()
    if row is None:
        raise not_found("alert", alert_id, "id")
    return _fired(row)
