"""What the ledger's events carry (docs/EVENTS.md): plain JSON values of its models."""

from __future__ import annotations

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
    }


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
