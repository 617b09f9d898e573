"""transfers and allocations: a member_id column, set by every writer; allocations' key
(id, member_id)

Revision ID: 0051
Revises: 0050
Create Date: 2026-12-05 15:00:00

The ledger's core reached its member only through entries, lots and holds, so Citus could not
place a transfer or an allocation on its member's shard (docs/SCALING.md, "What the ledger's
core needs", steps 2 and 3). Now:

- ``transfers.member_id`` is the member side of the transfer: its entry's member. A transfer
  with no entry (the points bank's charity matching, two programme accounts) has none: the
  column stays NULL there, and only there (a CHECK), until that move leaves for a programme-side
  table of its own (step 2's rest, with the programme accounts; app/distribution.py lists it).
- ``allocations.member_id`` is its lot's member, ``NOT NULL``; the key becomes (id, member_id),
  ``id`` first so a lookup by id keeps its index. Its foreign keys to lots, entries and holds
  pair member_id once those tables' keys are widened (step 4).

The SQL functions that write them (``ledger_credit_locked``: a transfer; ``ledger_hold_locked``:
allocations) set the column: each ``INSERT`` is rewritten in place, the rest of their body as it
stands (as migration 0044 did for events). Backfilled from entries and lots; the new columns
have no default, so a writer that forgets one fails (allocations: NOT NULL; transfers: the
CHECK). The backfill rewrites both tables under their ACCESS EXCLUSIVE locks: a quiet hour.
"""

import re
from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0051"
down_revision: str | None = "0050"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# function -> its INSERT as it stands and as it becomes: the text before and after the
# whitespace (kept as it is) that separates the column list from the rows.
REWRITES = {
    "ledger_credit_locked": (
        (
            "INSERT INTO transfers (entry_id, debit_account_id, credit_account_id, amount,"
            " created_at)",
            "VALUES (v_entry_id, ",
        ),
        (
            "INSERT INTO transfers (member_id, entry_id, debit_account_id, credit_account_id,"
            " amount, created_at)",
            "VALUES (p_member_id, v_entry_id, ",
        ),
    ),
    "ledger_hold_locked": (
        ("INSERT INTO allocations (lot_id, amount, entry_id, hold_id)", "SELECT t.lot_id, "),
        (
            "INSERT INTO allocations (member_id, lot_id, amount, entry_id, hold_id)",
            "SELECT p_member_id, t.lot_id, ",
        ),
    ),
}


def _rewrite(forward: bool) -> None:
    """Each function as it stands, its one INSERT rewritten and nothing else."""
    for name, (without, with_) in REWRITES.items():
        old, new = (without, with_) if forward else (with_, without)
        definition = op.get_bind().scalar(
            text("SELECT pg_get_functiondef(CAST(:name AS regproc))"), {"name": name}
        )
        rewritten, made = re.subn(
            re.escape(old[0]) + r"(\s+)" + re.escape(old[1]),
            lambda found, new=new: new[0] + found.group(1) + new[1],
            definition,
        )
        if made != 1:
            raise RuntimeError(f"{name}: {made} INSERTs matched, not 1: not the known body")
        op.execute(rewritten)


# Each row's member, from the rows it moves (a transfer with no entry keeps none).
BACKFILL = (
    "UPDATE transfers t SET member_id = e.member_id FROM entries e WHERE e.id = t.entry_id",
    "UPDATE allocations al SET member_id = l.member_id FROM lots l WHERE l.id = al.lot_id",
)


def upgrade() -> None:
    op.execute("ALTER TABLE transfers ADD COLUMN member_id bigint")
    op.execute("ALTER TABLE allocations ADD COLUMN member_id bigint")
    for statement in BACKFILL:
        op.execute(statement)
    op.execute(
        "ALTER TABLE transfers ADD CONSTRAINT ck_transfers_member"
        " CHECK ((member_id IS NULL) = (entry_id IS NULL))"
    )
    op.execute("ALTER TABLE allocations ALTER COLUMN member_id SET NOT NULL")
    op.execute("ALTER TABLE allocations DROP CONSTRAINT pk_allocations")
    op.execute("ALTER TABLE allocations ADD CONSTRAINT pk_allocations PRIMARY KEY (id, member_id)")
    _rewrite(forward=True)


def downgrade() -> None:
    _rewrite(forward=False)
    op.execute("ALTER TABLE allocations DROP CONSTRAINT pk_allocations")
    op.execute("ALTER TABLE allocations ADD CONSTRAINT pk_allocations PRIMARY KEY (id)")
    op.execute("ALTER TABLE allocations DROP COLUMN member_id")
    op.execute("ALTER TABLE transfers DROP COLUMN member_id")
