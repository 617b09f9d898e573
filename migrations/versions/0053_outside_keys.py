"""outside_keys: the keys a shop, partner or channel sends, claimed across members; the member
tables' keys naming them carry member_id

Revision ID: 0053
Revises: 0052
Create Date: 2026-12-05 15:10:00

An order id (``purchases (channel, order_id)``), a refund id, an earning event id, a checkout's
order reference, a partner's exchange reference and an invite code are unique across members on purpose: a replay naming another member is refused or
replayed, never paid twice. Under Citus a member table can only check a key among its member's rows, so the claim
moves to ``outside_keys`` (distributed by ``ref``, a co-location group of its own;
app/distribution.py), written in the same statement as the row (app/members/claims.py; an invite code's claim
just before its profile's update), and
the member table's unique key carries member_id (it still serves the lookups by key: its
leading columns are the key).

Every existing row's key is claimed by its member (the old unique keys guarantee one claim per
key). The new table is filled and the six keys rebuilt under their tables' ACCESS EXCLUSIVE
locks: on a big database, run it in a quiet hour.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0053"
down_revision: str | None = "0052"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# kind -> (table, scope column or None, key column, its unique key's name)
CLAIMED = {
    "purchase": ("purchases", "channel", "order_id", "uq_purchases_channel_order"),
    "refund": ("refunds", "channel", "refund_id", "uq_refunds_channel_refund"),
    "event": ("earning_events", "channel", "event_id", "uq_earning_events_channel_event"),
    "checkout": ("checkout_payments", "channel", "order_ref", "uq_checkout_payments_channel"),
    "exchange": ("exchanges", "partner_id", "partner_ref", "uq_exchanges_partner_ref"),
    "invite": ("engagement_profiles", None, "invite_code", "uq_engagement_profiles_invite_code"),
}


def _key(scope: str | None, ref: str) -> str:
    return f"{scope}, {ref}" if scope else ref


def upgrade() -> None:
    op.create_table(
        "outside_keys",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("ref", sa.String(128), nullable=False),
        sa.Column("member_id", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("ref", "kind", "scope", name="pk_outside_keys"),
    )
    for kind, (table, scope, ref, key) in CLAIMED.items():
        scoped = f"{scope}::text" if scope else "''"
        op.execute(
            f"INSERT INTO outside_keys (kind, scope, ref, member_id)"
            f" SELECT '{kind}', {scoped}, {ref}, member_id FROM {table} WHERE {ref} IS NOT NULL"
        )
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {key}")
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {key} UNIQUE ({_key(scope, ref)}, member_id)"
        )


def downgrade() -> None:
    for table, scope, ref, key in CLAIMED.values():
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {key}")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {key} UNIQUE ({_key(scope, ref)})")
    op.drop_table("outside_keys")
