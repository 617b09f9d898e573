"""ledger: who created an entry or a hold, structured (kind, and a partner's channel)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 12:45:00

Ownership checks (a partner commits, voids or reverses only what its channel created) used to
compare the free-text ``source`` with the key's channel, and staff and member writes are recorded
with source ``api``: a partner key whose channel was named ``api`` owned them all. The creator is
now kept in its own columns. The backfill reads what is known: the kind is the prefix of
``actor`` (``member:``, ``staff:``, ``partner:``; anything else was the system), and a partner's
writes always carried its channel as ``source``, so that is its channel.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("entries", "holds")

BACKFILL = """
    UPDATE {table} SET
        created_by_kind = CASE
            WHEN actor LIKE 'member:%' THEN 'member'
            WHEN actor LIKE 'staff:%' THEN 'staff'
            WHEN actor LIKE 'partner:%' THEN 'partner'
            ELSE 'system'
        END,
        created_by_channel = CASE WHEN actor LIKE 'partner:%' THEN source END
"""


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("created_by_kind", sa.String(length=16)))
        op.add_column(table, sa.Column("created_by_channel", sa.String(length=64)))
        op.execute(BACKFILL.format(table=table))
        op.alter_column(table, "created_by_kind", nullable=False)
        op.create_check_constraint(
            op.f(f"ck_{table}_created_by_kind"),
            table,
            "created_by_kind IN ('member', 'staff', 'partner', 'system')",
        )
        op.create_check_constraint(
            op.f(f"ck_{table}_created_by_channel"),
            table,
            "(created_by_kind = 'partner') = (created_by_channel IS NOT NULL)",
        )


def downgrade() -> None:
    for table in TABLES:
        op.drop_constraint(op.f(f"ck_{table}_created_by_channel"), table, type_="check")
        op.drop_constraint(op.f(f"ck_{table}_created_by_kind"), table, type_="check")
        op.drop_column(table, "created_by_channel")
        op.drop_column(table, "created_by_kind")
