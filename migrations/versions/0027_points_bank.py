"""points bank: the programme's pool of expired points (account ``bank``), members' moves of
expiring points into donations or lottery tickets, and staff's spends of the pool

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-05 01:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("INSERT INTO accounts (kind, code) VALUES ('bank', 'bank') ON CONFLICT DO NOTHING")
    # A spend of the pool for charity matching moves points between two programme accounts:
    # no member, so no journal entry; its bank_spends row names the transfer.
    op.alter_column("transfers", "entry_id", nullable=True)
    op.create_table(
        "bank_moves",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("member_id", sa.BigInteger, sa.ForeignKey("members.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("expires_on", sa.Date, nullable=False),
        sa.Column("points", sa.BigInteger, nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("tickets", sa.Integer, nullable=False, server_default="0"),
        sa.Column("entry_id", sa.BigInteger, sa.ForeignKey("entries.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('donation', 'lottery')", name="kind"),
        sa.CheckConstraint("points > 0", name="positive"),
    )
    op.create_index("ix_bank_moves_member_id", "bank_moves", ["member_id"])
    op.create_table(
        "bank_spends",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("points", sa.BigInteger, nullable=False),
        sa.Column("charity_code", sa.String(64)),
        sa.Column("member_id", sa.BigInteger, sa.ForeignKey("members.id")),
        sa.Column("transfer_id", sa.BigInteger, sa.ForeignKey("transfers.id"), nullable=False),
        sa.Column("entry_id", sa.BigInteger, sa.ForeignKey("entries.id")),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(96), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('charity_match', 'prize')", name="kind"),
        sa.CheckConstraint("points > 0", name="positive"),
        sa.CheckConstraint(
            "(kind = 'charity_match') = (charity_code IS NOT NULL AND entry_id IS NULL)",
            name="charity_match",
        ),
        sa.CheckConstraint(
            "(kind = 'prize') = (member_id IS NOT NULL AND entry_id IS NOT NULL)", name="prize"
        ),
    )


def downgrade() -> None:
    op.drop_table("bank_spends")
    op.drop_table("bank_moves")
    op.alter_column("transfers", "entry_id", nullable=False)
    op.execute("DELETE FROM accounts WHERE code = 'bank'")
