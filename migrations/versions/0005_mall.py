"""points mall: catalogue, redemptions, flash sales, lotteries, donations (issue 6)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lottery_pools",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("cost_points", sa.BigInteger(), nullable=False),
        sa.Column("fallback_prize_code", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("cost_points >= 0", name=op.f("ck_lottery_pools_cost")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lottery_pools")),
        sa.UniqueConstraint("code", name=op.f("uq_lottery_pools_code")),
    )
    op.create_table(
        "mall_items",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("image_url", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("points_price", sa.BigInteger(), nullable=False),
        sa.Column(
            "cash_price", sa.Numeric(precision=14, scale=2), server_default="0", nullable=False
        ),
        sa.Column("stock_total", sa.BigInteger(), nullable=True),
        sa.Column("stock_left", sa.BigInteger(), nullable=True),
        sa.Column("per_member_limit", sa.Integer(), nullable=True),
        sa.Column("limit_period", sa.String(length=8), nullable=True),
        sa.Column("min_tier", sa.String(length=32), nullable=True),
        sa.Column("sale_starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sale_ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "price_rules",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("best_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("flash", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("coupon_source", sa.String(length=16), nullable=True),
        sa.Column("fulfilment", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=96), nullable=False),
        sa.CheckConstraint(
            "(stock_total IS NULL) = (stock_left IS NULL)", name=op.f("ck_mall_items_stock_both")
        ),
        sa.CheckConstraint(
            "per_member_limit IS NULL OR per_member_limit > 0",
            name=op.f("ck_mall_items_limit_positive"),
        ),
        sa.CheckConstraint(
            "points_price >= 0 AND cash_price >= 0", name=op.f("ck_mall_items_prices")
        ),
        sa.CheckConstraint(
            "stock_left >= 0 AND stock_left <= stock_total", name=op.f("ck_mall_items_stock_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mall_items")),
        sa.UniqueConstraint("code", name=op.f("uq_mall_items_code")),
    )
    op.create_table(
        "lottery_prizes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("pool_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("weight", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("stock_total", sa.BigInteger(), nullable=True),
        sa.Column("stock_left", sa.BigInteger(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "stock_left >= 0 AND stock_left <= stock_total",
            name=op.f("ck_lottery_prizes_stock_range"),
        ),
        sa.CheckConstraint("weight >= 0 AND points >= 0", name=op.f("ck_lottery_prizes_weights")),
        sa.ForeignKeyConstraint(
            ["pool_id"], ["lottery_pools.id"], name=op.f("fk_lottery_prizes_pool_id_lottery_pools")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lottery_prizes")),
        sa.UniqueConstraint("pool_id", "code", name=op.f("uq_lottery_prizes_pool_id")),
    )
    op.create_table(
        "lottery_tickets",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("pool_id", sa.BigInteger(), nullable=False),
        sa.Column("source_ref", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("draw_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("status IN ('open', 'used')", name=op.f("ck_lottery_tickets_status")),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_lottery_tickets_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["pool_id"], ["lottery_pools.id"], name=op.f("fk_lottery_tickets_pool_id_lottery_pools")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lottery_tickets")),
        sa.UniqueConstraint("source_ref", name=op.f("uq_lottery_tickets_source_ref")),
    )
    op.create_index(
        op.f("ix_lottery_tickets_member_id"), "lottery_tickets", ["member_id"], unique=False
    )
    op.create_table(
        "charities",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_charities_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charities")),
        sa.UniqueConstraint("account_id", name=op.f("uq_charities_account_id")),
        sa.UniqueConstraint("code", name=op.f("uq_charities_code")),
    )
    op.create_table(
        "lottery_draws",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("pool_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("drawn_prize_id", sa.BigInteger(), nullable=False),
        sa.Column("prize_id", sa.BigInteger(), nullable=False),
        sa.Column("fell_back", sa.Boolean(), nullable=False),
        sa.Column("roll", sa.BigInteger(), nullable=False),
        sa.Column("total_weight", sa.BigInteger(), nullable=False),
        sa.Column("odds", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("cost_points", sa.BigInteger(), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=True),
        sa.Column("spend_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("prize_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("coupon_code", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["drawn_prize_id"],
            ["lottery_prizes.id"],
            name=op.f("fk_lottery_draws_drawn_prize_id_lottery_prizes"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_lottery_draws_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["pool_id"], ["lottery_pools.id"], name=op.f("fk_lottery_draws_pool_id_lottery_pools")
        ),
        sa.ForeignKeyConstraint(
            ["prize_entry_id"], ["entries.id"], name=op.f("fk_lottery_draws_prize_entry_id_entries")
        ),
        sa.ForeignKeyConstraint(
            ["prize_id"],
            ["lottery_prizes.id"],
            name=op.f("fk_lottery_draws_prize_id_lottery_prizes"),
        ),
        sa.ForeignKeyConstraint(
            ["spend_entry_id"], ["entries.id"], name=op.f("fk_lottery_draws_spend_entry_id_entries")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["lottery_tickets.id"],
            name=op.f("fk_lottery_draws_ticket_id_lottery_tickets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lottery_draws")),
    )
    op.create_index("ix_lottery_draws_member", "lottery_draws", ["member_id", "id"], unique=False)
    op.create_table(
        "checkout_payments",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("order_ref", sa.String(length=128), nullable=False),
        sa.Column("basket_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("cash_value", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("hold_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('held', 'committed', 'voided')", name=op.f("ck_checkout_payments_status")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["entries.id"], name=op.f("fk_checkout_payments_entry_id_entries")
        ),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["holds.id"], name=op.f("fk_checkout_payments_hold_id_holds")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_checkout_payments_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkout_payments")),
        sa.UniqueConstraint("channel", "order_ref", name=op.f("uq_checkout_payments_channel")),
    )
    op.create_index(
        op.f("ix_checkout_payments_member_id"), "checkout_payments", ["member_id"], unique=False
    )
    op.create_table(
        "donations",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("charity_id", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("points > 0", name=op.f("ck_donations_positive")),
        sa.ForeignKeyConstraint(
            ["charity_id"], ["charities.id"], name=op.f("fk_donations_charity_id_charities")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["entries.id"], name=op.f("fk_donations_entry_id_entries")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_donations_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_donations")),
    )
    op.create_index(op.f("ix_donations_charity_id"), "donations", ["charity_id"], unique=False)
    op.create_index(op.f("ix_donations_member_id"), "donations", ["member_id"], unique=False)
    op.create_table(
        "mall_orders",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_points", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("cash_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("hold_id", sa.BigInteger(), nullable=True),
        sa.Column("commit_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("return_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("payment_ref", sa.String(length=128), nullable=True),
        sa.Column("paid_amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=96), nullable=False),
        sa.Column("fulfilment_ref", sa.String(length=128), nullable=True),
        sa.Column("close_reason", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fulfilled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('placed', 'confirmed', 'fulfilled', 'cancelled', 'expired', 'returned')",
            name=op.f("ck_mall_orders_status"),
        ),
        sa.CheckConstraint(
            "quantity > 0 AND points >= 0 AND cash_amount >= 0", name=op.f("ck_mall_orders_amounts")
        ),
        sa.ForeignKeyConstraint(
            ["commit_entry_id"], ["entries.id"], name=op.f("fk_mall_orders_commit_entry_id_entries")
        ),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["holds.id"], name=op.f("fk_mall_orders_hold_id_holds")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["mall_items.id"], name=op.f("fk_mall_orders_item_id_mall_items")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_mall_orders_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["return_entry_id"], ["entries.id"], name=op.f("fk_mall_orders_return_entry_id_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mall_orders")),
        sa.UniqueConstraint("payment_ref", name=op.f("uq_mall_orders_payment_ref")),
    )
    op.create_index(
        "ix_mall_orders_member_item",
        "mall_orders",
        ["member_id", "item_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_mall_orders_placed_expiry",
        "mall_orders",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'placed'"),
    )
    op.create_table(
        "mall_coupon_codes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=True),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('free', 'issued', 'void')", name=op.f("ck_mall_coupon_codes_status")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["mall_items.id"], name=op.f("fk_mall_coupon_codes_item_id_mall_items")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["mall_orders.id"], name=op.f("fk_mall_coupon_codes_order_id_mall_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mall_coupon_codes")),
        sa.UniqueConstraint("code", name=op.f("uq_mall_coupon_codes_code")),
    )
    op.create_index(
        "ix_mall_coupon_codes_free",
        "mall_coupon_codes",
        ["item_id", "id"],
        unique=False,
        postgresql_where=sa.text("status = 'free'"),
    )
    op.create_index(
        op.f("ix_mall_coupon_codes_order_id"), "mall_coupon_codes", ["order_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_mall_coupon_codes_order_id"), table_name="mall_coupon_codes")
    op.drop_index(
        "ix_mall_coupon_codes_free",
        table_name="mall_coupon_codes",
        postgresql_where=sa.text("status = 'free'"),
    )
    op.drop_table("mall_coupon_codes")
    op.drop_index(
        "ix_mall_orders_placed_expiry",
        table_name="mall_orders",
        postgresql_where=sa.text("status = 'placed'"),
    )
    op.drop_index("ix_mall_orders_member_item", table_name="mall_orders")
    op.drop_table("mall_orders")
    op.drop_index(op.f("ix_donations_member_id"), table_name="donations")
    op.drop_index(op.f("ix_donations_charity_id"), table_name="donations")
    op.drop_table("donations")
    op.drop_index(op.f("ix_checkout_payments_member_id"), table_name="checkout_payments")
    op.drop_table("checkout_payments")
    op.drop_index("ix_lottery_draws_member", table_name="lottery_draws")
    op.drop_table("lottery_draws")
    op.drop_table("charities")
    op.drop_index(op.f("ix_lottery_tickets_member_id"), table_name="lottery_tickets")
    op.drop_table("lottery_tickets")
    op.drop_table("lottery_prizes")
    op.drop_table("mall_items")
    op.drop_table("lottery_pools")
