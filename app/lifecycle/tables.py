"""The points lifecycle's tables: notifications and expiry reminders, status changes, gifts,
partner exchange.

Member-owned tables carry ``member_id`` (docs/SCALING.md: by member). Gifts and
exchanges are written under the ledger's account locks, in the same transaction as their
entries.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from app.db import metadata

RATE = Numeric(18, 6)

# What a member is told (expiry reminders today; other domains may add kinds), read or unread.
notifications = Table(
    "notifications",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("member_id", BigInteger, ForeignKey("members.id"), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("payload", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("read_at", DateTime(timezone=True)),
    Index("ix_notifications_member_id_id", "member_id", "id"),
)

# One reminder per member, per expiry day, per threshold: the primary key makes a second run
# of the job (or a second replica running it) a no-op.
expiry_reminders = Table(
    "expiry_reminders",
    metadata,
    Column("member_id", BigInteger, ForeignKey("members.id"), nullable=False),
    Column("expires_on", Date, nullable=False),  # business-local day the points expire
    Column("threshold_days", Integer, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("notification_id", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("member_id", "expires_on", "threshold_days"),
    # The member's own notification: the key pairs member_id, so the two rows share a shard.
    ForeignKeyConstraint(
        ["notification_id", "member_id"], ["notifications.id", "notifications.member_id"]
    ),
    # The retention job's order, and its check that a notification is still named.
    Index("ix_expiry_reminders_expires_on", "expires_on"),
    Index("ix_expiry_reminders_notification_id", "notification_id"),
)

gifts = Table(
    "gifts",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("from_member_id", BigInteger, ForeignKey("members.id"), primary_key=True),
    # The recipient's side lives on another member's shard (Citus): no foreign key, the audit
    # checks it (migration 0050).
    Column("to_member_id", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("message", Text),
    Column("sent_entry_id", BigInteger, nullable=False),
    ForeignKeyConstraint(["sent_entry_id", "from_member_id"], ["entries.id", "entries.member_id"]),
    Column("received_entry_id", BigInteger, nullable=False),
    Column("business_day", Date, nullable=False),  # the sender's daily limit counts per day
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("amount > 0", name="positive"),
    CheckConstraint("from_member_id <> to_member_id", name="two_members"),
    Index("ix_gifts_from_member_id_business_day", "from_member_id", "business_day"),
    Index("ix_gifts_to_member_id", "to_member_id"),
)

# Coalition partners ("积分联盟"), staff-managed. Rates are points per one point of the other
# side: rate_in = our points for one partner point, rate_out = partner points for one of ours.
exchange_partners = Table(
    "exchange_partners",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("account_id", BigInteger, ForeignKey("programme_accounts.id"), nullable=False),
    Column("rate_in", RATE, nullable=False),
    Column("rate_out", RATE, nullable=False),
    Column("min_points", BigInteger, nullable=False),  # per exchange, in our points
    Column("max_points", BigInteger, nullable=False),  # per exchange, in our points
    Column("daily_limit", BigInteger, nullable=False),  # per member per day, our points
    Column("enabled", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(96), nullable=False),
    CheckConstraint("rate_in > 0 AND rate_out > 0", name="rates"),
    CheckConstraint("0 < min_points AND min_points <= max_points", name="limits"),
    CheckConstraint("daily_limit >= max_points", name="daily_limit"),
)

# One row per exchange; the partner's reference makes a replay return the first result.
exchanges = Table(
    "exchanges",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("partner_id", BigInteger, ForeignKey("exchange_partners.id"), nullable=False),
    Column("partner_ref", String(128), nullable=False),
    Column("direction", String(8), nullable=False),  # in | out
    Column("member_id", BigInteger, ForeignKey("members.id"), primary_key=True),
    Column("partner_points", BigInteger, nullable=False),
    Column("points", BigInteger, nullable=False),  # ours
    Column("rate", RATE, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("entry_id", BigInteger, nullable=False),
    ForeignKeyConstraint(["entry_id", "member_id"], ["entries.id", "entries.member_id"]),
    Column("business_day", Date, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("direction IN ('in', 'out')", name="direction"),
    CheckConstraint("points > 0 AND partner_points > 0", name="positive"),
    # Unique across members by its claim (app/members/claims.py): here with the member.
    UniqueConstraint("partner_id", "partner_ref", "member_id", name="uq_exchanges_partner_ref"),
    Index("ix_exchanges_member_id_business_day", "member_id", "business_day"),
)

# The points bank (docs/BANK.md). A member's move of its expiring points, before they expire,
# into a donation or lottery tickets: its entry is the member's spend of ``points``.
bank_moves = Table(
    "bank_moves",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("member_id", BigInteger, ForeignKey("members.id"), primary_key=True, index=True),
    Column("kind", String(16), nullable=False),  # donation | lottery
    Column("expires_on", Date, nullable=False),  # the last valid day of the points moved
    Column("points", BigInteger, nullable=False),
    Column("target", String(64), nullable=False),  # the charity's or the lottery pool's code
    Column("tickets", Integer, nullable=False, server_default="0"),
    Column("entry_id", BigInteger, nullable=False),
    ForeignKeyConstraint(["entry_id", "member_id"], ["entries.id", "entries.member_id"]),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("kind IN ('donation', 'lottery')", name="kind"),
    CheckConstraint("points > 0", name="positive"),
)

# Staff's prizes from the pool (bank → a member, an earn): each names its member's transfer.
bank_spends = Table(
    "bank_spends",
    metadata,
    Column("id", BigInteger, Identity()),
    Column("member_id", BigInteger, ForeignKey("members.id"), nullable=False),
    # id first: a lookup by id keeps the key's index (migration 0057).
    PrimaryKeyConstraint("id", "member_id"),
    Column("kind", String(16), nullable=False),  # prize
    Column("points", BigInteger, nullable=False),
    Column("transfer_id", BigInteger, nullable=False),
    ForeignKeyConstraint(["transfer_id", "member_id"], ["transfers.id", "transfers.member_id"]),
    Column("entry_id", BigInteger, nullable=False),
    ForeignKeyConstraint(["entry_id", "member_id"], ["entries.id", "entries.member_id"]),
    Column("reason", Text, nullable=False),
    Column("actor", String(96), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("kind = 'prize'", name="kind"),
    CheckConstraint("points > 0", name="positive"),
)

# Staff's charity matching from the pool (bank → the charity's account): no member, so on the
# programme's side with its programme transfer (a local table under Citus; migration 0057).
bank_matches = Table(
    "bank_matches",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("points", BigInteger, nullable=False),
    Column("charity_code", String(64), nullable=False),
    Column(
        "programme_transfer_id",
        BigInteger,
        ForeignKey("programme_transfers.id"),
        nullable=False,
        unique=True,
    ),
    Column("reason", Text, nullable=False),
    Column("actor", String(96), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("points > 0", name="positive"),
)
