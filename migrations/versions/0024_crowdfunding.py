"""crowdfunding: points campaigns with a goal and a deadline, and their pledges (each a hold)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("purpose", sa.Text, nullable=False, server_default=""),
        sa.Column("goal", sa.BigInteger, nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("min_pledge", sa.BigInteger, nullable=False),
        sa.Column("allow_raise", sa.Boolean, nullable=False),
        sa.Column("allow_withdraw", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("outcome", sa.String(8)),
        sa.Column("pledged", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("backers", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_by", sa.String(96), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("code", name=op.f("uq_campaigns_code")),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_campaigns_status")),
        sa.CheckConstraint(
            "goal > 0 AND min_pledge > 0 AND pledged >= 0", name=op.f("ck_campaigns_amounts")
        ),
        sa.CheckConstraint(
            "(status = 'closed') = (outcome IS NOT NULL)", name=op.f("ck_campaigns_outcome")
        ),
    )
    op.create_index(
        "ix_campaigns_open_end",
        "campaigns",
        ["ends_at"],
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_table(
        "pledges",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("campaign_id", sa.BigInteger, sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("member_id", sa.BigInteger, sa.ForeignKey("members.id"), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("hold_id", sa.BigInteger, sa.ForeignKey("holds.id"), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("hold_id", name=op.f("uq_pledges_hold_id")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_pledges_amount")),
        sa.CheckConstraint(
            "status IN ('active', 'raised', 'withdrawn', 'committed', 'released')",
            name=op.f("ck_pledges_status"),
        ),
    )
    op.create_index(
        "ix_pledges_one_active",
        "pledges",
        ["campaign_id", "member_id"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index("ix_pledges_member", "pledges", ["member_id", "id"])


def downgrade() -> None:
    op.drop_table("pledges")
    op.drop_table("campaigns")
