"""Experiments, their variants and rules, and the members assigned to them."""

from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
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

from app.db import metadata

experiments = Table(
    "experiments",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("code", String(64), nullable=False),
    Column("name", Text, nullable=False),
    Column("status", String(16), nullable=False),
    # Who may be assigned (None: anyone): the member's registration channel, its RFM segment
    # when first exposed. Checked once, at assignment; an assigned member never moves.
    Column("channels", ARRAY(String(64))),
    Column("segments", ARRAY(String(32))),
    # Programme rules withheld from assigned members: each variant brings its own version.
    Column("replaces", ARRAY(BigInteger), nullable=False, server_default="{}"),
    Column("created_by", String(96), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),  # stopped or rolled out: results end here
    Column("ended_by", String(96)),
    Column("winner_variant_id", BigInteger),
    UniqueConstraint("code", name="uq_experiments_code"),
    CheckConstraint("status IN ('draft', 'running', 'stopped', 'rolled_out')", name="status"),
)

experiment_variants = Table(
    "experiment_variants",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("experiment_id", BigInteger, ForeignKey("experiments.id"), nullable=False),
    Column("code", String(64), nullable=False),
    Column("name", Text, nullable=False),
    Column("weight", Numeric(12, 4), nullable=False),
    Column("position", Integer, nullable=False),  # the first is the control
    UniqueConstraint("experiment_id", "code", name="uq_experiment_variants_code"),
    CheckConstraint("weight > 0", name="weight"),
)

# A variant's earning rules: rows of earning_rules, enabled only while the experiment runs and
# given by earning only to the members assigned to the variant (app/experiments/chooser.py).
experiment_variant_rules = Table(
    "experiment_variant_rules",
    metadata,
    Column("variant_id", BigInteger, ForeignKey("experiment_variants.id"), nullable=False),
    Column("rule_id", BigInteger, ForeignKey("earning_rules.id"), nullable=False),
    PrimaryKeyConstraint("variant_id", "rule_id"),
    UniqueConstraint("rule_id", name="uq_experiment_variant_rules_rule"),
)

# Which variant a member is in: written once, at its first purchase or event while the
# experiment runs, and never changed.
experiment_assignments = Table(
    "experiment_assignments",
    metadata,
    Column("experiment_id", BigInteger, ForeignKey("experiments.id"), nullable=False),
    Column("member_id", BigInteger, ForeignKey("members.id"), nullable=False),
    Column("variant_id", BigInteger, ForeignKey("experiment_variants.id"), nullable=False),
    Column("assigned_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("experiment_id", "member_id"),
    Index("ix_experiment_assignments_member", "member_id"),
)

# What a variant changes besides earning rules: a task's reward points (``task_reward``, by the
# task's code) or a mall item's points price (``item_price``, by the item's code), for its own
# members while the experiment runs (app/experiments/overrides.py).
experiment_variant_overrides = Table(
    "experiment_variant_overrides",
    metadata,
    Column("variant_id", BigInteger, ForeignKey("experiment_variants.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("code", String(64), nullable=False),
    Column("points", BigInteger, nullable=False),
    PrimaryKeyConstraint("variant_id", "kind", "code"),
    CheckConstraint("kind IN ('task_reward', 'item_price')", name="kind"),
    CheckConstraint("points >= 0 AND (kind <> 'item_price' OR points > 0)", name="points"),
)
