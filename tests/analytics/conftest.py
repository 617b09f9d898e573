"""Helpers for analytics tests: a from-scratch oracle over the ledger, written independently of
app.analytics (no shared SQL): business days by formatting the local time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import text

from app.runtime import Runtime

TZ = "Asia/Shanghai"

_ORACLE = text(
    """
    WITH e AS (
        SELECT e.*, to_char(e.created_at AT TIME ZONE :tz, 'YYYY-MM-DD') AS local_day,
               o.amount AS reversed_amount_sign
        FROM entries e LEFT JOIN entries o ON o.id = e.reverses_entry_id
    )
    SELECT
      coalesce(sum(amount) FILTER (WHERE local_day BETWEEN :start AND :end
          AND (kind IN ('earn', 'exchange_in') OR (kind = 'adjustment' AND amount > 0))), 0)
          AS issued,
      coalesce(-sum(amount) FILTER (WHERE local_day BETWEEN :start AND :end
          AND kind IN ('spend', 'exchange_out')), 0) AS redeemed,
      coalesce(-sum(amount) FILTER (WHERE local_day BETWEEN :start AND :end
          AND kind = 'expiry'), 0) AS expired,
      coalesce(-sum(amount) FILTER (WHERE local_day BETWEEN :start AND :end
          AND kind = 'reversal' AND reversed_amount_sign > 0), 0) AS clawed_back,
      coalesce(sum(amount) FILTER (WHERE local_day BETWEEN :start AND :end
          AND kind = 'reversal' AND reversed_amount_sign < 0), 0) AS returned,
      coalesce(sum(amount) FILTER (WHERE local_day <= :end), 0) AS outstanding,
      (SELECT count(*) FROM members
       WHERE to_char(created_at AT TIME ZONE :tz, 'YYYY-MM-DD') <= :end) AS members,
      (SELECT count(*) FROM (
          SELECT member_id FROM e WHERE local_day BETWEEN :start AND :end
            AND kind IN ('earn', 'spend', 'gift_sent', 'exchange_in', 'exchange_out')
          UNION
          SELECT member_id FROM sign_ins
          WHERE NOT made_up AND to_char(day, 'YYYY-MM-DD') BETWEEN :start AND :end
      ) AS a) AS active
    FROM e
    """
)


@dataclass(frozen=True)
class Truth:
    issued: int
    redeemed: int
    expired: int
    clawed_back: int
    returned: int
    outstanding: int
    members: int
    active: int


async def oracle(rt: Runtime, start: date, end: date) -> Truth:
    async with rt.engine.connect() as conn:
        row = (
            await conn.execute(
                _ORACLE, {"tz": TZ, "start": start.isoformat(), "end": end.isoformat()}
            )
        ).one()
    return Truth(*(int(v) for v in row))


# Member sales from scratch: purchases of the business days less what was refunded on them,
# the member's channel being its first reference's.
_SALES_ORACLE = text(
    """
    SELECT coalesce(sum(p.amount - p.refunded_amount), 0) FROM purchases p
    WHERE to_char(p.created_at AT TIME ZONE :tz, 'YYYY-MM-DD') BETWEEN :start AND :end
      AND (CAST(:channel AS text) IS NULL OR :channel = (
          SELECT r.channel FROM member_channel_refs r WHERE r.member_id = p.member_id
          ORDER BY r.created_at, r.channel LIMIT 1))
    """
)


async def sales_oracle(rt: Runtime, start: date, end: date, channel: str | None = None) -> Decimal:
    async with rt.engine.connect() as conn:
        found = await conn.scalar(
            _SALES_ORACLE,
            {"tz": TZ, "start": start.isoformat(), "end": end.isoformat(), "channel": channel},
        )
    return Decimal(found)
