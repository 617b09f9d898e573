"""segments: each member's RFM scores and segment, their changes, the job's runs and counts

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 18:30:00

Members have no segment until the segmentation job first runs (daily, or ``jifen segments
compute``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member_segments",
        sa.Column("member_id", sa.BigInteger, sa.ForeignKey("members.id"), primary_key=True),
        sa.Column("segment", sa.String(24), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_active_on", sa.Date),
        sa.Column("frequency", sa.BigInteger, nullable=False),
        sa.Column("monetary", sa.BigInteger, nullable=False),
        sa.Column("recency_score", sa.SmallInteger),
        sa.Column("frequency_score", sa.SmallInteger),
        sa.Column("monetary_score", sa.SmallInteger),
    )
    op.create_index("ix_member_segments_segment", "member_segments", ["segment"])
    op.create_table(
        "member_segment_changes",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("member_id", sa.BigInteger, sa.ForeignKey("members.id"), nullable=False),
        sa.Column("from_segment", sa.String(24)),
        sa.Column("to_segment", sa.String(24)),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_member_segment_changes_member_id", "member_segment_changes", ["member_id", "id"]
    )
    op.create_table(
        "segment_runs",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_days", sa.Integer, nullable=False),
        sa.Column("new_days", sa.Integer, nullable=False),
        sa.Column("members", sa.BigInteger, nullable=False),
        sa.Column("changed", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "segment_counts",
        sa.Column("segment", sa.String(24), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("members", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("segment", "channel"),
    )


def downgrade() -> None:
    op.drop_index("ix_member_segment_changes_member_id", "member_segment_changes")
    op.drop_index("ix_member_segments_segment", "member_segments")
    for table in ("segment_counts", "segment_runs", "member_segment_changes", "member_segments"):
        op.drop_table(table)
