"""Endpoints, the messages owed to them, every attempt, and the dispatcher's place in the outbox."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from app.db import metadata

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("url", Text, nullable=False),
    Column("description", String(200), nullable=False, server_default=""),
    Column("event_types", ARRAY(String(64)), nullable=False),
    # The channel whose members' events it receives; null: a staff endpoint, every member.
    Column("channel", String(64)),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("disabled_reason", String(200)),
    # The signing secrets: needed in clear to sign (HMAC), so never logged nor read back by the
    # API; the previous one signs too until previous_secret_expires_at (a rotation's overlap).
    Column("secret", String(100), nullable=False),
    Column("previous_secret", String(100)),
    Column("previous_secret_expires_at", DateTime(timezone=True)),
    # Since when every attempt failed (null: the last one succeeded); too long disables it.
    Column("failing_since", DateTime(timezone=True)),
    Column("created_by", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_webhook_endpoints_channel", "channel"),
)

webhook_messages = Table(
    "webhook_messages",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column(
        "endpoint_id",
        BigInteger,
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event_id", BigInteger, nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("member_id", BigInteger),
    # The body exactly as signed and sent, kept so every attempt sends the same bytes even after
    # the outbox purged the event.
    Column("body", LargeBinary, nullable=False),
    Column("event_created_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_attempt_at", DateTime(timezone=True)),
    Column("delivered_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("endpoint_id", "event_id"),
    CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
    Index(
        "ix_webhook_messages_due",
        "endpoint_id",
        "next_attempt_at",
        "id",
        postgresql_where=text("status = 'pending'"),
    ),
    Index(
        "ix_webhook_messages_failed",
        "endpoint_id",
        "created_at",
        postgresql_where=text("status = 'failed'"),
    ),
)

# The messages in flight: a sender's lease, so that no other sender attempts the message before
# ``until``. A table of its own, not columns of the message (migration 0037): a row is inserted
# when leased and deleted when its attempt is recorded, never updated, so the lease reads a few
# live rows (the endpoints' counts in flight) where it used to walk every delivered message's
# dead index entries, and stamping a lease adds no version of the message and no entry to its
# indexes (docs/WEBHOOKS.md "Delivery").
webhook_leases = Table(
    "webhook_leases",
    metadata,
    Column(
        "message_id",
        BigInteger,
        ForeignKey("webhook_messages.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("endpoint_id", BigInteger, nullable=False),
    Column("token", UUID(as_uuid=True), nullable=False),
    Column("until", DateTime(timezone=True), nullable=False),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column(
        "message_id",
        BigInteger,
        ForeignKey("webhook_messages.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("endpoint_id", BigInteger, nullable=False),
    Column("attempted_at", DateTime(timezone=True), nullable=False),
    Column("status_code", Integer),
    Column("duration_ms", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("error", String(300)),
    Column("response_excerpt", String(500)),
    Index("ix_webhook_attempts_endpoint_id", "endpoint_id", text("id DESC")),
    Index("ix_webhook_attempts_message_id", "message_id"),
)

# One row: the outbox event id up to which messages were made (the dispatcher's cursor).
webhook_cursor = Table(
    "webhook_cursor",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("last_event_id", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
