"""earning: every budgeted rule has its budget row (written with the rule from now on)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 12:45:00

The budget row used to be created by a rule's first payment (insert-if-missing). Purchases racing
before that first payment committed found no row to lock and each spent the whole budget. The
service now writes the row with the rule; this gives the rules created before it theirs. A rule
that has paid already has its row; one that has not starts at 0 used.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO earning_budgets (rule_id, used) "
        "SELECT id, 0 FROM earning_rules WHERE spec ? 'budget' AND spec->'budget' <> 'null' "
        "ON CONFLICT (rule_id) DO NOTHING"
    )


def downgrade() -> None:
    # Rows with nothing used are what the old code created lazily; keeping them is harmless.
    pass
