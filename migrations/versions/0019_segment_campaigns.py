"""segment campaigns: N points to every member of a segment, budgeted, in resumable chunks

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "segment_campaigns",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("segment", sa.String(24), nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("budget", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("members", sa.BigInteger, nullable=False),
        sa.Column("granted_members", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("granted_points", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("skipped_members", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_by", sa.String(96), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(
            "points > 0 AND budget >= points", name=op.f("ck_segment_campaigns_points_budget")
        ),
        sa.CheckConstraint(
            "granted_points <= budget", name=op.f("ck_segment_campaigns_within_budget")
        ),
        sa.CheckConstraint(
            "status IN ('running', 'done')", name=op.f("ck_segment_campaigns_status")
        ),
    )
    op.create_table(
        "segment_campaign_members",
        sa.Column(
            "campaign_id", sa.BigInteger, sa.ForeignKey("segment_campaigns.id"), nullable=False
        ),
        sa.Column("member_id", sa.BigInteger, sa.ForeignKey("members.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("entry_id", sa.BigInteger),
        sa.Column("skipped_because", sa.Text),
        sa.PrimaryKeyConstraint("campaign_id", "member_id"),
        sa.CheckConstraint(
            "status IN ('pending', 'granted', 'skipped')",
            name=op.f("ck_segment_campaign_members_status"),
        ),
        sa.CheckConstraint(
            "(status = 'granted') = (entry_id IS NOT NULL)",
            name=op.f("ck_segment_campaign_members_granted_entry"),
        ),
    )
    op.create_index(
        "ix_segment_campaign_members_pending",
        "segment_campaign_members",
        ["campaign_id", "member_id"],
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_segment_campaign_members_pending", "segment_campaign_members")
    op.drop_table("segment_campaign_members")
    op.drop_table("segment_campaigns")
