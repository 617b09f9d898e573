"""mall_stock_at_commit: an order's stock taken by the database at COMMIT (issue 21)

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-05 06:10:00

A redemption used to take its stock with ``UPDATE mall_items … WHERE stock_left >= n`` as the
transaction's last statement, so the item's row stayed locked until the API worker got round to
sending COMMIT: one more round trip through an event loop that, in a flash sale, is busy
refusing thousands of other buyers. Every buyer of the item queued behind that wait, one at a
time (68 winners a second on the quiet machine).

Now an order placed with ``stock_at_commit`` has its stock taken by a deferred constraint
trigger, which PostgreSQL runs inside the COMMIT itself: the row is locked from there to the end
of the commit, with no client round trip under the lock. The condition is the same as before
(``stock_left >= quantity``), so nothing can be oversold; when it fails the trigger raises
SQLSTATE ``JF409`` and the COMMIT fails, rolling back the order, its hold and its idempotency key
with it (the API answers ``OUT_OF_STOCK``, app/mall/redemptions.py). Existing orders, and the
orders that take their stock themselves (an auction's won unit), have ``stock_at_commit`` false.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TAKE_STOCK = """
CREATE FUNCTION mall_take_stock_at_commit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE mall_items SET stock_left = stock_left - NEW.quantity
    WHERE id = NEW.item_id AND stock_left >= NEW.quantity;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'item % is out of stock', NEW.item_id
            USING ERRCODE = 'JF409', HINT = 'mall_orders.stock_at_commit';
    END IF;
    RETURN NULL;
END
$$
"""

TRIGGER = """
CREATE CONSTRAINT TRIGGER mall_orders_take_stock_at_commit
AFTER INSERT ON mall_orders
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (NEW.stock_at_commit)
EXECUTE FUNCTION mall_take_stock_at_commit()
"""


def upgrade() -> None:
    op.add_column(
        "mall_orders",
        sa.Column("stock_at_commit", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.execute(TAKE_STOCK)
    op.execute(TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER mall_orders_take_stock_at_commit ON mall_orders")
    op.execute("DROP FUNCTION mall_take_stock_at_commit()")
    op.drop_column("mall_orders", "stock_at_commit")
