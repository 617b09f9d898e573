"""The games' invariants, added to `jifen audit` (see app/ledger/audit.py)."""

from __future__ import annotations

from app.ledger.queries import ENTRIES, HOLDS

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
    "a duel's holds are its members', of its stake, and follow the duel": f"""
        SELECT d.id AS duel_id, d.status, d.outcome, d.stake, d.winner_id,
               c.member_id AS c_member, c.amount AS c_amount, c.status AS c_status,
               o.member_id AS o_member, o.amount AS o_amount, o.status AS o_status
        FROM duels d
        LEFT JOIN {HOLDS} c ON c.id = d.challenger_hold_id
        LEFT JOIN {HOLDS} o ON o.id = d.opponent_hold_id
        WHERE (d.stake = 0 AND (d.challenger_hold_id IS NOT NULL
                                OR d.opponent_hold_id IS NOT NULL))
           OR (d.stake > 0 AND (c.id IS NULL OR c.member_id <> d.challenger_id
                                OR c.amount <> d.stake))
           OR (d.stake > 0 AND d.starts_at IS NOT NULL
               AND (o.id IS NULL OR o.member_id <> d.opponent_id OR o.amount <> d.stake))
           OR (d.stake > 0 AND d.starts_at IS NULL AND d.opponent_hold_id IS NOT NULL)
           OR (d.status = 'pending' AND c.status <> 'active')
           OR (d.status = 'open' AND (c.status <> 'active' OR o.status <> 'active'))
           OR (d.outcome IN ('tied', 'declined', 'expired', 'void')
               AND (c.status <> 'voided' OR o.status <> 'voided'))
           OR (d.outcome = 'won' AND d.stake > 0 AND (
                 (d.winner_id = d.challenger_id AND (c.status <> 'voided'
                                                     OR o.status <> 'committed'))
              OR (d.winner_id = d.opponent_id AND (o.status <> 'voided'
                                                   OR c.status <> 'committed'))))
    """,
    # The opponent's side has no foreign key (migration 0050: under Citus a duel lives with its
    # challenger): the opponent is a member, each of its entries exists (the check below
    # compares them once found), and its hold stakes no other duel (its unique key carries
    # the challenger now, so only this checks it across challengers).
    "a duel's opponent is a member, and its entries exist": f"""
        SELECT d.id AS duel_id, d.opponent_id, d.opponent_reward_entry_id
        FROM duels d
        WHERE NOT EXISTS (SELECT 1 FROM members m WHERE m.id = d.opponent_id)
           OR (d.opponent_reward_entry_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM {ENTRIES} e WHERE e.id = d.opponent_reward_entry_id))
    """,
    "a hold stakes one duel": """
        SELECT h.hold_id, count(*) AS duels
        FROM (SELECT challenger_hold_id AS hold_id FROM duels
              UNION ALL SELECT opponent_hold_id FROM duels) h
        WHERE h.hold_id IS NOT NULL
        GROUP BY h.hold_id
        HAVING count(*) > 1
    """,
    "a won duel's winner earned the loser's stake, and each reward is its earn": f"""
        SELECT d.id AS duel_id, d.outcome, d.stake, d.reward_points, d.tie_rule, d.winner_id,
               w.member_id AS w_member, w.amount AS w_amount, w.kind AS w_kind,
               l.amount AS loser_spent,
               rc.member_id AS rc_member, rc.amount AS rc_amount,
               ro.member_id AS ro_member, ro.amount AS ro_amount
        FROM duels d
        LEFT JOIN {ENTRIES} w ON w.id = d.winnings_entry_id
        LEFT JOIN {HOLDS} lh ON lh.status = 'committed'
              AND lh.id IN (d.challenger_hold_id, d.opponent_hold_id)
        LEFT JOIN {ENTRIES} l ON l.id = lh.commit_entry_id
        LEFT JOIN {ENTRIES} rc ON rc.id = d.challenger_reward_entry_id
        LEFT JOIN {ENTRIES} ro ON ro.id = d.opponent_reward_entry_id
        WHERE (d.outcome = 'won' AND d.stake > 0
               AND (w.id IS NULL OR w.member_id <> d.winner_id OR w.kind <> 'earn'
                    OR w.amount <> d.stake OR w.reversed_amount <> 0
                    OR l.id IS NULL OR l.amount <> -d.stake OR l.reversed_amount <> 0))
           OR ((d.outcome IS DISTINCT FROM 'won' OR d.stake = 0)
               AND d.winnings_entry_id IS NOT NULL)
           OR (rc.id IS NOT NULL AND (rc.member_id <> d.challenger_id OR rc.kind <> 'earn'))
           OR (ro.id IS NOT NULL AND (ro.member_id <> d.opponent_id OR ro.kind <> 'earn'))
           OR (d.outcome = 'won' AND d.reward_points > 0 AND COALESCE(
                 CASE WHEN d.winner_id = d.challenger_id THEN rc.amount ELSE ro.amount END, 0)
                 <> d.reward_points)
           OR (d.outcome = 'tied' AND d.tie_rule = 'split' AND d.reward_points / 2 > 0
               AND (COALESCE(rc.amount, 0) <> d.reward_points / 2
                    OR COALESCE(ro.amount, 0) <> d.reward_points / 2))
           OR ((d.outcome IS NULL OR d.outcome NOT IN ('won', 'tied')
                OR (d.outcome = 'tied' AND d.tie_rule = 'refund'))
               AND (rc.id IS NOT NULL OR ro.id IS NOT NULL))
    """,
}
