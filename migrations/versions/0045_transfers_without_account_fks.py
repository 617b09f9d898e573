"""transfers: no foreign keys to accounts; accounts are never deleted (a trigger refuses)

Every earn credits a member from the programme's one ``issuance`` account, and the foreign key
``transfers.debit_account_id → accounts(id)`` made every earning transaction take FOR KEY SHARE on
that one row: many transactions sharing a row lock is a MultiXact, created anew each time one
more transaction joins, read back at each check (group commit's batch checks it once a row).
Measured (docs/PERFORMANCE.md, bench/transfer_fk_cpu.py): dropping the two keys saved ~8% of
the CPU of an earn posted by ``ledger_post_credits()`` (median of 16 alternating pairs, 0.92).

What the keys guarded is kept otherwise (docs/LEDGER.md, "Why transfers have no foreign keys to
accounts"):

- an account id can only dangle if its account goes away: accounts are never deleted, and the
  trigger below refuses a DELETE (a TRUNCATE of accounts is a test reset, never the app's);
- every writer of transfers names accounts it has just read: the member's account locked FOR
  UPDATE, a programme account by ``(SELECT id FROM accounts WHERE code = …)`` (NULL, so refused
  by NOT NULL, if it did not exist);
- ``jifen audit`` checks "every transfer names existing accounts".

Both keys were also on the Citus-ready list (app/distribution.py): a key by id alone cannot
cross shards.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0045"
down_revision: str | None = "0044"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = {
    "fk_transfers_credit_account_id_accounts": "credit_account_id",
    "fk_transfers_debit_account_id_accounts": "debit_account_id",
}


def upgrade() -> None:
    for name in KEYS:
        op.drop_constraint(name, "transfers", type_="foreignkey")
    op.execute(
        """
CREATE FUNCTION accounts_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- transfers name accounts by id with no foreign key (migration 0045): an account, once
    -- made, stays, so no transfer can ever name a missing one.
    RAISE EXCEPTION 'accounts are never deleted (account %)', OLD.id
        USING ERRCODE = 'restrict_violation';
END
$$
"""
    )
    op.execute(
        "CREATE TRIGGER accounts_refuse_delete BEFORE DELETE ON accounts"
        " FOR EACH ROW EXECUTE FUNCTION accounts_refuse_delete()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER accounts_refuse_delete ON accounts")
    op.execute("DROP FUNCTION accounts_refuse_delete()")
    for name, column in KEYS.items():
        op.create_foreign_key(name, "transfers", "accounts", [column], ["id"])
