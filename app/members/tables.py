from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY

from app.db import metadata

members = Table(
    "members",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("status_reason", Text),
    Column("name", Text),
    Column("phone", String(32)),
    Column("birthday", Date),
    # When the birthday was last set: the birthday rule pays only for a birthday on file before
    # the day (docs/EARNING.md), so setting it to today pays nothing today.
    Column("birthday_set_at", DateTime(timezone=True)),
    Column("timezone", String(64)),
    Column("tags", ARRAY(Text), nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("status IN ('active', 'frozen', 'closed')", name="status"),
    CheckConstraint("birthday IS NULL OR birthday_set_at IS NOT NULL", name="birthday_set_at"),
    # The console finds members by phone (not unique: a family may share one).
    Index("ix_members_phone", "phone"),
)

member_channel_refs = Table(
    "member_channel_refs",
    metadata,
    Column("member_id", BigInteger, ForeignKey("members.id"), nullable=False, index=True),
    Column("channel", String(64), nullable=False),
    Column("external_ref", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The ref is claimed across members in outside_keys (app/members/claims.py); the key here,
    # with member_id, still serves the lookups by ref (its leading columns).
    PrimaryKeyConstraint("channel", "external_ref", "member_id"),
)

# Every status change (freeze, unfreeze, close) with its reason and who made it.
member_status_changes = Table(
    "member_status_changes",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("member_id", BigInteger, ForeignKey("members.id"), primary_key=True, index=True),
    Column("from_status", String(16), nullable=False),
    Column("to_status", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(96), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Keys a shop, a partner or a channel sends, unique across members on purpose (an order id
# earns for one member only): each is claimed here, in the transaction that writes the member's
# row naming it, so the member's own table needs it unique only with member_id. Under Citus this
# table is distributed by ``ref`` in a group of its own (app/distribution.py): a claim is a
# one-shard insert on the key's shard (docs/SCALING.md, "Keys from outside").
outside_keys = Table(
    "outside_keys",
    metadata,
    Column("kind", String(16), nullable=False),  # app/members/claims.py's Kind
    Column("scope", String(64), nullable=False),  # the channel or partner ('' for none)
    Column("ref", String(128), nullable=False),
    Column("member_id", BigInteger, nullable=False),  # the member whose row claimed it
    PrimaryKeyConstraint("ref", "kind", "scope"),
)
