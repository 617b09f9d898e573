"""mall_place_orders(): concurrent placements posted by one statement, one commit (group commit)

Revision ID: 0054
Revises: 0053
Create Date: 2026-12-05 15:00:00

A flash sale's winners each placed their order with ``mall_place_order()`` (migration 0041) in
autocommit: one COMMIT each, and each COMMIT took the item's stock (the deferred trigger of
migration 0039) and so held the item's row lock through its own WAL flush — the winners of one
item committed one at a time. The placements one API process has in hand at the same moment
for one item now go out together (app/mall/onetrip.py, app/groupcommit.py): this function places
each of them with ``mall_place_order()`` itself, in one transaction, so the item's row is locked
once, at the one COMMIT, and the batch pays one WAL flush.

Each placement's outcome is its own, one row per placement (``out_index``, 1-based), in
``mall_place_order()``'s columns: ``placed``, ``out_of_stock`` or ``declined`` as that function
answers them (nothing written for the last two: the caller answers or runs the ordinary path),
or ``failed``: an unexpected error in this placement (its SQLSTATE and message in
``out_details``), its writes — its key's claim too — undone by its own subtransaction (the
``EXCEPTION`` block), its neighbours unaffected; the caller sends it again alone.

The stock is still taken at the COMMIT, by the same trigger, once per order, all under the one
lock. A placement reads the stock left as committed (the batch's own orders take theirs only at
the COMMIT), so when the batch holds more units than the item has, the COMMIT fails with
SQLSTATE ``JF409`` and takes the whole batch back: the caller then sends each placement alone,
and each gets its own answer. The gate in Redis lets through no more buyers than units, so in a
flash sale this is the rare case of a gate and a database that disagree.

Lock order. A batch holds many keys and many accounts until its COMMIT. The placements go in
member order, each claiming its key and then its account, as ``mall_place_order()`` does; a
member's keys are its own, so another batch (or a lone placement) crosses them in the same
order. A deadlock all the same (a staff caller's keys) is PostgreSQL's to break: it fails one
placement, sent alone by the API. The item's row is the last lock, at the COMMIT, as before.

The function calls ``mall_place_order()`` as it stands, so a later redefinition of that
function (its body, not its signature) needs no change here.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0054"
down_revision: str | None = "0053"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE FUNCTION mall_place_orders(
    p_caller text[], p_key text[], p_operation text[], p_fingerprint text[],
    p_member_id bigint[], p_item_id bigint[], p_item_version integer[], p_item_code text[],
    p_quantity integer[], p_unit_points bigint[], p_points bigint[], p_unit_cash numeric[],
    p_limit integer[], p_limit_since timestamptz[], p_now timestamptz[],
    p_expires_at timestamptz[], p_source text[], p_actor text[], p_created_by_kind text[],
    p_created_by_channel text[], p_hold_reason text[], p_hold_expires_at timestamptz[],
    p_hold_event jsonb[]
) RETURNS TABLE (
    out_index integer, out_outcome text, out_order_id bigint, out_hold_id bigint,
    out_cash_amount numeric, out_available bigint, out_pending bigint, out_held bigint,
    out_debt bigint, out_details jsonb
)
LANGUAGE plpgsql AS $$
DECLARE
    i integer;
    placed record;
BEGIN
    FOR i IN SELECT t.o FROM unnest(p_member_id) WITH ORDINALITY AS t(m, o) ORDER BY t.m, t.o
    LOOP
        out_index := i;
        out_details := NULL;
        BEGIN
            SELECT * INTO STRICT placed FROM mall_place_order(
                p_caller[i], p_key[i], p_operation[i], p_fingerprint[i], p_member_id[i],
                p_item_id[i], p_item_version[i], p_item_code[i], p_quantity[i],
                p_unit_points[i], p_points[i], p_unit_cash[i], p_limit[i], p_limit_since[i],
                p_now[i], p_expires_at[i], p_source[i], p_actor[i], p_created_by_kind[i],
                p_created_by_channel[i], p_hold_reason[i], p_hold_expires_at[i],
                p_hold_event[i]);
            out_outcome := placed.out_outcome;
            out_order_id := placed.out_order_id;
            out_hold_id := placed.out_hold_id;
            out_cash_amount := placed.out_cash_amount;
            out_available := placed.out_available;
            out_pending := placed.out_pending;
            out_held := placed.out_held;
            out_debt := placed.out_debt;
        EXCEPTION WHEN OTHERS THEN
            out_outcome := 'failed';
            out_order_id := NULL;
            out_hold_id := NULL;
            out_cash_amount := NULL;
            out_available := NULL;
            out_pending := NULL;
            out_held := NULL;
            out_debt := NULL;
            out_details := jsonb_build_object('sqlstate', SQLSTATE, 'message', SQLERRM);
        END;
        RETURN NEXT;
    END LOOP;
END
$$
"""

SIGNATURE = (
    "mall_place_orders(text[], text[], text[], text[], bigint[], bigint[], integer[], text[],"
    " integer[], bigint[], bigint[], numeric[], integer[], timestamptz[], timestamptz[],"
    " timestamptz[], text[], text[], text[], text[], text[], timestamptz[], jsonb[])"
)


def upgrade() -> None:
    op.execute(FUNCTION)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SIGNATURE}")
