"""events_purge_mark: how far the relay's retention purged the outbox (the greatest id it
deleted), so that a projector tells a purge past its cursor from a rolled-back id (docs/EVENTS.md
"Retention")

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-05 04:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "events_purge_mark",
        sa.Column("id", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("purged_through", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id", name="ck_events_purge_mark_one_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    # What the outbox's head said before the mark existed (the old reading): a projector stopped
    # across an earlier purge still rebuilds once; a rolled-back id there costs one needless one.
    op.execute(
        "INSERT INTO events_purge_mark (id, purged_through)"
        " SELECT true, min(id) - 1 FROM events HAVING min(id) > 1"
    )


def downgrade() -> None:
    op.drop_table("events_purge_mark")
