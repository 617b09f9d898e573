"""Gifts and exchanges against the ledger, added to `jifen audit` (see app/ledger/audit.py).

Neither is reversible (docs/DECISIONS.md), so each entry of one must stand as it was written.
"""

from __future__ import annotations

from app.ledger.queries import ENTRIES

LIFECYCLE_CHECKS: dict[str, str] = {
    "a gift is its sender's debit and its recipient's credit of its amount, both standing": f"""
        SELECT g.id AS gift_id, g.from_member_id, g.to_member_id, g.amount,
               s.member_id AS sent_member_id, s.amount AS sent, s.reversed_amount AS sent_reversed,
               r.member_id AS received_member_id, r.amount AS received,
               r.reversed_amount AS received_reversed
        FROM gifts g
        JOIN {ENTRIES} s ON s.id = g.sent_entry_id
        JOIN {ENTRIES} r ON r.id = g.received_entry_id
        WHERE s.member_id <> g.from_member_id OR s.amount <> -g.amount OR s.reversed_amount <> 0
           OR r.member_id <> g.to_member_id OR r.amount <> g.amount OR r.reversed_amount <> 0
    """,
    "an exchange is its member's entry of its points and stands": f"""
        SELECT x.id AS exchange_id, x.direction, x.member_id, x.points,
               e.member_id AS entry_member_id, e.amount, e.reversed_amount
        FROM exchanges x JOIN {ENTRIES} e ON e.id = x.entry_id
        WHERE e.member_id <> x.member_id OR e.reversed_amount <> 0
           OR e.amount <> CASE x.direction WHEN 'in' THEN x.points ELSE -x.points END
    """,
}
