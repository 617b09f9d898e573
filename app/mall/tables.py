"""The mall's tables: catalogue items, coupon codes, redemption orders, lotteries, charities,
donations and points-at-checkout payments.

Member-owned rows carry ``member_id`` (distributable by member). Every write that moves points or
counts toward a member's limit happens under the member's account lock (the ledger's one lock);
stock is changed by a conditional ``UPDATE … WHERE stock_left >= n`` on the item row, always
after the account lock, so the lock order is the same everywhere (account, then item); a placed
order's is taken at its COMMIT (``stock_at_commit``), after every other write.
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
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from app.db import metadata

MONEY = Numeric(14, 2)

mall_items = Table(
    "mall_items",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("image_url", Text),
    # coupon | goods | service | experience | partner_voucher | parking
    Column("kind", String(24), nullable=False),
    Column("points_price", BigInteger, nullable=False),
    Column("cash_price", MONEY, nullable=False, server_default="0"),
    # Both null: unlimited. stock_left is what can still be reserved by an order.
    Column("stock_total", BigInteger),
    Column("stock_left", BigInteger),
    Column("per_member_limit", Integer),
    Column("limit_period", String(8)),  # day | week | month | ever (business-local)
    Column("min_tier", String(32)),  # tier-only items: this tier or a higher one
    Column("sale_starts_at", DateTime(timezone=True)),
    Column("sale_ends_at", DateTime(timezone=True)),
    Column("price_rules", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("best_before", DateTime(timezone=True)),  # the goods' own expiry (dynamic prices)
    Column("flash", Boolean, nullable=False, server_default="false"),
    Column("coupon_source", String(16)),  # pool | generator; null: not a coupon
    Column("fulfilment", String(16), nullable=False),  # instant | shipped
    Column("active", Boolean, nullable=False, server_default="true"),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(96), nullable=False),
    CheckConstraint("points_price >= 0 AND cash_price >= 0", name="prices"),
    CheckConstraint("(stock_total IS NULL) = (stock_left IS NULL)", name="stock_both"),
    CheckConstraint("stock_left >= 0 AND stock_left <= stock_total", name="stock_range"),
    CheckConstraint("per_member_limit IS NULL OR per_member_limit > 0", name="limit_positive"),
)

mall_coupon_codes = Table(
    "mall_coupon_codes",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("item_id", BigInteger, ForeignKey("mall_items.id"), nullable=False),
    Column("code", String(64), nullable=False, unique=True),
    Column("status", String(8), nullable=False),  # free | issued | void
    # The order that took it, without a foreign key: under Citus orders are distributed and
    # codes stay on the coordinator (migration 0044); the audit checks it names an order of the
    # code's item and member (app/mall/audit.py).
    Column("order_id", BigInteger, index=True),
    Column("member_id", BigInteger),
    Column("issued_at", DateTime(timezone=True)),
    CheckConstraint("status IN ('free', 'issued', 'void')", name="status"),
    Index("ix_mall_coupon_codes_free", "item_id", "id", postgresql_where=text("status = 'free'")),
)

mall_orders = Table(
    "mall_orders",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    # In the key for Citus (migration 0044): nothing names an order by id alone with a
    # foreign key any more.
    Column("member_id", BigInteger, ForeignKey("members.id"), primary_key=True),
    Column("item_id", BigInteger, ForeignKey("mall_items.id"), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_points", BigInteger, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("cash_amount", MONEY, nullable=False),
    # placed | confirmed | fulfilled | cancelled | expired | returned
    Column("status", String(16), nullable=False),
    Column("hold_id", BigInteger),
    ForeignKeyConstraint(["hold_id", "member_id"], ["holds.id", "holds.member_id"]),
    Column("commit_entry_id", BigInteger),
    ForeignKeyConstraint(["commit_entry_id", "member_id"], ["entries.id", "entries.member_id"]),
    Column("return_entry_id", BigInteger),
    ForeignKeyConstraint(["return_entry_id", "member_id"], ["entries.id", "entries.member_id"]),
    Column("payment_ref", String(128)),
    Column("paid_amount", MONEY),
    Column("source", String(64), nullable=False),
    Column("actor", String(96), nullable=False),
    Column("fulfilment_ref", String(128)),
    Column("close_reason", Text),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("confirmed_at", DateTime(timezone=True)),
    Column("fulfilled_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    # Its stock is taken by a deferred trigger inside the COMMIT (migration 0039), so a hot
    # item's row is never locked across a round trip to the API.
    Column("stock_at_commit", Boolean, nullable=False, server_default=text("false")),
    CheckConstraint("quantity > 0 AND points >= 0 AND cash_amount >= 0", name="amounts"),
    CheckConstraint(
        "status IN ('placed', 'confirmed', 'fulfilled', 'cancelled', 'expired', 'returned')",
        name="status",
    ),
    # A payment is claimed across members in outside_keys (app/members/claims.py).
    UniqueConstraint("payment_ref", "member_id"),
    Index("ix_mall_orders_member_item", "member_id", "item_id", "created_at"),
    Index("ix_mall_orders_placed_expiry", "expires_at", postgresql_where=text("status = 'placed'")),
)

lottery_pools = Table(
    "lottery_pools",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("kind", String(16), nullable=False),  # lottery | blind_box | wheel
    Column("cost_points", BigInteger, nullable=False),
    Column("fallback_prize_code", String(64)),  # awarded when the drawn prize is out of stock
    Column("active", Boolean, nullable=False, server_default="true"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("cost_points >= 0", name="cost"),
)

lottery_prizes = Table(
    "lottery_prizes",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("pool_id", BigInteger, ForeignKey("lottery_pools.id"), nullable=False),
    Column("code", String(64), nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", String(16), nullable=False),  # points | coupon | goods | nothing
    Column("weight", BigInteger, nullable=False),
    Column("points", BigInteger, nullable=False, server_default="0"),
    Column("stock_total", BigInteger),
    Column("stock_left", BigInteger),
    Column("position", Integer, nullable=False),
    UniqueConstraint("pool_id", "code"),
    CheckConstraint("weight >= 0 AND points >= 0", name="weights"),
    CheckConstraint("stock_left >= 0 AND stock_left <= stock_total", name="stock_range"),
)

lottery_tickets = Table(
    "lottery_tickets",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("member_id", BigInteger, ForeignKey("members.id"), primary_key=True, index=True),
    Column("pool_id", BigInteger, ForeignKey("lottery_pools.id"), nullable=False),
    Column("source_ref", String(128), nullable=False),
    Column("status", String(8), nullable=False),  # open | used
    Column("granted_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    Column("draw_id", BigInteger),
    CheckConstraint("status IN ('open', 'used')", name="status"),
    # Claimed across members in outside_keys (app/members/claims.py); unique here per member.
    UniqueConstraint("source_ref", "member_id"),
)

lottery_draws = Table(
    "lottery_draws",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("pool_id", BigInteger, ForeignKey("lottery_pools.id"), nullable=False),
    Column("member_id", BigInteger, ForeignKey("members.id"), primary_key=True),
    # What the roll picked, and what was awarded (they differ when the pick was out of stock).
    Column("drawn_prize_id", BigInteger, ForeignKey("lottery_prizes.id"), nullable=False),
    Column("prize_id", BigInteger, ForeignKey("lottery_prizes.id"), nullable=False),
    Column("fell_back", Boolean, nullable=False),
    Column("roll", BigInteger, nullable=False),
    Column("total_weight", BigInteger, nullable=False),
    Column("odds", JSONB, nullable=False),  # the weights as they were at the draw
    Column("cost_points", BigInteger, nullable=False),
    Column("ticket_id", BigInteger),
    Column("spend_entry_id", BigInteger),
    ForeignKeyConstraint(["spend_entry_id", "member_id"], ["entries.id", "entries.member_id"]),
    Column("prize_entry_id", BigInteger),
    ForeignKeyConstraint(["prize_entry_id", "member_id"], ["entries.id", "entries.member_id"]),
    Column("coupon_code", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    ForeignKeyConstraint(
        ["ticket_id", "member_id"], ["lottery_tickets.id", "lottery_tickets.member_id"]
    ),
    Index("ix_lottery_draws_member", "member_id", "id"),
)

charities = Table(
    "charities",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column(
        "account_id", BigInteger, ForeignKey("programme_accounts.id"), nullable=False, unique=True
    ),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

donations = Table(
    "donations",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("member_id", BigInteger, ForeignKey("members.id"), primary_key=True, index=True),
    Column("charity_id", BigInteger, ForeignKey("charities.id"), nullable=False, index=True),
    Column("points", BigInteger, nullable=False),
    Column("entry_id", BigInteger, nullable=False),
    ForeignKeyConstraint(["entry_id", "member_id"], ["entries.id", "entries.member_id"]),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("points > 0", name="positive"),
)

checkout_payments = Table(
    "checkout_payments",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("member_id", BigInteger, ForeignKey("members.id"), primary_key=True, index=True),
    Column("channel", String(64), nullable=False),
    Column("order_ref", String(128), nullable=False),
    Column("basket_amount", MONEY, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("cash_value", MONEY, nullable=False),
    Column("hold_id", BigInteger, nullable=False),
    ForeignKeyConstraint(["hold_id", "member_id"], ["holds.id", "holds.member_id"]),
    Column("status", String(12), nullable=False),  # held | committed | voided
    Column("entry_id", BigInteger),
    ForeignKeyConstraint(["entry_id", "member_id"], ["entries.id", "entries.member_id"]),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("settled_at", DateTime(timezone=True)),
    # Unique across members by its claim (app/members/claims.py): here with the member.
    UniqueConstraint("channel", "order_ref", "member_id", name="uq_checkout_payments_channel"),
    CheckConstraint("status IN ('held', 'committed', 'voided')", name="status"),
)
