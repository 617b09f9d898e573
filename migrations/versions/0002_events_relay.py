"""events: wake the relay on insert, and keep each topic's ids in commit order

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 10:00:00

Two triggers on the outbox (``events``), both written by hand:

* ``events_order_by_topic`` (BEFORE INSERT, per row) takes a transaction-scoped advisory lock on
  the row's topic and only then draws the row's id from the sequence. Two transactions writing the
  same topic are serialised from that moment to their commit, so within a topic a smaller id is
  always committed (visible) before a larger one: a subscriber resuming "after id N" of a topic can
  never miss an event that commits late with an id below N. (The identity default alone draws the
  id before any lock: a transaction that got id 10 could commit after one that got id 11.) For
  member topics the account row lock already orders the writers, so this lock is uncontended.
* ``events_notify_relay`` (AFTER INSERT, per statement) sends ``NOTIFY jifen_events``; PostgreSQL
  delivers it at commit, once per transaction, and the relay wakes up at once instead of at its next
  poll.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION events_order_by_topic() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock(hashtextextended(NEW.topic, 0));
            NEW.id := nextval(pg_get_serial_sequence('events', 'id'));
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER events_order_by_topic BEFORE INSERT ON events
        FOR EACH ROW EXECUTE FUNCTION events_order_by_topic()
        """
    )
    op.execute(
        """
        CREATE FUNCTION events_notify_relay() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('jifen_events', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER events_notify_relay AFTER INSERT ON events
        FOR EACH STATEMENT EXECUTE FUNCTION events_notify_relay()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER events_notify_relay ON events")
    op.execute("DROP FUNCTION events_notify_relay()")
    op.execute("DROP TRIGGER events_order_by_topic ON events")
    op.execute("DROP FUNCTION events_order_by_topic()")
