"""outside_keys for the last three: a mall order's payment, a lottery ticket's source ref and a
member's channel ref

Revision ID: 0056
Revises: 0055
Create Date: 2026-12-05 16:20:00

As migration 0053 did for six keys: a key a shop, partner or channel sends is unique across
members on purpose, so its claim moves to ``outside_keys`` (written in the row's own statement,
app/members/claims.py) and the member table's key carries member_id. ``member_channel_refs``
had no primary key: its unique key becomes the primary key ``(channel, external_ref,
member_id)``.

Every existing row's key is claimed by its member (the old unique keys guarantee one claim per
key), under the three tables' ACCESS EXCLUSIVE locks: on a big database, a quiet hour.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0056"
down_revision: str | None = "0055"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# kind -> (table, scope column or None, key column, its unique key's name, the new key's
# constraint: UNIQUE or PRIMARY KEY, and its name)
CLAIMED = {
    "payment": (
        "mall_orders",
        None,
        "payment_ref",
        "uq_mall_orders_payment_ref",
        ("UNIQUE", "uq_mall_orders_payment_ref"),
    ),
    "ticket": (
        "lottery_tickets",
        None,
        "source_ref",
        "uq_lottery_tickets_source_ref",
        ("UNIQUE", "uq_lottery_tickets_source_ref"),
    ),
    "channel_ref": (
        "member_channel_refs",
        "channel",
        "external_ref",
        "uq_member_channel_refs_channel_ref",
        ("PRIMARY KEY", "pk_member_channel_refs"),
    ),
}


def _key(scope: str | None, ref: str) -> str:
    return f"{scope}, {ref}" if scope else ref


def upgrade() -> None:
    for kind, (table, scope, ref, old, (constraint, name)) in CLAIMED.items():
        scoped = f"{scope}::text" if scope else "''"
        op.execute(
            f"INSERT INTO outside_keys (kind, scope, ref, member_id)"
            f" SELECT '{kind}', {scoped}, {ref}, member_id FROM {table} WHERE {ref} IS NOT NULL"
        )
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {old}")
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} {constraint}"
            f" ({_key(scope, ref)}, member_id)"
        )


def downgrade() -> None:
    for kind, (table, scope, ref, old, (_, name)) in CLAIMED.items():
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {old} UNIQUE ({_key(scope, ref)})")
        op.execute(f"DELETE FROM outside_keys WHERE kind = '{kind}'")
