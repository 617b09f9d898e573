"""The games' tables: auctions and their bids, crowdfunding campaigns and their pledges.

A bid's points are a ledger hold (``hold_id``); the auction row is the lock every bid and the
close take first (``SELECT … FOR UPDATE``), so bids on one auction are applied one at a time in
the database, whatever Redis or the replicas do.
"""

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
    String,
    Table,
    Text,
    text,
)

from app.db import metadata

auctions = Table(
    "auctions",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("item_id", BigInteger, ForeignKey("mall_items.id"), nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),  # moved by anti-sniping
    Column("scheduled_end", DateTime(timezone=True), nullable=False),  # as created
    Column("starting_price", BigInteger, nullable=False),
    Column("min_increment", BigInteger, nullable=False),
    Column("reserve_price", BigInteger),
    Column("extend_seconds", Integer, nullable=False),
    Column("status", String(8), nullable=False),  # open | closed
    Column("outcome", String(16)),  # won | no_bids | reserve_not_met | out_of_stock
    Column("leading_bid_id", BigInteger),
    Column("leading_member_id", BigInteger),
    Column("leading_amount", BigInteger),
    Column("bids", Integer, nullable=False, server_default="0"),
    Column("bidders", Integer, nullable=False, server_default="0"),
    Column("extensions", Integer, nullable=False, server_default="0"),
    Column("order_id", BigInteger, ForeignKey("mall_orders.id")),
    Column("created_by", String(96), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    CheckConstraint("status IN ('open', 'closed')", name="status"),
    CheckConstraint(
        "starting_price > 0 AND min_increment > 0 AND extend_seconds >= 0", name="amounts"
    ),
    CheckConstraint("(status = 'closed') = (outcome IS NOT NULL)", name="outcome"),
    Index("ix_auctions_open_end", "ends_at", postgresql_where=text("status = 'open'")),
)

auction_bids = Table(
    "auction_bids",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("auction_id", BigInteger, ForeignKey("auctions.id"), nullable=False),
    Column("member_id", BigInteger, ForeignKey("members.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("hold_id", BigInteger, ForeignKey("holds.id"), nullable=False, unique=True),
    Column("status", String(8), nullable=False),  # leading | outbid | won | lost
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("amount > 0", name="amount"),
    CheckConstraint("status IN ('leading', 'outbid', 'won', 'lost')", name="status"),
    Index("ix_auction_bids_auction_member", "auction_id", "member_id"),
    Index("ix_auction_bids_member", "member_id", "id"),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("purpose", Text, nullable=False, server_default=""),
    Column("goal", BigInteger, nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("min_pledge", BigInteger, nullable=False),
    Column("allow_raise", Boolean, nullable=False),
    Column("allow_withdraw", Boolean, nullable=False),
    Column("status", String(8), nullable=False),  # open | closed
    Column("outcome", String(8)),  # reached | missed
    # The pledges that count: active, and once closed the committed or released ones.
    Column("pledged", BigInteger, nullable=False, server_default="0"),
    Column("backers", Integer, nullable=False, server_default="0"),
    Column("created_by", String(96), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    CheckConstraint("status IN ('open', 'closed')", name="status"),
    CheckConstraint("goal > 0 AND min_pledge > 0 AND pledged >= 0", name="amounts"),
    CheckConstraint("(status = 'closed') = (outcome IS NOT NULL)", name="outcome"),
    Index("ix_campaigns_open_end", "ends_at", postgresql_where=text("status = 'open'")),
)

pledges = Table(
    "pledges",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("campaign_id", BigInteger, ForeignKey("campaigns.id"), nullable=False),
    Column("member_id", BigInteger, ForeignKey("members.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("hold_id", BigInteger, ForeignKey("holds.id"), nullable=False, unique=True),
    # active | raised | withdrawn | committed | released
    Column("status", String(10), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("amount > 0", name="amount"),
    CheckConstraint(
        "status IN ('active', 'raised', 'withdrawn', 'committed', 'released')", name="status"
    ),
    # One standing pledge per member and campaign (the row lock keeps it so; this says it).
    Index(
        "ix_pledges_one_active",
        "campaign_id",
        "member_id",
        unique=True,
        postgresql_where=text("status = 'active'"),
    ),
    Index("ix_pledges_member", "member_id", "id"),
)
