"""The games' invariants, added to `jifen audit` (see app/ledger/audit.py)."""

from __future__ import annotations

from app.ledger.queries import HOLDS

GAMES_CHECKS: dict[str, str] = {
    "a bid's hold is its member's and of its amount": f"""
        SELECT b.id AS bid_id, b.member_id, b.amount,
               h.member_id AS hold_member_id, h.amount AS hold_amount
        FROM auction_bids b JOIN {HOLDS} h ON h.id = b.hold_id
        WHERE h.member_id <> b.member_id OR h.amount <> b.amount
    """,
    "only an open auction's leading bid holds points; every other bid's hold is voided": f"""
        SELECT b.id AS bid_id, b.auction_id, b.status, h.status AS hold_status,
               a.status AS auction_status, a.leading_bid_id
        FROM auction_bids b
        JOIN auctions a ON a.id = b.auction_id
        JOIN {HOLDS} h ON h.id = b.hold_id
        WHERE (b.status = 'leading' AND (h.status <> 'active' OR a.status <> 'open'
                                         OR a.leading_bid_id <> b.id))
           OR (b.status IN ('outbid', 'lost') AND h.status <> 'voided')
           OR (b.status = 'won' AND h.status <> 'committed')
    """,
    "an auction's leader is its leading bid": """
        SELECT a.id AS auction_id, a.leading_member_id, a.leading_amount,
               b.member_id, b.amount, b.status
        FROM auctions a LEFT JOIN auction_bids b ON b.id = a.leading_bid_id
        WHERE a.leading_bid_id IS NOT NULL
          AND (b.id IS NULL OR b.auction_id <> a.id OR b.member_id <> a.leading_member_id
               OR b.amount <> a.leading_amount
               OR (a.status = 'open' AND b.status <> 'leading')
               OR (a.outcome = 'won' AND b.status <> 'won')
               OR (a.outcome IN ('reserve_not_met', 'out_of_stock', 'winner_inactive')
                   AND b.status <> 'lost'))
    """,
    "a won auction's order is its winner's, paid by the winning hold": """
        SELECT a.id AS auction_id, a.order_id, o.member_id, o.points, o.hold_id, b.hold_id
        FROM auctions a
        LEFT JOIN mall_orders o ON o.id = a.order_id
        LEFT JOIN auction_bids b ON b.id = a.leading_bid_id
        WHERE (a.outcome = 'won'
               AND (o.id IS NULL OR o.member_id <> a.leading_member_id
                    OR o.points <> a.leading_amount OR o.hold_id IS DISTINCT FROM b.hold_id
                    OR o.item_id <> a.item_id))
           OR (a.outcome IS DISTINCT FROM 'won' AND a.order_id IS NOT NULL)
    """,
    "a pledge's hold is its member's and of its amount, and follows the pledge": f"""
        SELECT p.id AS pledge_id, p.member_id, p.amount, p.status,
               h.member_id AS hold_member_id, h.amount AS hold_amount, h.status AS hold_status,
               c.status AS campaign_status
        FROM pledges p
        JOIN campaigns c ON c.id = p.campaign_id
        JOIN {HOLDS} h ON h.id = p.hold_id
        WHERE h.member_id <> p.member_id OR h.amount <> p.amount
           OR (p.status = 'active' AND (h.status <> 'active' OR c.status <> 'open'))
           OR (p.status = 'committed' AND h.status <> 'committed')
           OR (p.status IN ('raised', 'withdrawn', 'released') AND h.status <> 'voided')
    """,
    "a campaign's total and backers are its counted pledges, and its outcome their fate": """
        SELECT c.id AS campaign_id, c.status, c.outcome, c.goal, c.pledged, c.backers,
               COALESCE(sum(p.amount), 0) AS counted, count(p.id) AS counted_backers,
               count(p.id) FILTER (WHERE p.status = 'active') AS active,
               count(p.id) FILTER (WHERE p.status = 'committed') AS committed,
               count(p.id) FILTER (WHERE p.status = 'released') AS released
        FROM campaigns c
        LEFT JOIN pledges p
               ON p.campaign_id = c.id AND p.status IN ('active', 'committed', 'released')
        GROUP BY c.id
        HAVING c.pledged <> COALESCE(sum(p.amount), 0) OR c.backers <> count(p.id)
            OR (c.status = 'open' AND count(p.id) FILTER (WHERE p.status <> 'active') > 0)
            OR (c.outcome = 'reached' AND (c.pledged < c.goal
                OR count(p.id) FILTER (WHERE p.status <> 'committed') > 0))
            OR (c.outcome = 'missed' AND (c.pledged >= c.goal
                OR count(p.id) FILTER (WHERE p.status <> 'released') > 0))
    """,
}
