"""Tiers: definitions (data), each member's current tier, and the history of changes."""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Integer,
    Numeric,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY

from app.db import metadata

tier_definitions = Table(
    "tier_definitions",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("name", Text, nullable=False),
    Column("rank", Integer, nullable=False, unique=True),
    # Qualifying spend (CNY, purchases minus refunds) over the rolling window to reach the tier.
    Column("threshold", Numeric(14, 2), nullable=False),
    Column("multiplier", Numeric(6, 4), nullable=False),
    Column("benefits", ARRAY(Text), nullable=False, server_default="{}"),
)

member_tiers = Table(
    "member_tiers",
    metadata,
    Column("member_id", BigInteger, ForeignKey("members.id"), primary_key=True),
    Column("tier_code", String(32), ForeignKey("tier_definitions.code"), nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
    Column("review_at", DateTime(timezone=True), nullable=False),
    Column("last_activity_at", DateTime(timezone=True), nullable=False),
)

tier_changes = Table(
    "tier_changes",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("member_id", BigInteger, ForeignKey("members.id"), nullable=False, index=True),
    Column("from_tier", String(32)),
    Column("to_tier", String(32), nullable=False),
    Column("reason", String(32), nullable=False),  # upgrade | review | inactivity
    Column("qualifying_spend", Numeric(14, 2), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
