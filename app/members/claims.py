"""Keys from outside (an order id a shop sends, a partner's reference, a channel's member ref),
claimed across members in ``outside_keys``.

Each such key is unique across members on purpose: an order earns for one member only, and a
replay naming another member is refused or replayed, never paid twice. A member table can only
keep a key unique among its own member's rows once it is distributed (docs/SCALING.md, "Keys
from outside"), so the claim lives in a table of its own, distributed by the key, written in
the same transaction as the member's row: ``INSERT … ON CONFLICT DO NOTHING``, and the row is
written only when the claim was new. A claim is never released (the rows naming these keys are
never deleted), so a key once claimed stays its first member's.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from sqlalchemy import ClauseElement, FromClause, Table, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.sql.dml import Insert, ReturningInsert

from app.members.tables import outside_keys


class Kind(StrEnum):
    """What a key names, and so which member table its row is in (:data:`CLAIMED`)."""

    PURCHASE = "purchase"
    REFUND = "refund"
    EVENT = "event"
    CHECKOUT = "checkout"
    EXCHANGE = "exchange"
    INVITE = "invite"
    PAYMENT = "payment"
    TICKET = "ticket"
    CHANNEL_REF = "channel_ref"


# kind -> the member table naming its keys, its scope column (None: a key of its own, scope
# '') and its key column
CLAIMED: dict[Kind, tuple[str, str | None, str]] = {
    Kind.PURCHASE: ("purchases", "channel", "order_id"),
    Kind.REFUND: ("refunds", "channel", "refund_id"),
    Kind.EVENT: ("earning_events", "channel", "event_id"),
    Kind.CHECKOUT: ("checkout_payments", "channel", "order_ref"),
    Kind.EXCHANGE: ("exchanges", "partner_id", "partner_ref"),
    Kind.INVITE: ("engagement_profiles", None, "invite_code"),
    Kind.PAYMENT: ("mall_orders", None, "payment_ref"),
    Kind.TICKET: ("lottery_tickets", None, "source_ref"),
    Kind.CHANNEL_REF: ("member_channel_refs", "channel", "external_ref"),
}


def claiming(
    kind: Kind, scope: Any, ref: Any, member_id: Any, *, only_with: FromClause | None = None
) -> ReturningInsert[Any]:
    """The claim, returning the member when it is new (nothing when the key was claimed
    before, by anyone; a concurrent claim waits for the first to end). With ``only_with`` (a
    CTE of one row or none), nothing is claimed when it has no row: the row the claim is for
    will not be written either (a ticket in a pool that does not exist)."""
    claim = insert(outside_keys)
    if only_with is None:
        claim = claim.values(kind=kind.value, scope=scope, ref=ref, member_id=member_id)
    else:
        values = [literal(kind.value), literal(scope), ref, member_id]
        columns = ["kind", "scope", "ref", "member_id"]
        claim = claim.from_select(columns, select(*values).select_from(only_with))
    return claim.on_conflict_do_nothing().returning(outside_keys.c.member_id)


def _scope(kind: Kind, values: Mapping[str, Any]) -> Any:
    scope = CLAIMED[kind][1]
    if scope is None:
        return ""
    value = values[scope]
    return value if isinstance(value, ClauseElement) else str(value)  # a partner's id: text


def insert_claimed(table: Table, values: Mapping[str, Any], kind: Kind) -> Insert:
    """``INSERT INTO table`` of ``values`` (a value or an SQL expression per column) only when
    the kind's key in them is claimed by the same statement (a CTE: no round trip added). It
    inserts nothing when the key was claimed before: the caller refuses, as a unique key
    across members would have."""
    ref = CLAIMED[kind][2]
    claimed = claiming(kind, _scope(kind, values), values[ref], values["member_id"]).cte("claimed")
    row: list[Any] = [
        value if isinstance(value, ClauseElement) else literal(value, table.c[name].type)
        for name, value in values.items()
    ]
    return table.insert().from_select(list(values), select(*row).where(select(claimed).exists()))


def _unclaimed(kind: Kind) -> str:
    """The kind's rows whose key is not claimed by their member, and its claims naming no row."""
    table, scope, ref = CLAIMED[kind]
    scoped = f"r.{scope}::text" if scope else "''"
    return f"""
        SELECT '{kind.value}' AS kind, {scoped} AS scope, r.{ref}::text AS ref,
               r.member_id, k.member_id AS claimed_by
        FROM {table} r
        LEFT JOIN outside_keys k
               ON k.kind = '{kind.value}' AND k.scope = {scoped} AND k.ref = r.{ref}
        WHERE r.{ref} IS NOT NULL AND k.member_id IS DISTINCT FROM r.member_id
        UNION ALL
        SELECT k.kind, k.scope, k.ref, NULL, k.member_id
        FROM outside_keys k
        WHERE k.kind = '{kind.value}' AND NOT EXISTS (
            SELECT 1 FROM {table} r
            WHERE {scoped} = k.scope AND r.{ref} = k.ref AND r.member_id = k.member_id)
    """


CLAIM_CHECKS: dict[str, str] = {
    "each key from outside is claimed by the one member whose row names it": " UNION ALL ".join(
        _unclaimed(kind) for kind in CLAIMED
    )
}
