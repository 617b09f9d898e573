"""duels: PK duels (积分PK赛) between two members on a metric over a window, and their rules

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-05 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "duel_rules",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("metrics", sa.ARRAY(sa.String(16)), nullable=False),
        sa.Column("max_stake", sa.BigInteger, nullable=False),
        sa.Column("reward_points", sa.BigInteger, nullable=False),
        sa.Column("tie_rule", sa.String(8), nullable=False),
        sa.Column("accept_hours", sa.Integer, nullable=False),
        sa.Column("max_hours", sa.Integer, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("updated_by", sa.String(96), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("code", name=op.f("uq_duel_rules_code")),
        sa.CheckConstraint(
            "max_stake >= 0 AND reward_points >= 0", name=op.f("ck_duel_rules_amounts")
        ),
        sa.CheckConstraint("accept_hours > 0 AND max_hours > 0", name=op.f("ck_duel_rules_hours")),
        sa.CheckConstraint("tie_rule IN ('split', 'refund')", name=op.f("ck_duel_rules_tie_rule")),
    )
    op.create_table(
        "duels",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("rules_id", sa.BigInteger, sa.ForeignKey("duel_rules.id"), nullable=False),
        sa.Column("challenger_id", sa.BigInteger, sa.ForeignKey("members.id"), nullable=False),
        sa.Column("opponent_id", sa.BigInteger, sa.ForeignKey("members.id"), nullable=False),
        sa.Column("metric", sa.String(16), nullable=False),
        sa.Column("stake", sa.BigInteger, nullable=False),
        sa.Column("reward_points", sa.BigInteger, nullable=False),
        sa.Column("tie_rule", sa.String(8), nullable=False),
        sa.Column("window_hours", sa.Integer, nullable=False),
        sa.Column("accept_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("outcome", sa.String(8)),
        sa.Column("starts_at", sa.DateTime(timezone=True)),
        sa.Column("ends_at", sa.DateTime(timezone=True)),
        sa.Column("challenger_hold_id", sa.BigInteger, sa.ForeignKey("holds.id")),
        sa.Column("opponent_hold_id", sa.BigInteger, sa.ForeignKey("holds.id")),
        sa.Column("challenger_score", sa.BigInteger),
        sa.Column("opponent_score", sa.BigInteger),
        sa.Column("winner_id", sa.BigInteger),
        sa.Column("winnings_entry_id", sa.BigInteger, sa.ForeignKey("entries.id")),
        sa.Column("challenger_reward_entry_id", sa.BigInteger, sa.ForeignKey("entries.id")),
        sa.Column("opponent_reward_entry_id", sa.BigInteger, sa.ForeignKey("entries.id")),
        sa.Column("created_by", sa.String(96), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("challenger_hold_id", name=op.f("uq_duels_challenger_hold_id")),
        sa.UniqueConstraint("opponent_hold_id", name=op.f("uq_duels_opponent_hold_id")),
        sa.CheckConstraint("status IN ('pending', 'open', 'closed')", name=op.f("ck_duels_status")),
        sa.CheckConstraint(
            "(status = 'closed') = (outcome IS NOT NULL)", name=op.f("ck_duels_outcome")
        ),
        sa.CheckConstraint("challenger_id <> opponent_id", name=op.f("ck_duels_two_members")),
        sa.CheckConstraint(
            "stake >= 0 AND reward_points >= 0 AND window_hours > 0",
            name=op.f("ck_duels_amounts"),
        ),
    )
    op.create_index(
        "ix_duels_pending_accept_by",
        "duels",
        ["accept_by"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_duels_open_end", "duels", ["ends_at"], postgresql_where=sa.text("status = 'open'")
    )
    op.create_index("ix_duels_challenger", "duels", ["challenger_id", "id"])
    op.create_index("ix_duels_opponent", "duels", ["opponent_id", "id"])


def downgrade() -> None:
    op.drop_table("duels")
    op.drop_table("duel_rules")
