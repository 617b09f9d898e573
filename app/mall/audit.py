"""The mall's invariants, added to `jifen audit` (see app/ledger/audit.py)."""

from __future__ import annotations

from app.ledger.queries import ENTRIES, HOLDS, PROGRAMME_BALANCES, PROGRAMME_TRANSFERS

MALL_CHECKS: dict[str, str] = {
    "an item's stock is what is left plus what open and done orders took": """
        SELECT i.id AS item_id, i.stock_total, i.stock_left,
               COALESCE(sum(o.quantity), 0) AS ordered
        FROM mall_items i
        LEFT JOIN mall_orders o
               ON o.item_id = i.id AND o.status IN ('placed', 'confirmed', 'fulfilled')
        WHERE i.stock_total IS NOT NULL AND i.coupon_source IS DISTINCT FROM 'pool'
        GROUP BY i.id
        HAVING i.stock_total <> i.stock_left + COALESCE(sum(o.quantity), 0)
    """,
    "a code pool's stock is its free codes less what placed orders reserved": """
        SELECT i.id AS item_id, i.stock_left,
               (SELECT count(*) FROM mall_coupon_codes c
                 WHERE c.item_id = i.id AND c.status = 'free') AS free_codes,
               (SELECT COALESCE(sum(o.quantity), 0) FROM mall_orders o
                 WHERE o.item_id = i.id AND o.status = 'placed') AS reserved
        FROM mall_items i
        WHERE i.coupon_source = 'pool'
          AND i.stock_left <> (SELECT count(*) FROM mall_coupon_codes c
                                WHERE c.item_id = i.id AND c.status = 'free')
                             - (SELECT COALESCE(sum(o.quantity), 0) FROM mall_orders o
                                 WHERE o.item_id = i.id AND o.status = 'placed')
    """,
    # No foreign key holds it (migration 0044: orders are distributed, codes are not).
    "an issued code names an order of its item and member": """
        SELECT c.id AS code_id, c.item_id, c.member_id, c.order_id,
               o.item_id AS order_item_id, o.member_id AS order_member_id
        FROM mall_coupon_codes c LEFT JOIN mall_orders o ON o.id = c.order_id
        WHERE c.order_id IS NOT NULL
          AND (o.id IS NULL OR o.item_id <> c.item_id
               OR o.member_id IS DISTINCT FROM c.member_id)
    """,
    "an order's hold is its points, and its state follows the order's": f"""
        SELECT o.id AS order_id, o.status, o.points, h.amount, h.status AS hold_status
        FROM mall_orders o JOIN {HOLDS} h ON h.id = o.hold_id
        WHERE h.amount <> o.points
           OR (o.status = 'placed' AND h.status = 'committed')
           OR (o.status IN ('confirmed', 'fulfilled', 'returned')
               AND (h.status <> 'committed' OR h.commit_entry_id IS DISTINCT FROM
                    o.commit_entry_id))
           OR (o.status IN ('cancelled', 'expired') AND h.status <> 'voided')
    """,
    "a returned order's spend is reversed in full": f"""
        SELECT o.id AS order_id, e.amount, e.reversed_amount
        FROM mall_orders o JOIN {ENTRIES} e ON e.id = o.commit_entry_id
        WHERE o.status = 'returned' AND e.reversed_amount <> abs(e.amount)
    """,
    "a prize's stock is what is left plus the draws that won it": """
        SELECT p.id AS prize_id, p.stock_total, p.stock_left, count(d.id) AS won
        FROM lottery_prizes p LEFT JOIN lottery_draws d ON d.prize_id = p.id
        WHERE p.stock_total IS NOT NULL
        GROUP BY p.id
        HAVING p.stock_total <> p.stock_left + count(d.id)
    """,
    "a draw paid its cost with one spend or one ticket": f"""
        SELECT d.id AS draw_id, d.cost_points, e.amount
        FROM lottery_draws d LEFT JOIN {ENTRIES} e ON e.id = d.spend_entry_id
        WHERE (d.ticket_id IS NULL AND d.cost_points > 0 AND
               (e.id IS NULL OR e.amount <> -d.cost_points))
           OR (d.ticket_id IS NOT NULL AND (d.cost_points <> 0 OR d.spend_entry_id IS NOT NULL))
    """,
    # Matching from the points bank is a programme transfer, with no member (its own check in
    # app/lifecycle/audit.py names every one).
    "a charity's account holds exactly its donations and its matching": f"""
        SELECT c.id AS charity_id, b.balance AS posted,
               COALESCE((SELECT sum(points) FROM donations d WHERE d.charity_id = c.id), 0)
                   AS donated
        FROM charities c JOIN {PROGRAMME_BALANCES} b ON b.account_id = c.account_id
        WHERE b.balance
           <> COALESCE((SELECT sum(points) FROM donations d WHERE d.charity_id = c.id), 0)
            + COALESCE((SELECT sum(t.amount) FROM {PROGRAMME_TRANSFERS} t
                        WHERE t.credit_account_id = c.account_id), 0)
    """,
    "a checkout payment's hold follows the payment": f"""
        SELECT p.id AS payment_id, p.status, p.points, h.amount, h.status AS hold_status
        FROM checkout_payments p JOIN {HOLDS} h ON h.id = p.hold_id
        WHERE h.amount <> p.points
           OR (p.status = 'held' AND h.status = 'committed')
           OR (p.status = 'committed' AND h.status <> 'committed')
           OR (p.status = 'voided' AND h.status <> 'voided')
    """,
    # Domain state against the ledger (issue 12): each record's entries are its member's, of its
    # amount, and stand (not reversed) while the record says the points are spent or given.
    "a done order's spend is its points and stands": f"""
        SELECT o.id AS order_id, o.status, o.member_id, o.points,
               e.id AS entry_id, e.member_id AS entry_member_id, e.amount, e.reversed_amount
        FROM mall_orders o LEFT JOIN {ENTRIES} e ON e.id = o.commit_entry_id
        WHERE o.status IN ('confirmed', 'fulfilled') AND o.points > 0
          AND (e.id IS NULL OR e.member_id <> o.member_id OR e.amount <> -o.points
               OR e.reversed_amount <> 0)
    """,
    "a returned order's return entry reverses its spend": f"""
        SELECT o.id AS order_id, o.commit_entry_id, r.id AS return_entry_id,
               r.reverses_entry_id, r.member_id AS entry_member_id
        FROM mall_orders o LEFT JOIN {ENTRIES} r ON r.id = o.return_entry_id
        WHERE o.status = 'returned' AND o.points > 0
          AND (r.id IS NULL OR r.reverses_entry_id IS DISTINCT FROM o.commit_entry_id
               OR r.member_id <> o.member_id)
    """,
    "a draw's spend and points prize are its member's and stand": f"""
        SELECT d.id AS draw_id, d.member_id, d.cost_points, p.kind AS prize_kind, p.points,
               s.member_id AS spend_member_id, s.reversed_amount AS spend_reversed,
               g.id AS prize_entry_id, g.member_id AS prize_member_id, g.amount AS prize_amount,
               g.reversed_amount AS prize_reversed
        FROM lottery_draws d
        JOIN lottery_prizes p ON p.id = d.prize_id
        LEFT JOIN {ENTRIES} s ON s.id = d.spend_entry_id
        LEFT JOIN {ENTRIES} g ON g.id = d.prize_entry_id
        WHERE (s.id IS NOT NULL AND (s.member_id <> d.member_id OR s.reversed_amount <> 0))
           OR (p.kind = 'points' AND (g.id IS NULL OR g.member_id <> d.member_id
                                      OR g.amount <> p.points OR g.reversed_amount <> 0))
           OR (p.kind <> 'points' AND g.id IS NOT NULL)
    """,
    "a donation is its member's spend of its points and stands": f"""
        SELECT d.id AS donation_id, d.member_id, d.points,
               e.member_id AS entry_member_id, e.amount, e.reversed_amount
        FROM donations d JOIN {ENTRIES} e ON e.id = d.entry_id
        WHERE e.member_id <> d.member_id OR e.amount <> -d.points OR e.reversed_amount <> 0
    """,
    "a committed checkout payment's spend is its points and stands": f"""
        SELECT p.id AS payment_id, p.member_id, p.points,
               e.id AS entry_id, e.member_id AS entry_member_id, e.amount, e.reversed_amount
        FROM checkout_payments p LEFT JOIN {ENTRIES} e ON e.id = p.entry_id
        WHERE p.status = 'committed'
          AND (e.id IS NULL OR e.member_id <> p.member_id OR e.amount <> -p.points
               OR e.reversed_amount <> 0)
    """,
}
