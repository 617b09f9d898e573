"""events: a member_id column, filled by every writer, and the key (id, member_id); mall_orders'
key (id, member_id) once nothing names an order by id alone with a foreign key

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-05 12:00:00

The outbox named its member only inside ``topic`` (``member:<id>``), so Citus could not
distribute it with the member's other rows (docs/SCALING.md, "Citus"). ``member_id`` is the
member whose write raised the event: a member topic's member (a CHECK holds the column to the
topic), the member whose write raised a signal (``signal:…``), or 0 for an event no member's
write raised (a job's, staff's, an alert's; docs/DECISIONS.md, "The outbox carries member_id").
It has no default: a writer that does not set it fails on NOT NULL.

Existing rows are backfilled from their topic (a signal written before this carries 0). The
primary key becomes (id, member_id): ``id`` stays first, so the relay's and the readers' reads
by id (the purge's head, the marks, ``max(id)``) use the key's index as before, and ``id`` stays
unique by its identity. The SQL functions that append events (``ledger_credit_locked``,
``ledger_hold_locked``, ``mall_place_order``, ``engagement_check_in``) now set it: each of their
``INSERT INTO events`` is rewritten in place, the rest of their body as it stands.

The backfill rewrites the outbox's member rows and the key is rebuilt under the table's ACCESS
EXCLUSIVE lock (every write that appends an event waits): on a big outbox, run it in a quiet hour.

``mall_orders`` (distributed by member) was named by ``id`` alone from ``auctions`` (a reference
table: the winner's order) and ``mall_coupon_codes`` (local: the order that took a code), so
its key could not widen. Both pointers stay, without their foreign keys: each is written only
in the transaction that inserts the order it names (an auction's close, a redemption), orders
are never deleted, and the audit checks that each names an order of the right member and item
(app/games/audit.py, app/mall/audit.py). The key then becomes (id, member_id), rebuilt under
the table's ACCESS EXCLUSIVE lock.
"""

import re
from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0044"
down_revision: str | None = "0043"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# function -> how many events it appends (each with its p_member_id: the member it writes for)
FUNCTIONS = {
    "ledger_credit_locked": 1,
    "ledger_hold_locked": 1,
    "mall_place_order": 1,
    "engagement_check_in": 3,
}
WITHOUT = (
    r"INSERT INTO events \(topic, type, payload\)(\s+)VALUES \(",
    r"INSERT INTO events (member_id, topic, type, payload)\1VALUES (p_member_id, ",
)
WITH = (
    r"INSERT INTO events \(member_id, topic, type, payload\)(\s+)VALUES \(p_member_id, ",
    r"INSERT INTO events (topic, type, payload)\1VALUES (",
)

# The tables naming an order by id alone (a reference one and a local one).
ORDER_POINTERS = ("auctions", "mall_coupon_codes")

BACKFILL = """
    UPDATE events SET member_id = CAST(substring(topic FROM 8) AS bigint)
    WHERE topic LIKE 'member:%'
"""


def _rewrite(pattern: str, replacement: str) -> None:
    """Each function as it stands, its events' INSERTs rewritten and nothing else."""
    for name, count in FUNCTIONS.items():
        definition = op.get_bind().scalar(
            text("SELECT pg_get_functiondef(CAST(:name AS regproc))"), {"name": name}
        )
        rewritten, made = re.subn(pattern, replacement, definition)
        if made != count:
            raise RuntimeError(f"{name} appends {made} events, not {count}: not the known body")
        op.execute(rewritten)


def upgrade() -> None:
    # Every existing row 0, then the member topics' rows their member: no NULL in between.
    op.execute("ALTER TABLE events ADD COLUMN member_id bigint NOT NULL DEFAULT 0")
    op.execute(BACKFILL)
    op.execute("ALTER TABLE events ALTER COLUMN member_id DROP DEFAULT")
    op.execute(
        "ALTER TABLE events ADD CONSTRAINT ck_events_member_topic"
        " CHECK (topic NOT LIKE 'member:%' OR topic = 'member:' || member_id)"
    )
    op.execute("ALTER TABLE events DROP CONSTRAINT pk_events")
    op.execute("ALTER TABLE events ADD CONSTRAINT pk_events PRIMARY KEY (id, member_id)")
    _rewrite(*WITHOUT)
    for table in ORDER_POINTERS:
        op.drop_constraint(f"fk_{table}_order_id_mall_orders", table, type_="foreignkey")
    op.execute("ALTER TABLE mall_orders DROP CONSTRAINT pk_mall_orders")
    op.execute("ALTER TABLE mall_orders ADD CONSTRAINT pk_mall_orders PRIMARY KEY (id, member_id)")


def downgrade() -> None:
    op.execute("ALTER TABLE mall_orders DROP CONSTRAINT pk_mall_orders")
    op.execute("ALTER TABLE mall_orders ADD CONSTRAINT pk_mall_orders PRIMARY KEY (id)")
    for table in ORDER_POINTERS:
        op.create_foreign_key(
            f"fk_{table}_order_id_mall_orders", table, "mall_orders", ["order_id"], ["id"]
        )
    _rewrite(*WITH)
    op.execute("ALTER TABLE events DROP CONSTRAINT pk_events")
    op.execute("ALTER TABLE events ADD CONSTRAINT pk_events PRIMARY KEY (id)")
    op.execute("ALTER TABLE events DROP CONSTRAINT ck_events_member_topic")
    op.execute("ALTER TABLE events DROP COLUMN member_id")
