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
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

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
    # Tasks (app/tiers/policy.py): {"measure": ..., "target": "<decimal>"}.
    Column("keep_task", JSONB),
    Column("upgrade_tasks", JSONB, nullable=False, server_default="[]"),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("updated_at", DateTime(timezone=True)),
    Column("updated_by", Text),
)

# Every staff change of a definition, with who made it and the definition as it became.
tier_definition_versions = Table(
    "tier_definition_versions",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("code", String(32), ForeignKey("tier_definitions.code"), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("change", String(16), nullable=False),  # created | updated
    Column("definition", JSONB, nullable=False),
    Column("actor", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Task measures that no other table holds (referrals), per member and calendar quarter.
tier_task_counters = Table(
    "tier_task_counters",
    metadata,
    Column("member_id", BigInteger, ForeignKey("members.id"), primary_key=True),
    Column("measure", String(32), primary_key=True),
    Column("quarter", String(8), primary_key=True),  # 2026-Q4
    Column("value", Integer, nullable=False),
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
    Column("member_id", BigInteger, ForeignKey("members.id"), primary_key=True, index=True),
    Column("from_tier", String(32)),
    Column("to_tier", String(32), nullable=False),
    Column("reason", String(32), nullable=False),  # upgrade | task | review | inactivity
    Column("qualifying_spend", Numeric(14, 2), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
