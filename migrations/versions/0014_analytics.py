"""analytics: rollups of the ledger's facts per business day, the projector's cursor, the
programme's point value over time, the weekly reports

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 16:00:00

Existing programmes start with empty rollups and no cursor: the worker's projector finds no
cursor and rebuilds them from the ledger (``jifen analytics rebuild`` does the same by hand).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_cursor",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("last_event_id", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "analytics_members",
        sa.Column("member_id", sa.BigInteger, primary_key=True),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("registered_on", sa.Date, nullable=False),
    )
    op.create_table(
        "analytics_flows",
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("flow", sa.String(48), nullable=False),
        sa.Column("points", sa.BigInteger, nullable=False),
        sa.Column("facts", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("day", "channel", "flow"),
    )
    op.create_table(
        "analytics_active",
        sa.Column("grain", sa.String(8), nullable=False),
        sa.Column("bucket", sa.Date, nullable=False),
        sa.Column("member_id", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("grain", "bucket", "member_id"),
    )
    op.create_table(
        "analytics_activity",
        sa.Column("grain", sa.String(8), nullable=False),
        sa.Column("bucket", sa.Date, nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("members", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("grain", "bucket", "channel"),
    )
    op.create_table(
        "point_values",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("value", sa.Numeric(18, 6), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(96), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_point_values_effective_from", "point_values", ["effective_from"])
    op.create_table(
        "weekly_reports",
        sa.Column("week_start", sa.Date, primary_key=True),
        sa.Column("html", sa.Text, nullable=False),
        sa.Column("csv", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_index("ix_point_values_effective_from", "point_values")
    for table in (
        "weekly_reports",
        "point_values",
        "analytics_activity",
        "analytics_active",
        "analytics_flows",
        "analytics_members",
        "analytics_cursor",
    ):
        op.drop_table(table)
