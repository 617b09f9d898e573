"""The facts rollups are made of, as SQL: one row per ledger entry, registration or sign-in
with its member, business day, flow and points — read either from a range of outbox events
(the projector) or from the tables themselves, leaving out what events above a horizon carry
(the rebuild). Both feed the same two statements, so they cannot count differently."""

from __future__ import annotations

from app.analytics.flows import (
    ACTIVE_KINDS,
    FLOW_SQL,
    MEMBER_REGISTERED,
    NEW_MEMBERS,
    SIGNED_IN,
    SIGNINS,
)
from app.earning.orders import PURCHASE_RECORDED, PURCHASE_REFUNDED
from app.ledger.reporting import ENTRY_EVENT_TYPES, JOURNAL

_ACTIVE_KINDS = ", ".join(f"'{kind}'" for kind in ACTIVE_KINDS)
_ENTRY_TYPES = ", ".join(f"'{t}'" for t in ENTRY_EVENT_TYPES)

# A sign-in's flow names the band of the streak it reached (docs/ANALYTICS.md).
STREAK_BANDS = ((1, "1"), (2, "2-6"), (7, "7-13"), (14, "14-29"), (30, "30+"))
_BAND_SQL = (
    "CASE "
    + " ".join(
        f"WHEN {{streak}} >= {low} THEN '{SIGNINS}:{name}'" for low, name in reversed(STREAK_BANDS)
    )
    + f" ELSE '{SIGNINS}:1' END"
)

_ENTRY_COLUMNS = f"""
    e.member_id, (e.created_at AT TIME ZONE :tz)::date AS day, {FLOW_SQL} AS flow,
    e.amount AS points, e.kind IN ({_ACTIVE_KINDS}) AS active
"""
_IN_RANGE = "ev.id > :lo AND ev.id <= :hi"

# Facts of the events in (lo, hi].
EVENT_FACTS = f"""
    SELECT {_ENTRY_COLUMNS}
    FROM events ev
    JOIN {JOURNAL} e ON e.id = (ev.payload -> 'entry' ->> 'id')::bigint
    WHERE {_IN_RANGE} AND ev.type IN ({_ENTRY_TYPES})
    UNION ALL
    SELECT (ev.payload ->> 'member_id')::bigint, (ev.payload ->> 'day')::date,
           {_BAND_SQL.format(streak="(ev.payload ->> 'streak')::int")},
           (ev.payload ->> 'streak')::bigint, true
    FROM events ev WHERE {_IN_RANGE} AND ev.type = '{SIGNED_IN}'
    UNION ALL
    SELECT m.id, (m.created_at AT TIME ZONE :tz)::date, '{NEW_MEMBERS}', 0, false
    FROM events ev JOIN members m ON m.id = (ev.payload ->> 'member_id')::bigint
    WHERE {_IN_RANGE} AND ev.type = '{MEMBER_REGISTERED}'
"""

# The members registered by the events in (lo, hi], with their channel.
EVENT_MEMBERS = f"""
    SELECT m.id AS member_id, ev.payload ->> 'channel' AS channel,
           (m.created_at AT TIME ZONE :tz)::date AS registered_on
    FROM events ev JOIN members m ON m.id = (ev.payload ->> 'member_id')::bigint
    WHERE {_IN_RANGE} AND ev.type = '{MEMBER_REGISTERED}'
"""

# Everything the events above the horizon :hi carry (the projector's, not the rebuild's).
_ABOVE = "FROM events ev WHERE ev.id > :hi AND ev.type"
_ENTRIES_ABOVE = f"SELECT (ev.payload -> 'entry' ->> 'id')::bigint {_ABOVE} IN ({_ENTRY_TYPES})"
_SIGNINS_ABOVE = (
    "SELECT (ev.payload ->> 'member_id')::bigint, (ev.payload ->> 'day')::date "
    f"{_ABOVE} = '{SIGNED_IN}'"
)
_MEMBERS_ABOVE = f"SELECT (ev.payload ->> 'member_id')::bigint {_ABOVE} = '{MEMBER_REGISTERED}'"

# Facts of the whole ledger up to the horizon :hi.
TABLE_FACTS = f"""
    SELECT {_ENTRY_COLUMNS}
    FROM {JOURNAL} e
    WHERE e.id NOT IN ({_ENTRIES_ABOVE})
    UNION ALL
    SELECT s.member_id, s.day, {_BAND_SQL.format(streak="s.streak")}, s.streak, true
    FROM sign_ins s
    WHERE NOT s.made_up AND (s.member_id, s.day) NOT IN ({_SIGNINS_ABOVE})
    UNION ALL
    SELECT am.member_id, am.registered_on, '{NEW_MEMBERS}', 0, false FROM analytics_members am
"""

