from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    String,
    Table,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB

from app.db import metadata

# The outbox: written in the same transaction as the change it describes. ``member_id`` is the
# member whose write raised the event (0: none, app/events/outbox.py ``PROGRAMME``), the column
# Citus distributes it by; the key is (id, member_id), and its index serves every read by id.
events = Table(
    "events",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("member_id", BigInteger, primary_key=True, autoincrement=False),
    Column("topic", String(128), nullable=False),
    Column("type", String(64), nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True)),
    Index("ix_events_topic_id", "topic", "id"),
    Index("ix_events_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    # A member topic's events are that member's: the column never contradicts the topic.
    CheckConstraint(
        "topic NOT LIKE 'member:%' OR topic = 'member:' || member_id",
        name="ck_events_member_topic",
    ),
)

# What a reader of the outbox delivers of an event (the programme feed, the webhook dispatcher).
EVENT_COLUMNS = (
    events.c.id,
    events.c.topic,
    events.c.type,
    events.c.payload,
    events.c.created_at,
    events.c.member_id,
)

# How far the relay's retention purged the outbox: the greatest id it deleted (one row, written by
# the purge's own statement). A projector whose cursor is below it missed events only the ledger
# still has; a gap left by a rolled-back id is not a purge, so it is never mistaken for one.
events_purge_mark = Table(
    "events_purge_mark",
    metadata,
    Column("id", Boolean, primary_key=True, server_default=true()),
    Column("purged_through", BigInteger, nullable=False),
    CheckConstraint("id", name="ck_events_purge_mark_one_row"),
)
