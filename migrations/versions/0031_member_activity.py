"""member_activity: each member's own activity kept from the outbox for the segmentation run,
and an index on entries.created_at (a day of entries leaving the window, a period's export)

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-05 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member_activity",
        sa.Column("member_id", sa.BigInteger, primary_key=True),
        sa.Column("acts", sa.BigInteger, nullable=False),
        sa.Column("earned", sa.BigInteger, nullable=False),
        sa.Column("aged_acts", sa.BigInteger, nullable=False),
        sa.Column("aged_earned", sa.BigInteger, nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True)),
    )
    # No row: the projection rebuilds from the ledger on its first round.
    op.create_table(
        "member_activity_state",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("last_event_id", sa.BigInteger, nullable=False),
        sa.Column("aged_until", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name="one_row"),
    )
    op.create_index("ix_entries_created_at", "entries", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_entries_created_at", table_name="entries")
    op.drop_table("member_activity_state")
    op.drop_table("member_activity")
