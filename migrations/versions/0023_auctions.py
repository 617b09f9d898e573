"""auctions: points auctions of mall items and their bids (each bid a ledger hold)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04 21:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auctions",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("item_id", sa.BigInteger, sa.ForeignKey("mall_items.id"), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scheduled_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("starting_price", sa.BigInteger, nullable=False),
        sa.Column("min_increment", sa.BigInteger, nullable=False),
        sa.Column("reserve_price", sa.BigInteger),
        sa.Column("extend_seconds", sa.Integer, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("outcome", sa.String(16)),
        sa.Column("leading_bid_id", sa.BigInteger),
        sa.Column("leading_member_id", sa.BigInteger),
        sa.Column("leading_amount", sa.BigInteger),
        sa.Column("bids", sa.Integer, nullable=False, server_default="0"),
        sa.Column("bidders", sa.Integer, nullable=False, server_default="0"),
        sa.Column("extensions", sa.Integer, nullable=False, server_default="0"),
        sa.Column("order_id", sa.BigInteger, sa.ForeignKey("mall_orders.id")),
        sa.Column("created_by", sa.String(96), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("code", name=op.f("uq_auctions_code")),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_auctions_status")),
        sa.CheckConstraint(
            "starting_price > 0 AND min_increment > 0 AND extend_seconds >= 0",
            name=op.f("ck_auctions_amounts"),
        ),
        sa.CheckConstraint(
            "(status = 'closed') = (outcome IS NOT NULL)", name=op.f("ck_auctions_outcome")
        ),
    )
    op.create_index(
        "ix_auctions_open_end",
        "auctions",
        ["ends_at"],
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_table(
        "auction_bids",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("auction_id", sa.BigInteger, sa.ForeignKey("auctions.id"), nullable=False),
        sa.Column("member_id", sa.BigInteger, sa.ForeignKey("members.id"), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("hold_id", sa.BigInteger, sa.ForeignKey("holds.id"), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("hold_id", name=op.f("uq_auction_bids_hold_id")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_auction_bids_amount")),
        sa.CheckConstraint(
            "status IN ('leading', 'outbid', 'won', 'lost')", name=op.f("ck_auction_bids_status")
        ),
    )
    op.create_index("ix_auction_bids_auction_member", "auction_bids", ["auction_id", "member_id"])
    op.create_index("ix_auction_bids_member", "auction_bids", ["member_id", "id"])


def downgrade() -> None:
    op.drop_table("auction_bids")
    op.drop_table("auctions")
