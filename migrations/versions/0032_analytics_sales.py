"""analytics_sales: member sales per business day and channel, kept from the outbox's new
purchase events; the rollups' cursor dropped so the worker rebuilds them with the sales of the
purchases recorded before (they have no event)

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-05 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_sales",
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("amount", sa.Numeric(18, 2), nullable=False),
        sa.Column("purchases", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("day", "channel"),
    )
    op.execute("DELETE FROM analytics_cursor WHERE name = 'rollups'")


def downgrade() -> None:
    op.drop_table("analytics_sales")
