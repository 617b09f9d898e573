"""The ledger's tables: accounts, journal entries, transfers, lots, allocations, holds, keys.

Every lot, allocation, hold and balance change of a member account happens while that account's
row is locked (``SELECT … FOR UPDATE``): the account row is the one lock that orders all writes.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.schema import SchemaItem

from app.db import metadata

CREATOR_KINDS = ("member", "staff", "partner", "system")


def created_by_columns() -> list[SchemaItem]:
    """Who created an entry or a hold, structured (the principal's kind, and for a partner the
    channel its key acts for): what ownership checks read. ``source`` and ``actor`` are free text
    for people and are never trusted for a permission."""
    kinds = ", ".join(f"'{kind}'" for kind in CREATOR_KINDS)
    return [
        Column("created_by_kind", String(16), nullable=False),
        Column("created_by_channel", String(64)),
        CheckConstraint(f"created_by_kind IN ({kinds})", name="created_by_kind"),
        CheckConstraint(
            "(created_by_kind = 'partner') = (created_by_channel IS NOT NULL)",
            name="created_by_channel",
        ),
    ]


# The members' accounts, one a member. The programme's own accounts are in
# ``programme_accounts`` (migration 0059): under Citus these rows are sharded by their member.
accounts = Table(
    "accounts",
    metadata,
    Column("id", BigInteger, Identity()),
    # Always member: the other kinds moved to programme_accounts (migration 0059).
    Column("kind", String(16), nullable=False),
    Column("code", String(96), nullable=False),  # member:<id>
    Column("member_id", BigInteger, ForeignKey("members.id"), nullable=False, unique=True),
    # id first: a lookup by id keeps the key's index (migration 0059).
    PrimaryKeyConstraint("id", "member_id"),
    # Materialised balances (a programme account keeps none: it would be a hot row every
    # transfer locks; its balance is a sum over transfers).
    Column("available", BigInteger, nullable=False, server_default="0"),
    Column("pending", BigInteger, nullable=False, server_default="0"),
    Column("held", BigInteger, nullable=False, server_default="0"),
    Column("debt", BigInteger, nullable=False, server_default="0"),
    Column("lifetime_earned", BigInteger, nullable=False, server_default="0"),
    Column("lifetime_spent", BigInteger, nullable=False, server_default="0"),
    # The earliest moment a lot of this account activates or expires: settling is skipped before.
    Column("next_due_at", DateTime(timezone=True)),
    Column("version", BigInteger, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("available >= 0 AND pending >= 0 AND held >= 0 AND debt >= 0", name="balances"),
    CheckConstraint("(kind = 'member') = (member_id IS NOT NULL)", name="member_kind"),
    # The expiry sweep finds the accounts with something due without scanning them all.
    Index(
        "ix_accounts_next_due_at",
        "next_due_at",
        postgresql_where=text("kind = 'member' AND next_due_at IS NOT NULL"),
    ),
)

# The programme's accounts (migration 0059): issuance, redemption, breakage, adjustment, bank,
# the clearing accounts (gifts, games), a partner's, a charity's. No member and no balance row
# (a balance is a sum over transfers); a reference table under Citus. Ids come from the
# accounts' own sequence, so an id names one account of either table: a transfer's account
# columns need no table beside them.
programme_accounts = Table(
    "programme_accounts",
    metadata,
    Column(
        "id",
        BigInteger,
        server_default=text("nextval('accounts_id_seq'::regclass)"),
        primary_key=True,
    ),
    # issuance | redemption | breakage | adjustment | bank | clearing | partner | charity
    Column("kind", String(16), nullable=False),
    Column("code", String(96), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("kind <> 'member'", name="kind"),
)

entries = Table(
    "entries",
    metadata,
    Column("id", BigInteger, Identity()),
    Column("member_id", BigInteger, ForeignKey("members.id"), nullable=False),
    # id first: a lookup by id keeps the key's index (migration 0055).
    PrimaryKeyConstraint("id", "member_id"),
    # earn | spend | reversal | adjustment | expiry
    Column("kind", String(16), nullable=False),
    # Signed change to the member's posted balance (available + pending + held - debt).
    Column("amount", BigInteger, nullable=False),
    Column("balance_after", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("source", String(64), nullable=False),
    Column("reference", String(128)),
    Column("actor", String(96), nullable=False),
    *created_by_columns(),
    Column("reverses_entry_id", BigInteger),
    ForeignKeyConstraint(["reverses_entry_id", "member_id"], ["entries.id", "entries.member_id"]),
    Column("reversed_amount", BigInteger, nullable=False, server_default="0"),
    Column("hold_id", BigInteger),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("reversed_amount >= 0 AND reversed_amount <= abs(amount)", name="reversed"),
    Index("ix_entries_member_id_id", "member_id", "id"),
    # Reading a period's entries (exports, the segments' window moving on by a day) without
    # scanning the journal.
    Index("ix_entries_created_at", "created_at"),
    # Reversals only: a scan of the journal with the entries reversals reverse finds them
    # without joining every entry (queries._ALL_ENTRIES_WITH_REVERSED).
    Index(
        "ix_entries_reverses_entry_id",
        "reverses_entry_id",
        postgresql_where=text("reverses_entry_id IS NOT NULL"),
    ),
)


def _moved() -> list[SchemaItem]:
    """What a transfer and a programme transfer both hold: the move, between two accounts.

    Accounts by id with no foreign key: the key's FOR KEY SHARE on the issuance account, taken
    by every earn, cost ~8% of an earn's CPU (migration 0045; docs/LEDGER.md says what keeps
    them whole instead: accounts are never deleted, writers read them, the audit checks)."""
    return [
        Column("debit_account_id", BigInteger, nullable=False),
        Column("credit_account_id", BigInteger, nullable=False),
        Column("amount", BigInteger, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        CheckConstraint("amount > 0", name="positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="two_sides"),
    ]


transfers = Table(
    "transfers",
    metadata,
    Column("id", BigInteger, Identity()),
    # Every transfer is one member's entry's (a move between two programme accounts is a
    # programme transfer, below: migration 0057); Citus distributes transfers by the member.
    Column("entry_id", BigInteger, nullable=False, index=True),
    Column("member_id", BigInteger, nullable=False),
    # id first: a lookup by id keeps the key's index (migration 0057).
    PrimaryKeyConstraint("id", "member_id"),
    ForeignKeyConstraint(["entry_id", "member_id"], ["entries.id", "entries.member_id"]),
    *_moved(),
    Index("ix_transfers_debit", "debit_account_id"),
    Index("ix_transfers_credit", "credit_account_id"),
)

# A move between two programme accounts, with no member and so no entry (the points bank's
# charity matching: docs/BANK.md), which its domain row names. Kept on the coordinator under
# Citus (a local table): a programme account's balance sums its transfers and these (0057).
programme_transfers = Table(
    "programme_transfers",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    *_moved(),
    # Rare (a charity match), so the foreign keys' share locks cost nothing on a hot path.
    ForeignKeyConstraint(["debit_account_id"], ["programme_accounts.id"]),
    ForeignKeyConstraint(["credit_account_id"], ["programme_accounts.id"]),
)

lots = Table(
    "lots",
    metadata,
    Column("id", BigInteger, Identity()),
    Column("account_id", BigInteger, nullable=False),
    Column("member_id", BigInteger, nullable=False),
    # id first: a lookup by id keeps the key's index (migration 0055).
    PrimaryKeyConstraint("id", "member_id"),
    # The account of the lot's own member (migration 0059).
    ForeignKeyConstraint(["account_id", "member_id"], ["accounts.id", "accounts.member_id"]),
    Column("entry_id", BigInteger, nullable=False, index=True),
    ForeignKeyConstraint(["entry_id", "member_id"], ["entries.id", "entries.member_id"]),
    # What went into the lot (a credit first pays off any debt; the rest becomes the lot).
    Column("amount", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
    Column("pending", Boolean, nullable=False),
    Column("available_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining"),
    Index(
        "ix_lots_open",
        "account_id",
        text("expires_at NULLS LAST"),
        "id",
        postgresql_where=text("remaining > 0"),
    ),
    # The expiry reminders' scan: open lots expiring within the next N days, over all members.
    Index(
        "ix_lots_open_expiry",
        "expires_at",
        postgresql_where=text("remaining > 0 AND expires_at IS NOT NULL"),
    ),
)

holds = Table(
    "holds",
    metadata,
    Column("id", BigInteger, Identity()),
    Column("member_id", BigInteger, ForeignKey("members.id"), nullable=False, index=True),
    # id first: a lookup by id keeps the key's index (migration 0055).
    PrimaryKeyConstraint("id", "member_id"),
    Column("account_id", BigInteger, nullable=False),
    # The account of the hold's own member (migration 0059).
    ForeignKeyConstraint(["account_id", "member_id"], ["accounts.id", "accounts.member_id"]),
    Column("amount", BigInteger, nullable=False),
    # active | committed | voided
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("source", String(64), nullable=False),
    Column("reference", String(128)),
    Column("actor", String(96), nullable=False),
    *created_by_columns(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("settled_at", DateTime(timezone=True)),
    Column("commit_entry_id", BigInteger),
    ForeignKeyConstraint(["commit_entry_id", "member_id"], ["entries.id", "entries.member_id"]),
    CheckConstraint("amount > 0", name="positive"),
    CheckConstraint("status IN ('active', 'committed', 'voided')", name="status"),
    Index("ix_holds_active_expiry", "expires_at", postgresql_where=text("status = 'active'")),
)

# Which lots a debit, a hold or an expiry took, so that a reversal or a void can put the points
# back into the very lots (and expiry dates) they came from.
allocations = Table(
    "allocations",
    metadata,
    Column("id", BigInteger, Identity()),
    # The lot's member (migration 0051): in the key, as Citus would shard allocations by it.
    Column("member_id", BigInteger, nullable=False),
    Column("lot_id", BigInteger, nullable=False, index=True),
    ForeignKeyConstraint(["lot_id", "member_id"], ["lots.id", "lots.member_id"]),
    Column("entry_id", BigInteger, index=True),
    ForeignKeyConstraint(["entry_id", "member_id"], ["entries.id", "entries.member_id"]),
    Column("hold_id", BigInteger, index=True),
    ForeignKeyConstraint(["hold_id", "member_id"], ["holds.id", "holds.member_id"]),
    Column("amount", BigInteger, nullable=False),
    Column("returned", BigInteger, nullable=False, server_default="0"),
    CheckConstraint("amount > 0 AND returned >= 0 AND returned <= amount", name="amounts"),
    CheckConstraint("entry_id IS NOT NULL OR hold_id IS NOT NULL", name="owner"),
    PrimaryKeyConstraint("id", "member_id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("caller", String(96), nullable=False),
    Column("key", String(128), nullable=False),
    Column("operation", String(64), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("response", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("caller", "key"),
    Index("ix_idempotency_keys_created_at", "created_at"),  # the retention job's order
)
