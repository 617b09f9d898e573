"""A partial index on entries.reverses_entry_id (reversals only): a scan of the journal finds
the few reversals and the entries they reverse without joining every entry to the journal
(the leaderboard rebuild's per-member sums, docs/PERFORMANCE.md "Leaderboard rebuild")

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-05 04:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_entries_reverses_entry_id",
        "entries",
        ["reverses_entry_id"],
        postgresql_where=sa.text("reverses_entry_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_entries_reverses_entry_id", table_name="entries")
