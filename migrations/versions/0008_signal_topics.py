"""events: change-signal topics are not ordered (no topic lock)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 01:50:00

Migration 0002's ``events_order_by_topic`` serialises the writers of a topic from their insert to
their commit, so that a subscriber resuming "after id N" of that topic misses nothing. Some topics
are only *change signals*: their subscribers re-read state from PostgreSQL on each burst and never
resume by id (a challenge's board, written by every purchase and check-in that feeds the
challenge). For those the lock buys nothing and makes one lock every such transaction queues on.
Topics named ``signal:…`` skip it; their ids are still drawn by the trigger.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORDERED = """
    CREATE OR REPLACE FUNCTION events_order_by_topic() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_advisory_xact_lock(hashtextextended(NEW.topic, 0));
        NEW.id := nextval(pg_get_serial_sequence('events', 'id'));
        RETURN NEW;
    END
    $$
"""

SIGNALS_UNORDERED = """
    CREATE OR REPLACE FUNCTION events_order_by_topic() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.topic NOT LIKE 'signal:%' THEN
            PERFORM pg_advisory_xact_lock(hashtextextended(NEW.topic, 0));
        END IF;
        NEW.id := nextval(pg_get_serial_sequence('events', 'id'));
        RETURN NEW;
    END
    $$
"""


def upgrade() -> None:
    op.execute(SIGNALS_UNORDERED)


def downgrade() -> None:
    op.execute(ORDERED)
