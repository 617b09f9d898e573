"""events: the outbox's trigger names its id sequence instead of looking it up a row

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-05 09:30:00

``events_order_by_topic`` (migrations 0002, 0008, 0012) drew each event's id with
``nextval(pg_get_serial_sequence('events', 'id'))``: a catalog lookup (the name parsed, then a
scan of ``pg_depend``) for every row written to the outbox. Measured on the expiry reminders'
bulk insert (docs/PERFORMANCE.md "Expiry reminders"), the trigger cost about 8.5 µs of
PostgreSQL CPU an event, 4 of them that lookup. The sequence is now resolved once, here, and
written into the function as a ``regclass`` constant, the rest of its body left as it stands;
what the trigger does is unchanged (the transaction id first, the topic's lock, then the id
from the same sequence).
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0040"
down_revision: str | None = "0039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOOKUP = "nextval(pg_get_serial_sequence('events', 'id'))"


def _swap(old: str, new: str) -> None:
    """The trigger function as it stands, with ``old`` replaced by ``new`` and nothing else."""
    body = op.get_bind().scalar(
        text("SELECT prosrc FROM pg_proc WHERE proname = 'events_order_by_topic'")
    )
    if body.count(old) != 1:
        raise RuntimeError(f"events_order_by_topic does not call {old} once: not the known body")
    op.execute(
        "CREATE OR REPLACE FUNCTION events_order_by_topic() RETURNS trigger LANGUAGE plpgsql"
        f" AS $${body.replace(old, new)}$$"
    )


def upgrade() -> None:
    name = op.get_bind().scalar(text("SELECT pg_get_serial_sequence('events', 'id')"))
    _swap(LOOKUP, f"nextval('{name}'::regclass)")


def downgrade() -> None:
    name = op.get_bind().scalar(text("SELECT pg_get_serial_sequence('events', 'id')"))
    _swap(f"nextval('{name}'::regclass)", LOOKUP)
