from sqlalchemy import BigInteger, Column, DateTime, Identity, Index, String, Table, func, text
from sqlalchemy.dialects.postgresql import JSONB

from app.db import metadata

# The outbox: written in the same transaction as the change it describes.
events = Table(
    "events",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("topic", String(128), nullable=False),
    Column("type", String(64), nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True)),
    Index("ix_events_topic_id", "topic", "id"),
    Index("ix_events_unpublished", "id", postgresql_where=text("published_at IS NULL")),
)
