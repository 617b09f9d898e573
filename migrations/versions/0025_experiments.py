"""experiments: A/B experiments on the earning rules, their variants, rules and assignments

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05 00:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("channels", sa.ARRAY(sa.String(64))),
        sa.Column("segments", sa.ARRAY(sa.String(32))),
        sa.Column("replaces", sa.ARRAY(sa.BigInteger), nullable=False, server_default="{}"),
        sa.Column("created_by", sa.String(96), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("ended_by", sa.String(96)),
        sa.Column("winner_variant_id", sa.BigInteger),
        sa.UniqueConstraint("code", name=op.f("uq_experiments_code")),
        sa.CheckConstraint(
            "status IN ('draft', 'running', 'stopped', 'rolled_out')",
            name=op.f("ck_experiments_status"),
        ),
    )
    op.create_table(
        "experiment_variants",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("experiment_id", sa.BigInteger, sa.ForeignKey("experiments.id"), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("weight", sa.Numeric(12, 4), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.UniqueConstraint("experiment_id", "code", name=op.f("uq_experiment_variants_code")),
        sa.CheckConstraint("weight > 0", name=op.f("ck_experiment_variants_weight")),
    )
    op.create_table(
        "experiment_variant_rules",
        sa.Column(
            "variant_id",
            sa.BigInteger,
            sa.ForeignKey("experiment_variants.id"),
            nullable=False,
        ),
        sa.Column("rule_id", sa.BigInteger, sa.ForeignKey("earning_rules.id"), nullable=False),
        sa.PrimaryKeyConstraint("variant_id", "rule_id"),
        sa.UniqueConstraint("rule_id", name=op.f("uq_experiment_variant_rules_rule")),
    )
    op.create_table(
        "experiment_assignments",
        sa.Column("experiment_id", sa.BigInteger, sa.ForeignKey("experiments.id"), nullable=False),
        sa.Column("member_id", sa.BigInteger, sa.ForeignKey("members.id"), nullable=False),
        sa.Column(
            "variant_id",
            sa.BigInteger,
            sa.ForeignKey("experiment_variants.id"),
            nullable=False,
        ),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", "member_id"),
    )
    op.create_index("ix_experiment_assignments_member", "experiment_assignments", ["member_id"])


def downgrade() -> None:
    op.drop_table("experiment_assignments")
    op.drop_table("experiment_variant_rules")
    op.drop_table("experiment_variants")
    op.drop_table("experiments")