# The members registered up to the horizon :hi, with the channel of their first reference.
TABLE_MEMBERS = f"""
    SELECT DISTINCT ON (m.id) m.id AS member_id, coalesce(r.channel, 'unknown') AS channel,
           (m.created_at AT TIME ZONE :tz)::date AS registered_on
    FROM members m LEFT JOIN member_channel_refs r ON r.member_id = m.id
    WHERE m.id NOT IN ({_MEMBERS_ABOVE})
    ORDER BY m.id, r.created_at, r.channel
"""

ADD_MEMBERS = """
    INSERT INTO analytics_members (member_id, channel, registered_on)
    SELECT member_id, channel, registered_on FROM ({members}) AS registered
    ON CONFLICT (member_id) DO NOTHING
"""

ADD_FLOWS = """
    WITH facts AS ({facts})
    INSERT INTO analytics_flows (day, channel, flow, points, facts)
    SELECT f.day, coalesce(am.channel, 'unknown'), f.flow, sum(f.points), count(*)
    FROM facts f LEFT JOIN analytics_members am ON am.member_id = f.member_id
    GROUP BY 1, 2, 3
    ON CONFLICT (day, channel, flow) DO UPDATE
    SET points = analytics_flows.points + excluded.points,
        facts = analytics_flows.facts + excluded.facts
"""

# A member active on a day is active in that day's week and month; only the rows that are new
# add to the bucket's count, so a member counts once per bucket.
ADD_ACTIVITY = """
    WITH facts AS ({facts}),
    acts AS (SELECT DISTINCT member_id, day FROM facts WHERE active),
    buckets AS (
        SELECT 'day' AS grain, day AS bucket, member_id FROM acts
        UNION SELECT 'week', date_trunc('week', day)::date, member_id FROM acts
        UNION SELECT 'month', date_trunc('month', day)::date, member_id FROM acts
    ),
    fresh AS (
        INSERT INTO analytics_active (grain, bucket, member_id)
        SELECT grain, bucket, member_id FROM buckets
        ON CONFLICT DO NOTHING
        RETURNING grain, bucket, member_id
    )
    INSERT INTO analytics_activity (grain, bucket, channel, members)
    SELECT f.grain, f.bucket, coalesce(am.channel, 'unknown'), count(*)
    FROM fresh f LEFT JOIN analytics_members am ON am.member_id = f.member_id
    GROUP BY 1, 2, 3
    ON CONFLICT (grain, bucket, channel) DO UPDATE
    SET members = analytics_activity.members + excluded.members
"""

# Member sales: a purchase adds its amount and a refund takes its own off, both on the
# purchase's business day (docs/ANALYTICS.md, "Member sales"). From the events in (lo, hi]:
EVENT_SALES = f"""
    SELECT p.member_id, (p.created_at AT TIME ZONE :tz)::date AS day, p.amount, 1 AS purchases
    FROM events ev JOIN purchases p ON p.id = (ev.payload ->> 'purchase_id')::bigint
    WHERE {_IN_RANGE} AND ev.type = '{PURCHASE_RECORDED}'
    UNION ALL
    SELECT p.member_id, (p.created_at AT TIME ZONE :tz)::date, -r.amount, 0
    FROM events ev JOIN refunds r ON r.id = (ev.payload ->> 'refund_id')::bigint
    JOIN purchases p ON p.id = r.purchase_id
    WHERE {_IN_RANGE} AND ev.type = '{PURCHASE_REFUNDED}'
"""

# … and from the tables up to the horizon :hi, leaving out what the events above it carry.
_ABOVE_BY = "SELECT (ev.payload ->> '{key}')::bigint FROM events ev WHERE ev.id > :hi AND ev.type"
TABLE_SALES = f"""
    SELECT p.member_id, (p.created_at AT TIME ZONE :tz)::date AS day, p.amount, 1 AS purchases
    FROM purchases p
    WHERE p.id NOT IN ({_ABOVE_BY.format(key="purchase_id")} = '{PURCHASE_RECORDED}')
    UNION ALL
    SELECT p.member_id, (p.created_at AT TIME ZONE :tz)::date, -r.amount, 0
    FROM refunds r JOIN purchases p ON p.id = r.purchase_id
    WHERE r.id NOT IN ({_ABOVE_BY.format(key="refund_id")} = '{PURCHASE_REFUNDED}')
"""

ADD_SALES = """
    WITH sales AS ({sales})
    INSERT INTO analytics_sales (day, channel, amount, purchases)
    SELECT s.day, coalesce(am.channel, 'unknown'), sum(s.amount), sum(s.purchases)
    FROM sales s LEFT JOIN analytics_members am ON am.member_id = s.member_id
    GROUP BY 1, 2
    ON CONFLICT (day, channel) DO UPDATE
    SET amount = analytics_sales.amount + excluded.amount,
        purchases = analytics_sales.purchases + excluded.purchases
"""
