"""Engagement's invariants, added to `jifen audit` (see app/ledger/audit.py)."""

from __future__ import annotations

# Pointers with no foreign key (migration 0050): under Citus a referral lives with its friend
# and a team is a reference table, so neither may name another shard's member row by a key.
ENGAGEMENT_CHECKS: dict[str, str] = {
    "a referral's referrer is a member": """
        SELECT r.friend_id, r.referrer_id
        FROM referrals r
        WHERE NOT EXISTS (SELECT 1 FROM members m WHERE m.id = r.referrer_id)
    """,
    "a team's captain is one of its members": """
        SELECT t.id AS team_id, t.code, t.captain_id
        FROM teams t
        WHERE NOT EXISTS (SELECT 1 FROM team_members tm
                          WHERE tm.team_id = t.id AND tm.member_id = t.captain_id)
    """,
}
