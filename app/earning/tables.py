"""Earning: rules (versioned, audited), purchases with their lines, refunds, events, counters.

Every member-owned table carries ``member_id`` (docs/SCALING.md: by member). Writes to a
member's purchases, events and counters happen under that member's account lock (the ledger's
one lock), so cap counters are exact under concurrency.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

from app.db import metadata

MONEY = Numeric(14, 2)
POINTS_EXACT = Numeric(30, 10)  # a line's points before rounding, kept for exact claw-backs

earning_rules = Table(
    "earning_rules",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("name", Text, nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("event", String(64)),
    Column("spec", JSONB, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(96), nullable=False),
    # The demo seed's stable handle, so seeding twice changes nothing.
    Column("seed_key", String(64), unique=True),
)

# Every change to a rule: the audit of who changed what, and when (never updated).
earning_rule_versions = Table(
    "earning_rule_versions",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("rule_id", BigInteger, ForeignKey("earning_rules.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("change", String(16), nullable=False),  # created | updated | enabled | disabled
    Column("spec", JSONB, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("actor", String(96), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("rule_id", "version", name="uq_earning_rule_versions_rule_version"),
)

# Points a member got from a rule in a period ("rule:<id>:d:2026-11-23"), and in all per day
# ("all:d:2026-11-23"), updated in the transaction that earns them, under the account lock.
earning_counters = Table(
    "earning_counters",
    metadata,
    Column("member_id", BigInteger, nullable=False),
    Column("key", String(64), nullable=False),
    Column("points", BigInteger, nullable=False),
    PrimaryKeyConstraint("member_id", "key"),
)

# A campaign budget's use: one row per budgeted rule (locked only by purchases it applies to).
earning_budgets = Table(
    "earning_budgets",
    metadata,
    Column("rule_id", BigInteger, ForeignKey("earning_rules.id"), primary_key=True),
    Column("used", BigInteger, nullable=False),
)

purchases = Table(
    "purchases",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("member_id", BigInteger, ForeignKey("members.id"), primary_key=True),
    Column("channel", String(64), nullable=False),
    Column("order_id", String(64), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("refunded_amount", MONEY, nullable=False),
    Column("points", BigInteger, nullable=False),  # awarded (after rounding and caps)
    Column("clawed_back", BigInteger, nullable=False),
    Column("order_points", POINTS_EXACT, nullable=False),  # fixed points, before rounding
    Column("entry_id", BigInteger),
    ForeignKeyConstraint(["entry_id", "member_id"], ["entries.id", "entries.member_id"]),
    Column("breakdown", JSONB, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Unique across members by its claim (app/members/claims.py): here with the member.
    UniqueConstraint("channel", "order_id", "member_id", name="uq_purchases_channel_order"),
    CheckConstraint("refunded_amount >= 0 AND refunded_amount <= amount", name="refunded"),
    CheckConstraint("clawed_back >= 0 AND clawed_back <= points", name="clawed_back"),
    Index("ix_purchases_member_occurred", "member_id", "occurred_at"),
)

purchase_lines = Table(
    "purchase_lines",
    metadata,
    Column("purchase_id", BigInteger, nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("member_id", BigInteger, nullable=False),
    Column("sku", String(64), nullable=False),
    Column("category", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("refunded_amount", MONEY, nullable=False),
    Column("points", POINTS_EXACT, nullable=False),  # before rounding and caps
    PrimaryKeyConstraint("purchase_id", "line_no", "member_id"),
    ForeignKeyConstraint(["purchase_id", "member_id"], ["purchases.id", "purchases.member_id"]),
    CheckConstraint("refunded_amount >= 0 AND refunded_amount <= amount", name="refunded"),
    Index("ix_purchase_lines_member_category", "member_id", "category"),
)

refunds = Table(
    "refunds",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("purchase_id", BigInteger, nullable=False, index=True),
    Column("member_id", BigInteger, primary_key=True),
    Column("channel", String(64), nullable=False),
    Column("refund_id", String(64), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("points", BigInteger, nullable=False),  # clawed back by this refund
    Column("entry_id", BigInteger),
    ForeignKeyConstraint(["entry_id", "member_id"], ["entries.id", "entries.member_id"]),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Unique across members by its claim (app/members/claims.py): here with the member.
    UniqueConstraint("channel", "refund_id", "member_id", name="uq_refunds_channel_refund"),
    ForeignKeyConstraint(["purchase_id", "member_id"], ["purchases.id", "purchases.member_id"]),
)

earning_events = Table(
    "earning_events",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("member_id", BigInteger, ForeignKey("members.id"), primary_key=True, index=True),
    Column("channel", String(64), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("name", String(64), nullable=False),
    Column("quantity", Numeric(20, 4), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("entry_id", BigInteger),
    ForeignKeyConstraint(["entry_id", "member_id"], ["entries.id", "entries.member_id"]),
    Column("breakdown", JSONB, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Unique across members by its claim (app/members/claims.py): here with the member.
    UniqueConstraint("channel", "event_id", "member_id", name="uq_earning_events_channel_event"),
)
