"""The segment bonus campaigns' tables (docs/ANALYTICS.md, "Segment campaigns")."""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)

from app.db import metadata

# A campaign: ``points`` to every member of ``segment`` (as the last segmentation run placed
# them when it was started), within ``budget`` points in all. ``granted_points`` is what the
# ledger credited so far: the check keeps it within the budget whatever runs at once.
segment_campaigns = Table(
    "segment_campaigns",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("segment", String(24), nullable=False),
    Column("points", Integer, nullable=False),
    Column("budget", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False),  # running | done | cancelled
    Column("members", BigInteger, nullable=False),  # targeted
    Column("granted_members", BigInteger, nullable=False, server_default="0"),
    Column("granted_points", BigInteger, nullable=False, server_default="0"),
    Column("skipped_members", BigInteger, nullable=False, server_default="0"),
    Column("created_by", String(96), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("cancelled_by", String(96)),
    Column("cancel_reason", Text),
    CheckConstraint("points > 0 AND budget >= points", name="points_budget"),
    CheckConstraint("granted_points <= budget", name="within_budget"),
    CheckConstraint("status IN ('running', 'done', 'cancelled')", name="status"),
)

# Each targeted member: pending until a chunk grants it (``entry_id``: its earn) or skips it
# (closed since, or the budget ran out: ``skipped``, with why).
segment_campaign_members = Table(
    "segment_campaign_members",
    metadata,
    Column("campaign_id", BigInteger, ForeignKey("segment_campaigns.id"), nullable=False),
    Column("member_id", BigInteger, ForeignKey("members.id"), nullable=False),
    Column("status", String(16), nullable=False),  # pending | granted | skipped
    Column("entry_id", BigInteger),
    Column("skipped_because", Text),
    PrimaryKeyConstraint("campaign_id", "member_id"),
    CheckConstraint("status IN ('pending', 'granted', 'skipped')", name="status"),
    CheckConstraint("(status = 'granted') = (entry_id IS NOT NULL)", name="granted_entry"),
    Index(
        "ix_segment_campaign_members_pending",
        "campaign_id",
        "member_id",
        postgresql_where=text("status = 'pending'"),
    ),
)
