"""Set-based reads of the ledger for reporting (analytics' rollups, KPIs and exports).

Reporting reads whole ranges of the journal in one statement, so it cannot go through row
functions like those of ``queries.py``. It composes these relations into its own SQL instead:
their columns are what the ledger promises, the tables behind them stay the ledger's to change.
PostgreSQL pulls such a subquery up into the statement that uses it, so a query through them
plans as one written over the tables.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.ledger.models import EntryKind

# Every entry with what a reader needs to classify it; for a reversal, ``reversed_entry_amount``
# is the amount of the entry it reverses (positive: a credit taken back), else NULL.
JOURNAL = """(
    SELECT e.id, e.member_id, e.kind, e.amount, e.balance_after, e.reason, e.source,
           e.reference, e.details, e.reverses_entry_id, e.created_at,
           o.amount AS reversed_entry_amount
    FROM entries e LEFT JOIN entries o ON o.id = e.reverses_entry_id
)"""

# Each member's balance as posted (as of its last write or the expiry sweep: see
# ``queries.balances`` for the balance as of now).
MEMBER_ACCOUNTS = """(
    SELECT member_id, available, pending, held, debt, lifetime_earned, lifetime_spent
    FROM accounts
    WHERE kind = 'member'
)"""

# What a member did itself (not what the system or staff did to it): these kinds of entries.
OWN_ACTIVITY_KINDS = (
    EntryKind.EARN,
    EntryKind.SPEND,
    EntryKind.GIFT_SENT,
    EntryKind.EXCHANGE_IN,
    EntryKind.EXCHANGE_OUT,
)
_OWN_KINDS_SQL = ", ".join(f"'{kind.value}'" for kind in OWN_ACTIVITY_KINDS)

# Per member with activity in (:since, :until], for a caller's set-based statement (a million
# members in one pass): ``last_at`` (its last activity), ``acts`` (how many activities) and
# ``earned`` (points earned, less what was reversed of them).
ACTIVITY_BY_MEMBER_SQL = f"""
    SELECT member_id, max(created_at) AS last_at, count(*) AS acts,
           coalesce(sum(amount - reversed_amount) FILTER (WHERE kind = 'earn'), 0) AS earned
    FROM entries
    WHERE created_at > :since AND created_at <= :until AND kind IN ({_OWN_KINDS_SQL})
    GROUP BY member_id
"""

# The outbox event types that carry a ledger entry (``payload.entry.id``): one event per entry.
ENTRY_EVENT_TYPES = (
    "points.earned",
    "points.spent",
    "hold.committed",
    "points.reversed",
    "points.adjusted",
    "points.exchanged_in",
    "points.exchanged_out",
    "points.gift_sent",
    "points.gift_received",
    "points.expired",
)

# Each entry's part in its member's activity, for a rollup kept per member: an activity of its
# own counts once (``acts``, ``last_at``), at its own time (``at``); an earning adds its points
# (``earned``); a reversal of an earning takes back what it reversed — the points asked, which
# the original's ``reversed_amount`` grew by, written-off shortfall included — at the
# earning's time, so that the points a window holds are its earnings less what was reversed of
# them, whenever reversed (ACTIVITY_BY_MEMBER_SQL's figures, summed entry by entry).
ACTIVITY_JOURNAL = f"""(
    SELECT e.id, e.member_id, e.reverses_entry_id,
           CASE WHEN e.kind = 'reversal' THEN o.created_at ELSE e.created_at END AS at,
           CASE WHEN e.kind = 'reversal' THEN 0 ELSE 1 END AS acts,
           CASE WHEN e.kind = 'earn' THEN e.amount
                WHEN e.kind = 'reversal'
                THEN e.amount - coalesce((e.details ->> 'written_off')::bigint, 0)
                ELSE 0 END AS earned,
           CASE WHEN e.kind = 'reversal' THEN NULL ELSE e.created_at END AS last_at
    FROM entries e LEFT JOIN entries o ON o.id = e.reverses_entry_id
    WHERE e.kind IN ({_OWN_KINDS_SQL}) OR (e.kind = 'reversal' AND o.kind = 'earn')
)"""

# Per member, its activities and net earned points of the entries made in (:after, :until]
# (by the created_at index: a day of entries, not the journal), as ACTIVITY_JOURNAL counts them
# once every event is applied, leaving out the entries with an id in ``{{pending}}`` (a caller's
# subquery: entries whose events a projection has not applied yet; it applies them itself).
# An earning's ``reversed_amount`` holds every reversal committed so far, the pending ones
# too: their points are given back here (unless the earning is pending itself), since the
# projection will take them back when it applies them.
ACTIVITY_BETWEEN_SQL = f"""
    SELECT member_id, sum(acts) AS acts, sum(earned) AS earned FROM (
        SELECT member_id, 1 AS acts,
               CASE WHEN kind = 'earn' THEN amount - reversed_amount ELSE 0 END AS earned
        FROM entries
        WHERE created_at > :after AND created_at <= :until AND kind IN ({_OWN_KINDS_SQL})
          AND id NOT IN ({{pending}})
        UNION ALL
        SELECT j.member_id, 0, -j.earned FROM {ACTIVITY_JOURNAL} j
        WHERE j.id IN ({{pending}}) AND j.reverses_entry_id NOT IN ({{pending}})
          AND j.acts = 0 AND j.at > :after AND j.at <= :until
    ) AS moved
    GROUP BY member_id
"""


_PENDING = text(
    "SELECT coalesce(sum(remaining), 0) FROM lots"
    " WHERE pending AND remaining > 0 AND available_at > :now"
)

_EXPIRING_BY_MONTH = text(
    """
    SELECT date_trunc('month', expires_at AT TIME ZONE :tz)::date AS month,
           sum(remaining) AS points
    FROM lots
    WHERE remaining > 0 AND expires_at IS NOT NULL AND expires_at > :now
      AND expires_at < :until
    GROUP BY 1
    """
)


async def pending_points(conn: AsyncConnection, now: datetime) -> int:
    """Points earned and still inside their return window at ``now``, over every member."""
    return int(await conn.scalar(_PENDING, {"now": now}) or 0)


async def expiring_by_month(
    conn: AsyncConnection, *, now: datetime, until: datetime, timezone: str
) -> dict[date, int]:
    """Points of open lots that expire after ``now`` and before ``until``, by the first day of
    their business-local month (in ``timezone``); months with none are absent."""
    rows = await conn.execute(_EXPIRING_BY_MONTH, {"tz": timezone, "now": now, "until": until})
    return {row.month: int(row.points) for row in rows}
