"""entries, lots, holds: the key (id, member_id), and every foreign key naming them paired with
its member

Revision ID: 0055
Revises: 0054
Create Date: 2026-12-05 15:30:00

Step 4 of docs/SCALING.md's plan for the ledger's core, for entries, lots and holds: each is
keyed (id, member_id), ``id`` first so every lookup and update by id keeps the key's index (and
``id`` stays unique by its identity); no index is added. Every foreign key that named one of
them by id alone now pairs the row's own member (``(entry_id, member_id) REFERENCES entries
(id, member_id)``; a duel's challenger side and a gift's sent entry pair their owner,
``challenger_id`` / ``from_member_id``): under Citus both rows are on one member's shard, and
PostgreSQL now checks that a row names only its own member's entries, lots and holds. They must
change together: a foreign key by id alone needs the single-column key that goes. Nothing names
another member's ledger row with a foreign key any more (migration 0050 dropped those).

``transfers`` keeps its key (id) until the charity match, whose transfer has no member, leaves
it with the programme accounts; ``lots.account_id`` and ``holds.account_id`` pair with the
accounts' key then too.

Every key is rebuilt and every foreign key checked (each existing row must name its own
member's row: a row that does not stops the migration) under the tables' ACCESS EXCLUSIVE
locks: on a big ledger, a quiet hour.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0055"
down_revision: str | None = "0054"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYED = ("entries", "lots", "holds")

# (table, column, the ledger table it names, the column holding the row's member)
POINTERS = (
    ("entries", "reverses_entry_id", "entries", "member_id"),
    ("holds", "commit_entry_id", "entries", "member_id"),
    ("lots", "entry_id", "entries", "member_id"),
    ("transfers", "entry_id", "entries", "member_id"),
    ("allocations", "entry_id", "entries", "member_id"),
    ("allocations", "hold_id", "holds", "member_id"),
    ("allocations", "lot_id", "lots", "member_id"),
    ("earning_events", "entry_id", "entries", "member_id"),
    ("purchases", "entry_id", "entries", "member_id"),
    ("refunds", "entry_id", "entries", "member_id"),
    ("lottery_draws", "prize_entry_id", "entries", "member_id"),
    ("lottery_draws", "spend_entry_id", "entries", "member_id"),
    ("checkout_payments", "entry_id", "entries", "member_id"),
    ("checkout_payments", "hold_id", "holds", "member_id"),
    ("donations", "entry_id", "entries", "member_id"),
    ("mall_orders", "commit_entry_id", "entries", "member_id"),
    ("mall_orders", "return_entry_id", "entries", "member_id"),
    ("mall_orders", "hold_id", "holds", "member_id"),
    ("exchanges", "entry_id", "entries", "member_id"),
    ("auction_bids", "hold_id", "holds", "member_id"),
    ("pledges", "hold_id", "holds", "member_id"),
    ("bank_moves", "entry_id", "entries", "member_id"),
    ("bank_spends", "entry_id", "entries", "member_id"),
    ("duels", "challenger_hold_id", "holds", "challenger_id"),
    ("duels", "challenger_reward_entry_id", "entries", "challenger_id"),
    ("gifts", "sent_entry_id", "entries", "from_member_id"),
)


def _rebuild(paired: bool) -> None:
    """Drop the foreign keys, rebuild the three keys, add the foreign keys back (paired or
    by id alone)."""
    for table, column, target, _owner in POINTERS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT fk_{table}_{column}_{target}")
    key = "id, member_id" if paired else "id"
    for table in KEYED:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({key})")
    for table, column, target, owner in POINTERS:
        columns, named = (f"{column}, {owner}", key) if paired else (column, key)
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT fk_{table}_{column}_{target}"
            f" FOREIGN KEY ({columns}) REFERENCES {target} ({named})"
        )


def upgrade() -> None:
    _rebuild(paired=True)


def downgrade() -> None:
    _rebuild(paired=False)
