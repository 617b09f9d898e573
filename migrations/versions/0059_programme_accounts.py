"""programme accounts leave accounts: programme_accounts (a reference table); accounts keyed
(id, member_id), member accounts only; lots' and holds' accounts paired with their member

Revision ID: 0059
Revises: 0058
Create Date: 2026-12-05 18:30:00

Step 1 of docs/SCALING.md's plan for the ledger's core, its last. The programme's accounts
(issuance, redemption, breakage, adjustment, bank, the clearing accounts, a partner's, a
charity's: every account with no member) move to ``programme_accounts`` with their ids: no
balance row, a unique code, a reference table under Citus. A new one draws its id from the
accounts' own sequence (``accounts_id_seq``), so an account id names one account whichever
table holds it: a transfer's two account columns (no foreign key since 0045) need no table
beside them. ``accounts`` keeps the members' accounts: ``member_id NOT NULL``, the key
``(id, member_id)`` (``id`` first: every lookup by id keeps the key's index), its code no longer
unique (a member's is ``member:<id>``, unique by the member); ``lots.account_id`` and
``holds.account_id`` pair their own member; charities', exchange partners' and programme
transfers' accounts name programme accounts. ``ledger_credit_locked()``, the one function that
reads a programme account (the counter account of a credit, by code), reads the new table.

Under the tables' ACCESS EXCLUSIVE locks (the keys are rebuilt, the foreign keys checked): on a
big ledger, a quiet hour.
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import text

revision: str = "0059"
down_revision: str | None = "0058"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column) naming a programme account by id.
PROGRAMME_POINTERS = (
    ("charities", "account_id"),
    ("exchange_partners", "account_id"),
    ("programme_transfers", "debit_account_id"),
    ("programme_transfers", "credit_account_id"),
)
# Those that named an account before (programme transfers had no foreign key: 0057).
NAMED_ACCOUNTS = (("charities", "account_id"), ("exchange_partners", "account_id"))
MEMBER_POINTERS = ("lots", "holds")

# The counter account of a credit, read by code: the one programme account a function reads.
COUNTER = (
    "(SELECT a.id FROM accounts AS a WHERE a.code = p_counter_account)",
    "(SELECT a.id FROM programme_accounts AS a WHERE a.code = p_counter_account)",
)


def _rewrite(forward: bool) -> None:
    """ledger_credit_locked() as it stands, its counter account's table changed and nothing
    else."""
    old, new = COUNTER if forward else COUNTER[::-1]
    definition = op.get_bind().scalar(
        text("SELECT pg_get_functiondef(CAST(:name AS regproc))"),
        {"name": "ledger_credit_locked"},
    )
    rewritten, made = re.subn(re.escape(old), new, definition)
    if made != 1:
        raise RuntimeError(f"ledger_credit_locked: {made} counter accounts matched, not 1")
    op.execute(rewritten)


def upgrade() -> None:
    op.create_table(
        "programme_accounts",
        sa.Column(
            "id",
            sa.BigInteger,
            server_default=sa.text("nextval('accounts_id_seq'::regclass)"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("code", sa.String(96), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_accounts")),
        sa.UniqueConstraint("code", name=op.f("uq_programme_accounts_code")),
        sa.CheckConstraint("kind <> 'member'", name=op.f("ck_programme_accounts_kind")),
    )
    op.execute(
        "CREATE TRIGGER programme_accounts_refuse_delete BEFORE DELETE ON programme_accounts"
        " FOR EACH ROW EXECUTE FUNCTION accounts_refuse_delete()"
    )
    op.execute(
        "INSERT INTO programme_accounts (id, kind, code, created_at)"
        " SELECT id, kind, code, created_at FROM accounts WHERE member_id IS NULL"
    )
    for table, column in NAMED_ACCOUNTS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT fk_{table}_{column}_accounts")
    for table in MEMBER_POINTERS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT fk_{table}_account_id_accounts")
    # The trigger refuses a row's delete, not the migration's: off for this one statement.
    op.execute("ALTER TABLE accounts DISABLE TRIGGER accounts_refuse_delete")
    op.execute("DELETE FROM accounts WHERE member_id IS NULL")
    op.execute("ALTER TABLE accounts ENABLE TRIGGER accounts_refuse_delete")
    op.execute(
        "ALTER TABLE accounts DROP CONSTRAINT uq_accounts_code, DROP CONSTRAINT pk_accounts,"
        " ALTER COLUMN member_id SET NOT NULL,"
        " ADD CONSTRAINT pk_accounts PRIMARY KEY (id, member_id)"
    )
    for table in MEMBER_POINTERS:
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT fk_{table}_account_id_accounts"
            " FOREIGN KEY (account_id, member_id) REFERENCES accounts (id, member_id)"
        )
    for table, column in PROGRAMME_POINTERS:
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT fk_{table}_{column}_programme_accounts"
            f" FOREIGN KEY ({column}) REFERENCES programme_accounts (id)"
        )
    _rewrite(forward=True)


def downgrade() -> None:
    _rewrite(forward=False)
    for table, column in PROGRAMME_POINTERS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT fk_{table}_{column}_programme_accounts")
    for table in MEMBER_POINTERS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT fk_{table}_account_id_accounts")
    op.execute(
        "ALTER TABLE accounts DROP CONSTRAINT pk_accounts,"
        " ALTER COLUMN member_id DROP NOT NULL,"
        " ADD CONSTRAINT pk_accounts PRIMARY KEY (id),"
        " ADD CONSTRAINT uq_accounts_code UNIQUE (code)"
    )
    # Back with their ids (drawn from the accounts' own sequence: none is a member's).
    op.execute(
        "INSERT INTO accounts (id, kind, code, created_at) OVERRIDING SYSTEM VALUE"
        " SELECT id, kind, code, created_at FROM programme_accounts"
    )
    for table in MEMBER_POINTERS:
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT fk_{table}_account_id_accounts"
            " FOREIGN KEY (account_id) REFERENCES accounts (id)"
        )
    for table, column in NAMED_ACCOUNTS:
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT fk_{table}_{column}_accounts"
            f" FOREIGN KEY ({column}) REFERENCES accounts (id)"
        )
    op.drop_table("programme_accounts")
