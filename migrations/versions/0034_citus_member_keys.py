"""Citus-ready keys: member_id joins the primary key of member tables that only had ``id``

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-05 03:40:00

Citus shards a distributed table by one column and checks a primary key or a foreign key only
within a shard, so every key of a member table must carry ``member_id`` (docs/SCALING.md,
"Citus"; the rules are tested by tests/test_citus_ready.py against app/distribution.py). Here
the primary key of each member table keyed by ``id`` alone becomes ``(id, member_id)``: ``id``
stays first, so every lookup by ``id`` still uses the key's index, and ``id`` stays unique on its
own since it comes from its identity. The foreign keys that pointed at such a key by ``id`` now
pair ``member_id`` too (a refund names its member's purchase; a draw its member's ticket; an
expiry reminder its member's notification); adding them checks every existing row. A bid's
or a pledge's unique hold pairs ``member_id`` as well (a hold is one member's, so nothing that
was refused before is accepted now).

The tables keep their data. Each primary key is rebuilt under the table's ACCESS EXCLUSIVE lock
(writes to that table wait for the index build: run it in a quiet hour on a big database).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The member tables whose primary key was (id) alone: it becomes (id, member_id).
BY_ID = [
    "member_status_changes",
    "member_segment_changes",
    "tier_changes",
    "engagement_rewards",
    "earning_events",
    "purchases",
    "refunds",
    "exchanges",
    "bank_moves",
    "notifications",
    "donations",
    "checkout_payments",
    "lottery_tickets",
    "lottery_draws",
    "auction_bids",
    "pledges",
]
# table -> its primary key's columns before and after
KEYS = {table: (["id"], ["id", "member_id"]) for table in BY_ID} | {
    "purchase_lines": (["purchase_id", "line_no"], ["purchase_id", "line_no", "member_id"]),
}

# (table, column, target): the foreign keys that named a widened key by id alone
FOREIGN_KEYS = [
    ("purchase_lines", "purchase_id", "purchases"),
    ("refunds", "purchase_id", "purchases"),
    ("lottery_draws", "ticket_id", "lottery_tickets"),
    ("expiry_reminders", "notification_id", "notifications"),
]


# The tables whose unique hold gains member_id (a hold is one member's: nothing new passes).
HOLD_KEYS = ["auction_bids", "pledges"]


def _rekey(before: bool) -> None:
    for table in HOLD_KEYS:
        op.drop_constraint(f"uq_{table}_hold_id", table, type_="unique")
        op.create_unique_constraint(
            f"uq_{table}_hold_id", table, ["hold_id"] if before else ["hold_id", "member_id"]
        )
    for table, column, target in FOREIGN_KEYS:
        op.drop_constraint(f"fk_{table}_{column}_{target}", table, type_="foreignkey")
    for table, (old, new) in KEYS.items():
        op.drop_constraint(f"pk_{table}", table, type_="primary")
        op.create_primary_key(f"pk_{table}", table, old if before else new)
    for table, column, target in FOREIGN_KEYS:
        columns, targets = (
            ([column], ["id"]) if before else ([column, "member_id"], ["id", "member_id"])
        )
        op.create_foreign_key(f"fk_{table}_{column}_{target}", table, target, columns, targets)


def upgrade() -> None:
    _rekey(before=False)


def downgrade() -> None:
    _rekey(before=True)
