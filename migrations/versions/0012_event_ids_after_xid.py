"""events: a writer has its transaction id before it draws an event id

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 13:15:00

The leaderboard projector's safe horizon (app/leaderboards/projector.py) waits for the
transactions a snapshot shows running; a transaction is listed there only once it has a
transaction id. Writers of ledger events always had one (they lock and write rows first), but
nothing made it so: a transaction whose first write was an event drew its id in this trigger,
before PostgreSQL gave it a transaction id on the insert, and in that window a horizon could pass
its event, which was then never applied. The trigger now takes the id first
(``pg_current_xact_id()`` assigns one when there is none), so the rule holds for every writer.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
    CREATE OR REPLACE FUNCTION events_order_by_topic() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        {xid}IF NEW.topic NOT LIKE 'signal:%' THEN
            PERFORM pg_advisory_xact_lock(hashtextextended(NEW.topic, 0));
        END IF;
        NEW.id := nextval(pg_get_serial_sequence('events', 'id'));
        RETURN NEW;
    END
    $$
"""
TAKE_XID = "PERFORM pg_current_xact_id();  -- before the event id: see migration 0012\n        "


def upgrade() -> None:
    op.execute(FUNCTION.format(xid=TAKE_XID))


def downgrade() -> None:
    op.execute(FUNCTION.format(xid=""))
