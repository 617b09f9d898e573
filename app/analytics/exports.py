"""Exports as CSV, streamed: rows come from a server-side cursor a chunk at a time and leave as
text a chunk at a time, so memory stays the same whatever the number of rows."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import text

from app.analytics.flows import FLOW_SQL
from app.analytics.kpis import day_end
from app.analytics.policy import check_period
from app.clock import business_midnight
from app.ledger.reporting import JOURNAL, MEMBER_ACCOUNTS
from app.runtime import Runtime

ROWS_PER_CHUNK = 2_000
# A spreadsheet runs a cell that starts with one of these as a formula: such text is quoted.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

BALANCE_COLUMNS = (
    "member_id",
    "channel",
    "status",
    "available",
    "pending",
    "held",
    "debt",
    "total",
    "lifetime_earned",
    "lifetime_spent",
)
_BALANCES = text(
    f"""
    SELECT a.member_id, coalesce(am.channel, '') AS channel, m.status, a.available, a.pending,
           a.held, a.debt, a.available + a.pending + a.held - a.debt AS total,
           a.lifetime_earned, a.lifetime_spent
    FROM {MEMBER_ACCOUNTS} a
    JOIN members m ON m.id = a.member_id
    LEFT JOIN analytics_members am ON am.member_id = a.member_id
    ORDER BY a.member_id
    """
)

TRANSACTION_COLUMNS = (
    "entry_id",
    "created_at",
    "business_day",
    "member_id",
    "kind",
    "flow",
    "amount",
    "balance_after",
    "reason",
    "source",
    "reference",
    "reverses_entry_id",
)
_TRANSACTIONS = text(
    f"""
    SELECT e.id, e.created_at, (e.created_at AT TIME ZONE :tz)::date AS business_day,
           e.member_id, e.kind, {FLOW_SQL} AS flow, e.amount, e.balance_after, e.reason,
           e.source, coalesce(e.reference, '') AS reference, e.reverses_entry_id
    FROM {JOURNAL} e
    WHERE e.created_at >= :since AND e.created_at < :until
    ORDER BY e.id
    """
)


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def _csv(rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([_cell(v) for v in row] for row in rows)
    return buffer.getvalue()


async def _stream(
    rt: Runtime, header: Sequence[str], query: Any, params: dict[str, Any]
) -> AsyncIterator[str]:
    yield _csv([header])
    async with rt.engine.connect() as conn:
        result = await conn.stream(query, params, execution_options={"yield_per": ROWS_PER_CHUNK})
        async for chunk in result.partitions(ROWS_PER_CHUNK):
            yield _csv(chunk)


def member_balances(rt: Runtime) -> AsyncIterator[str]:
    """Every member's balance as posted (``total`` is exact; the split between available and
    pending is as of the member's last write or the expiry sweep), by member id."""
    return _stream(rt, BALANCE_COLUMNS, _BALANCES, {})


def transactions(rt: Runtime, start: date, end: date) -> AsyncIterator[str]:
    """Every ledger entry of the business days ``[start, end]``, oldest id first, with its
    flow (docs/ANALYTICS.md)."""
    check_period(start, end)
    tz = rt.settings.timezone
    params = {"since": business_midnight(start, tz), "until": day_end(end, tz), "tz": tz}
    return _stream(rt, TRANSACTION_COLUMNS, _TRANSACTIONS, params)
