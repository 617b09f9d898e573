"""analytics alerts: each anomaly alert fired, once per kind, subject and window

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_alerts",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(96), nullable=False),
        sa.Column("window_key", sa.String(64), nullable=False),
        sa.Column("details", JSONB, nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("kind", "subject", "window_key", name=op.f("uq_analytics_alerts_kind")),
    )


def downgrade() -> None:
    op.drop_table("analytics_alerts")
