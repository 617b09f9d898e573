"""the charity match leaves transfers: programme_transfers and bank_matches; transfers and
bank_spends keyed (id, member_id), their member NOT NULL

Revision ID: 0057
Revises: 0056
Create Date: 2026-12-05 16:20:00

Step 2 of docs/SCALING.md's plan for the ledger's core, its last part. The one transfer with no
member was the points bank's charity match (bank → a charity's programme account, no entry):
such moves go to ``programme_transfers`` and the match rows of ``bank_spends`` to
``bank_matches``, both kept on the coordinator under Citus (local tables), each row with its id
(so a stored idempotency key still finds its spend; the two series then go on apart). Every
transfer left is a member's entry's: ``entry_id`` and ``member_id`` NOT NULL, key
``(id, member_id)``; ``bank_spends`` holds prizes only (a member, an entry, its transfer paired
with the member).

Under the tables' ACCESS EXCLUSIVE locks (the keys are rebuilt): on a big ledger, a quiet hour.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0057"
down_revision: str | None = "0056"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SPEND_FK = "fk_bank_spends_transfer_id_transfers"


def _after_max(table: str) -> None:
    """The identity of ``table`` goes on after the ids copied in."""
    op.execute(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(max(id), 0) + 1, false)"
        f" FROM {table}"
    )


def _key(table: str, columns: str) -> None:
    op.execute(f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}")
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({columns})")


def upgrade() -> None:
    op.create_table(
        "programme_transfers",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("debit_account_id", sa.BigInteger, nullable=False),
        sa.Column("credit_account_id", sa.BigInteger, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_programme_transfers"),
        sa.CheckConstraint("amount > 0", name="ck_programme_transfers_positive"),
        sa.CheckConstraint(
            "debit_account_id <> credit_account_id", name="ck_programme_transfers_two_sides"
        ),
    )
    op.create_table(
        "bank_matches",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("points", sa.BigInteger, nullable=False),
        sa.Column("charity_code", sa.String(64), nullable=False),
        sa.Column("programme_transfer_id", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(96), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_bank_matches"),
        sa.ForeignKeyConstraint(
            ["programme_transfer_id"],
            ["programme_transfers.id"],
            name="fk_bank_matches_programme_transfer_id_programme_transfers",
        ),
        sa.UniqueConstraint("programme_transfer_id", name="uq_bank_matches_programme_transfer_id"),
        sa.CheckConstraint("points > 0", name="ck_bank_matches_positive"),
    )
    op.execute(
        "INSERT INTO programme_transfers OVERRIDING SYSTEM VALUE"
        " SELECT id, debit_account_id, credit_account_id, amount, created_at"
        " FROM transfers WHERE entry_id IS NULL"
    )
    op.execute(
        "INSERT INTO bank_matches OVERRIDING SYSTEM VALUE"
        " SELECT id, points, charity_code, transfer_id, reason, actor, created_at"
        " FROM bank_spends WHERE kind = 'charity_match'"
    )
    _after_max("programme_transfers")
    _after_max("bank_matches")
    op.execute(f"ALTER TABLE bank_spends DROP CONSTRAINT {SPEND_FK}")
    op.execute("DELETE FROM bank_spends WHERE kind = 'charity_match'")
    op.execute("DELETE FROM transfers WHERE entry_id IS NULL")
    for check in ("charity_match", "prize", "kind"):
        op.execute(f"ALTER TABLE bank_spends DROP CONSTRAINT ck_bank_spends_{check}")
    op.execute("ALTER TABLE bank_spends DROP COLUMN charity_code")
    op.execute(
        "ALTER TABLE bank_spends ALTER COLUMN member_id SET NOT NULL,"
        " ALTER COLUMN entry_id SET NOT NULL,"
        " ADD CONSTRAINT ck_bank_spends_kind CHECK (kind = 'prize')"
    )
    op.execute("ALTER TABLE transfers DROP CONSTRAINT ck_transfers_member")
    op.execute(
        "ALTER TABLE transfers ALTER COLUMN member_id SET NOT NULL,"
        " ALTER COLUMN entry_id SET NOT NULL"
    )
    _key("transfers", "id, member_id")
    _key("bank_spends", "id, member_id")
    op.execute(
        f"ALTER TABLE bank_spends ADD CONSTRAINT {SPEND_FK}"
        " FOREIGN KEY (transfer_id, member_id) REFERENCES transfers (id, member_id)"
    )


def downgrade() -> None:
    op.execute(f"ALTER TABLE bank_spends DROP CONSTRAINT {SPEND_FK}")
    _key("bank_spends", "id")
    _key("transfers", "id")
    op.execute(
        "ALTER TABLE transfers ALTER COLUMN member_id DROP NOT NULL,"
        " ALTER COLUMN entry_id DROP NOT NULL,"
        " ADD CONSTRAINT ck_transfers_member CHECK ((member_id IS NULL) = (entry_id IS NULL))"
    )
    op.execute(
        "ALTER TABLE bank_spends DROP CONSTRAINT ck_bank_spends_kind,"
        " ALTER COLUMN member_id DROP NOT NULL, ALTER COLUMN entry_id DROP NOT NULL,"
        " ADD COLUMN charity_code varchar(64)"
    )
    # A programme transfer's id may now be a member transfer's too: it comes back under a new
    # id from the transfers' identity, and its match names that one.
    op.execute(
        "CREATE TEMPORARY TABLE moved ON COMMIT DROP AS"
        " SELECT id AS programme_transfer_id,"
        " nextval(pg_get_serial_sequence('transfers', 'id')) AS transfer_id"
        " FROM programme_transfers"
    )
    op.execute(
        "INSERT INTO transfers (id, debit_account_id, credit_account_id, amount, created_at)"
        " OVERRIDING SYSTEM VALUE"
        " SELECT m.transfer_id, p.debit_account_id, p.credit_account_id, p.amount, p.created_at"
        " FROM programme_transfers p JOIN moved m ON m.programme_transfer_id = p.id"
    )
    op.execute(
        "INSERT INTO bank_spends (kind, points, charity_code, transfer_id, reason, actor,"
        " created_at)"
        " SELECT 'charity_match', b.points, b.charity_code, m.transfer_id, b.reason, b.actor,"
        " b.created_at"
        " FROM bank_matches b JOIN moved m USING (programme_transfer_id) ORDER BY b.id"
    )
    op.execute(
        "ALTER TABLE bank_spends"
        " ADD CONSTRAINT ck_bank_spends_kind CHECK (kind IN ('charity_match', 'prize')),"
        " ADD CONSTRAINT ck_bank_spends_charity_match CHECK ((kind = 'charity_match')"
        " = (charity_code IS NOT NULL AND entry_id IS NULL)),"
        " ADD CONSTRAINT ck_bank_spends_prize CHECK ((kind = 'prize')"
        " = (member_id IS NOT NULL AND entry_id IS NOT NULL)),"
        f" ADD CONSTRAINT {SPEND_FK} FOREIGN KEY (transfer_id) REFERENCES transfers (id)"
    )
    op.drop_table("bank_matches")
    op.drop_table("programme_transfers")
