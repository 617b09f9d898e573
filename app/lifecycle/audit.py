"""Gifts, exchanges and the points bank against the ledger, added to `jifen audit` (see
app/ledger/audit.py).

None is reversible (docs/DECISIONS.md, docs/BANK.md), so each entry of one must stand as it was
written; the bank's pool must be exactly what expired into it less what staff spent of it.
"""

from __future__ import annotations

from app.ledger.queries import ENTRIES, PROGRAMME_TRANSFERS, account_transfers

# Read by the accounts' indexes: the bank's share of a programme's transfers, not all of them.
BANK_TRANSFERS = account_transfers("bank")

LIFECYCLE_CHECKS: dict[str, str] = {
    # The recipient's side has no foreign key (migration 0050: it lives on another member's
    # shard under Citus): its entry must exist and be the recipient's, which also makes the
    # recipient a member.
    "a gift is its sender's debit and its recipient's credit of its amount, both standing": f"""
        SELECT g.id AS gift_id, g.from_member_id, g.to_member_id, g.amount,
               s.member_id AS sent_member_id, s.amount AS sent, s.reversed_amount AS sent_reversed,
               r.member_id AS received_member_id, r.amount AS received,
               r.reversed_amount AS received_reversed
        FROM gifts g
        JOIN {ENTRIES} s ON s.id = g.sent_entry_id
        LEFT JOIN {ENTRIES} r ON r.id = g.received_entry_id
        WHERE s.member_id <> g.from_member_id OR s.amount <> -g.amount OR s.reversed_amount <> 0
           OR r.id IS NULL
           OR r.member_id <> g.to_member_id OR r.amount <> g.amount OR r.reversed_amount <> 0
    """,
    "an exchange is its member's entry of its points and stands": f"""
        SELECT x.id AS exchange_id, x.direction, x.member_id, x.points,
               e.member_id AS entry_member_id, e.amount, e.reversed_amount
        FROM exchanges x JOIN {ENTRIES} e ON e.id = x.entry_id
        WHERE e.member_id <> x.member_id OR e.reversed_amount <> 0
           OR e.amount <> CASE x.direction WHEN 'in' THEN x.points ELSE -x.points END
    """,
    "the bank's pool is what expired into it less what was spent of it": f"""
        SELECT pool, expired_in, spent FROM (
            SELECT
                (SELECT COALESCE(sum(CASE WHEN t.credited THEN t.amount ELSE -t.amount END), 0)
                 FROM {BANK_TRANSFERS} t) AS pool,
                (SELECT COALESCE(sum(t.amount), 0)
                 FROM {BANK_TRANSFERS} t JOIN {ENTRIES} e ON e.id = t.entry_id
                 WHERE t.credited AND e.kind = 'expiry') AS expired_in,
                (SELECT COALESCE(sum(points), 0) FROM bank_spends)
                + (SELECT COALESCE(sum(points), 0) FROM bank_matches) AS spent
        ) x
        WHERE pool <> expired_in - spent OR pool < 0
    """,
    # A member's transfer has its entry, a programme transfer none (their ids are two series).
    "only expiries credit the bank, and only its spends debit it": f"""
        SELECT t.id AS transfer_id, t.entry_id, t.amount, e.kind
        FROM {BANK_TRANSFERS} t LEFT JOIN {ENTRIES} e ON e.id = t.entry_id
        WHERE (t.credited AND e.kind IS DISTINCT FROM 'expiry')
           OR (t.debited AND t.entry_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM bank_spends s WHERE s.transfer_id = t.id))
           OR (t.debited AND t.entry_id IS NULL
               AND NOT EXISTS (SELECT 1 FROM bank_matches s
                               WHERE s.programme_transfer_id = t.id))
    """,
    "a programme transfer is a bank's charity matching": f"""
        SELECT t.id AS programme_transfer_id, t.amount, t.debit_code, t.credit_code
        FROM {PROGRAMME_TRANSFERS} t
        WHERE NOT EXISTS (
            SELECT 1 FROM bank_matches s
            WHERE s.programme_transfer_id = t.id AND s.points = t.amount
              AND t.debit_code = 'bank' AND t.credit_code = 'charity:' || s.charity_code)
    """,
    "a bank prize is its member's earn of its points from the bank, standing": f"""
        SELECT s.id AS spend_id, s.member_id, s.points, e.member_id AS entry_member_id,
               e.amount, e.reversed_amount, t.id AS transfer_id
        FROM bank_spends s JOIN {ENTRIES} e ON e.id = s.entry_id
        LEFT JOIN {BANK_TRANSFERS} t ON t.id = s.transfer_id AND t.entry_id = e.id AND t.debited
        WHERE e.member_id <> s.member_id OR e.amount <> s.points
              OR e.reversed_amount <> 0 OR t.id IS NULL
    """,
    "a move to the bank's choices is its member's spend of its points, standing": f"""
        SELECT m.id AS move_id, m.kind, m.member_id, m.points, m.tickets,
               e.member_id AS entry_member_id, e.amount, e.reversed_amount
        FROM bank_moves m JOIN {ENTRIES} e ON e.id = m.entry_id
        WHERE e.member_id <> m.member_id OR e.amount <> -m.points OR e.reversed_amount <> 0
           OR m.tickets <> (SELECT count(*) FROM lottery_tickets lt
                            WHERE lt.source_ref LIKE 'bank-move:' || m.id || ':%')
    """,
}
