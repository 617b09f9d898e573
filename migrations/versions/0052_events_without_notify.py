"""events: no NOTIFY in the writing transaction (the relay is woken by the writer after commit)

Migration 0002's ``events_notify_relay`` sent ``NOTIFY jifen_events`` from every transaction
that wrote events. PostgreSQL takes a database-wide lock (wait event ``Lock:object``) from the
pre-commit of a transaction that NOTIFYed until its commit, WAL flush included, is done: every
commit that wrote an event (each earn, check-in, purchase, redemption) queued behind the one
before it; 25 of 32 backends waited on that lock at 32 concurrent earns (docs/PERFORMANCE.md).
The process that committed now wakes the relay and the webhook senders itself, after the commit
(app/events/wake.py); a writer outside the app is found by their poll.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0052"
down_revision: str | None = "0051"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DROP TRIGGER events_notify_relay ON events")
    op.execute("DROP FUNCTION events_notify_relay()")


def downgrade() -> None:
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
