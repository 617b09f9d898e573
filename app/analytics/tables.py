"""Analytics' own tables: rollups kept by the projector from the outbox (docs/ANALYTICS.md).

Every rollup row is a sum over ledger facts of one business-local day; the projector adds a
batch of events and moves its cursor in one transaction, so each event counts exactly once.
"""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

from app.db import metadata

# Where the projector stands: every event with id <= last_event_id is in the rollups.
analytics_cursor = Table(
    "analytics_cursor",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("last_event_id", BigInteger, nullable=False),
)

# The channel each member registered through, and the business day of its registration.
analytics_members = Table(
    "analytics_members",
    metadata,
    Column("member_id", BigInteger, primary_key=True),
    Column("channel", String(64), nullable=False),
    Column("registered_on", Date, nullable=False),
)

# Per business day, channel and flow (e.g. ``issued:purchase``): the signed points and how many
# facts (entries, registrations, sign-ins) made them.
analytics_flows = Table(
    "analytics_flows",
    metadata,
    Column("day", Date, nullable=False),
    Column("channel", String(64), nullable=False),
    Column("flow", String(48), nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("facts", BigInteger, nullable=False),
    PrimaryKeyConstraint("day", "channel", "flow"),
)

# Member sales per business day of the purchase and the member's channel: the amount of the
# purchases recorded that day less what was refunded on them since, and how many purchases.
analytics_sales = Table(
    "analytics_sales",
    metadata,
    Column("day", Date, nullable=False),
    Column("channel", String(64), nullable=False),
    Column("amount", Numeric(18, 2), nullable=False),
    Column("purchases", BigInteger, nullable=False),
    PrimaryKeyConstraint("day", "channel"),
)

# A member active in a bucket (grain day, week or month, by its first day): one row, so the
# bucket's count of active members is exact however often the member acted.
analytics_active = Table(
    "analytics_active",
    metadata,
    Column("grain", String(8), nullable=False),
    Column("bucket", Date, nullable=False),
    Column("member_id", BigInteger, nullable=False),
    PrimaryKeyConstraint("grain", "bucket", "member_id"),
)

# How many members were active per bucket and channel (counted when their row above is new).
analytics_activity = Table(
    "analytics_activity",
    metadata,
    Column("grain", String(8), nullable=False),
    Column("bucket", Date, nullable=False),
    Column("channel", String(64), nullable=False),
    Column("members", BigInteger, nullable=False),
    PrimaryKeyConstraint("grain", "bucket", "channel"),
)

# The outlook as the ``analytics-outlook`` job last computed it (one row, id 1): pending points,
# members by tier, points expiring per business month (ISO first day → points).
analytics_outlook = Table(
    "analytics_outlook",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("as_of", DateTime(timezone=True), nullable=False),
    Column("pending", BigInteger, nullable=False),
    Column("members_by_tier", JSONB, nullable=False),
    Column("expiring", JSONB, nullable=False),
    Column("point_value", Numeric(18, 6), nullable=False),
    CheckConstraint("id = 1", name="one_row"),
)

# The weekly report (积分运营周报) as the Monday job made it, per business week.
weekly_reports = Table(
    "weekly_reports",
    metadata,
    Column("week_start", Date, primary_key=True),
    Column("html", Text, nullable=False),
    Column("csv", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
