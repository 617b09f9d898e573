"""alerts acknowledged by staff; segment campaigns cancelled by staff; the expiry outlook

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 21:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUS = "ck_segment_campaigns_status"


def upgrade() -> None:
    op.create_table(
        "analytics_outlook",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pending", sa.BigInteger, nullable=False),
        sa.Column("members_by_tier", JSONB, nullable=False),
        sa.Column("expiring", JSONB, nullable=False),
        sa.Column("point_value", sa.Numeric(18, 6), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_analytics_outlook_one_row")),
    )
    op.add_column("analytics_alerts", sa.Column("acknowledged_at", sa.DateTime(timezone=True)))
    op.add_column("analytics_alerts", sa.Column("acknowledged_by", sa.String(96)))
    op.add_column("analytics_alerts", sa.Column("acknowledge_note", sa.Text))
    op.create_index("ix_analytics_alerts_kind_id", "analytics_alerts", ["kind", "id"])
    op.add_column("segment_campaigns", sa.Column("cancelled_by", sa.String(96)))
    op.add_column("segment_campaigns", sa.Column("cancel_reason", sa.Text))
    op.drop_constraint(op.f(STATUS), "segment_campaigns", type_="check")
    op.create_check_constraint(
        "status", "segment_campaigns", "status IN ('running', 'done', 'cancelled')"
    )


def downgrade() -> None:
    op.drop_constraint(op.f(STATUS), "segment_campaigns", type_="check")
    op.execute("UPDATE segment_campaigns SET status = 'done' WHERE status = 'cancelled'")
    op.create_check_constraint("status", "segment_campaigns", "status IN ('running', 'done')")
    op.drop_column("segment_campaigns", "cancel_reason")
    op.drop_column("segment_campaigns", "cancelled_by")
    op.drop_index("ix_analytics_alerts_kind_id", "analytics_alerts")
    op.drop_column("analytics_alerts", "acknowledge_note")
    op.drop_column("analytics_alerts", "acknowledged_by")
    op.drop_column("analytics_alerts", "acknowledged_at")
    op.drop_table("analytics_outlook")
