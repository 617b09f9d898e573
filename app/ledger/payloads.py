"""What the ledger's events carry (docs/EVENTS.md): plain JSON values of its models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.ledger.models import Balance, Entry, Hold


def balance_payload(balance: Balance) -> dict[str, int]:
    return {
        "available": balance.available,
        "pending": balance.pending,
        "held": balance.held,
        "debt": balance.debt,
        "total": balance.total,
    }


def entry_payload(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "kind": entry.kind.value,
        "amount": entry.amount,
        "balance_after": entry.balance_after,
        "reason": entry.reason,
        "source": entry.source,
        "reference": entry.reference,
        "reverses_entry_id": entry.reverses_entry_id,
        "created_at": entry.created_at.isoformat(),
    }  # shaped in SQL too: entry_payload_sql


def entry_payload_sql(row: str) -> str:
    """:func:`entry_payload` as a SQL ``jsonb`` expression over an entries row ``row`` (a
    statement's alias), for events shaped where the entries are written (the expiry sweep's
    ``points.expired``, one statement a batch). JSONB keeps no key order, so the stored event is
    the same value whichever side shaped it. ``created_at`` is not read from the row: the
    statement passes ``:created_at_text``, the entries' one instant formatted by
    :func:`entry_created_at` (PostgreSQL's own text form of a timestamp drops trailing zeros of
    its fraction, ``isoformat`` does not)."""
    return f"""jsonb_build_object(
        'id', {row}.id, 'kind', {row}.kind, 'amount', {row}.amount,
        'balance_after', {row}.balance_after, 'reason', {row}.reason, 'source', {row}.source,
        'reference', {row}.reference, 'reverses_entry_id', {row}.reverses_entry_id,
        'created_at', CAST(:created_at_text AS text))"""


def entry_created_at(at: datetime) -> str:
    """An entry's ``created_at`` in its payload, as :func:`entry_payload` writes the one read
    back from the database (in UTC)."""
    return at.astimezone(UTC).isoformat()


def hold_payload(hold: Hold) -> dict[str, Any]:
    return {
        "id": hold.id,
        "amount": hold.amount,
        "status": hold.status.value,
        "reference": hold.reference,
        "expires_at": hold.expires_at.isoformat(),
    }


def posting_payload(
    member_id: int,
    balance: Balance,
    *,
    entry: Entry | None = None,
    hold: Hold | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A write's event: the member, its balance after the write, the entry and/or the hold."""
    payload: dict[str, Any] = {
        "member_id": member_id,
        "balance": balance_payload(balance),
        **(extra or {}),
    }
    if entry is not None:
        payload["entry"] = entry_payload(entry)
    if hold is not None:
        payload["hold"] = hold_payload(hold)
    return payload
