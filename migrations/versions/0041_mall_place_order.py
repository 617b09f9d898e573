"""mall_place_order(): a redemption's placement in one statement; the hold as the ledger's SQL

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-05 09:15:00

A placement (``placeRedemption``: a flash sale's winner) ran 15 statements between BEGIN and
COMMIT — the key's claim, the account's lock, the item, the member's orders for the limit,
``nextval``, the member's status, the lots, their update, the hold, its allocations, the account,
the hold's event, the order, its event, the key's answer — each a round trip through an API
worker that a rush keeps busy, under the member's lock (docs/PERFORMANCE.md, "Flash sale").
``mall_place_order()`` runs the same statements, in the same order and under the same locks,
inside the one statement that calls it, sent in autocommit: the statement is the transaction,
and the item's stock is still taken by the deferred trigger of migration 0039 in its COMMIT.

The hold itself (the lots taken first to expire first, the hold, its allocations, the account
and the ``hold.created`` event, the account already locked) is ``ledger_hold_locked()``: the
ledger's hold in SQL, as ``ledger_credit_locked()`` (migration 0033) is its credit.

It places only the common case: a new key, a known and active member with the points and
nothing to settle, the item as the caller priced it (same version; no running experiment
overriding its price), within the member's limit. For anything else it writes nothing (a key it
claimed is deleted again) and answers ``declined``: the caller runs the ordinary path, which
answers exactly as it always did. Too little stock left, read where the ordinary path reads it,
answers ``out_of_stock`` (nothing written); taken by others before the COMMIT, the COMMIT fails
with SQLSTATE ``JF409`` as before.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOLD = """
CREATE FUNCTION ledger_hold_locked(
    account accounts, p_member_id bigint, p_amount bigint, p_reason text, p_source text,
    p_reference text, p_actor text, p_created_by_kind text, p_created_by_channel text,
    p_expires_at timestamptz, p_now timestamptz, p_hold_event jsonb
) RETURNS TABLE (
    out_hold_id bigint, out_available bigint, out_pending bigint, out_held bigint,
    out_debt bigint
)
LANGUAGE plpgsql AS $$
DECLARE
    lot record;
    left_to_take bigint := p_amount;
    portion bigint;
    taken_lots bigint[] := '{}';
    taken bigint[] := '{}';
    v_hold_id bigint;
BEGIN
    -- The hold (app/ledger/service.py Ledger.hold) on the account the caller locked and found
    -- active with the points available: the lots first to expire first, then oldest
    -- (app/ledger/lots.py take_available).
    FOR lot IN
        SELECT l.id, l.remaining FROM lots AS l
        WHERE l.account_id = account.id AND l.remaining > 0 AND NOT l.pending
        ORDER BY l.expires_at ASC NULLS LAST, l.id
    LOOP
        EXIT WHEN left_to_take = 0;
        portion := least(lot.remaining, left_to_take);
        taken_lots := taken_lots || lot.id;
        taken := taken || portion;
        left_to_take := left_to_take - portion;
    END LOOP;
    IF left_to_take > 0 THEN  -- the lots disagree with the balance: never guess
        RAISE EXCEPTION 'account %: lots hold less than its balance', account.id;
    END IF;
    UPDATE lots AS l SET remaining = l.remaining - t.amount
    FROM unnest(taken_lots, taken) AS t(lot_id, amount) WHERE l.id = t.lot_id;
    INSERT INTO holds (member_id, account_id, amount, status, reason, source, reference, actor,
                       created_by_kind, created_by_channel, expires_at, created_at)
    VALUES (p_member_id, account.id, p_amount, 'active', p_reason, p_source, p_reference,
            p_actor, p_created_by_kind, p_created_by_channel, p_expires_at, p_now)
    RETURNING id INTO v_hold_id;
    INSERT INTO allocations (lot_id, amount, entry_id, hold_id)
    SELECT t.lot_id, t.amount, NULL, v_hold_id
    FROM unnest(taken_lots, taken) WITH ORDINALITY AS t(lot_id, amount, n) ORDER BY t.n;

    -- The account saved and the event appended (app/ledger/journal.py finish).
    account.available := account.available - p_amount;
    account.held := account.held + p_amount;
    UPDATE accounts AS a
    SET available = account.available, pending = account.pending, held = account.held,
        debt = account.debt, lifetime_earned = account.lifetime_earned,
        lifetime_spent = account.lifetime_spent, next_due_at = account.next_due_at,
        version = a.version + 1
    WHERE a.id = account.id;
    INSERT INTO events (topic, type, payload)
    VALUES ('member:' || p_member_id, 'hold.created', jsonb_build_object(
        'member_id', p_member_id,
        'balance', jsonb_build_object(
            'available', account.available, 'pending', account.pending,
            'held', account.held, 'debt', account.debt,
            'total', account.available + account.pending + account.held - account.debt),
        'hold', p_hold_event || jsonb_build_object(
            'id', v_hold_id, 'amount', p_amount, 'reference', p_reference)
    ));

    RETURN QUERY SELECT v_hold_id, account.available, account.pending, account.held,
                        account.debt;
END
$$
"""

PLACE = """
CREATE FUNCTION mall_place_order(
    p_caller text, p_key text, p_operation text, p_fingerprint text,
    p_member_id bigint, p_item_id bigint, p_item_version integer, p_item_code text,
    p_quantity integer, p_unit_points bigint, p_points bigint, p_unit_cash numeric,
    p_limit integer, p_limit_since timestamptz, p_now timestamptz, p_expires_at timestamptz,
    p_source text, p_actor text, p_created_by_kind text, p_created_by_channel text,
    p_hold_reason text, p_hold_expires_at timestamptz, p_hold_event jsonb
) RETURNS TABLE (
    out_outcome text, out_order_id bigint, out_hold_id bigint, out_cash_amount numeric,
    out_available bigint, out_pending bigint, out_held bigint, out_debt bigint
)
LANGUAGE plpgsql AS $$
DECLARE
    account accounts%ROWTYPE;
    item mall_items%ROWTYPE;
    v_status text;
    v_already bigint;
    v_order_id bigint;
    held record;
    placed mall_orders%ROWTYPE;
BEGIN
    -- 1. The key, first (the order of the ordinary path): a concurrent request with the same
    --    key waits here until this statement ends. Taken: a replay or a reuse, not ours.
    INSERT INTO idempotency_keys (caller, key, operation, fingerprint, created_at)
    VALUES (p_caller, p_key, p_operation, p_fingerprint, p_now)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'declined', NULL::bigint, NULL::bigint, NULL::numeric,
                            NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;

    -- 2. The member's account, locked (the limit counts under it); the item as the caller
    --    priced it (its version), with no running experiment overriding its price (the
    --    ordinary path would assign the member to one); the member's units in the period.
    SELECT * INTO account FROM accounts AS a WHERE a.member_id = p_member_id FOR UPDATE;
    SELECT * INTO item FROM mall_items AS i WHERE i.id = p_item_id;
    IF account.id IS NULL OR item.id IS NULL OR item.version <> p_item_version
       OR EXISTS (
           SELECT 1 FROM experiments AS e
           JOIN experiment_variants AS v ON v.experiment_id = e.id
           JOIN experiment_variant_overrides AS o ON o.variant_id = v.id
           WHERE e.status = 'running' AND o.kind = 'item_price' AND o.code = p_item_code)
    THEN
        RETURN QUERY SELECT * FROM mall_place_given_up(p_caller, p_key, 'declined');
        RETURN;
    END IF;
    IF p_limit IS NOT NULL THEN
        SELECT coalesce(sum(o.quantity), 0) INTO v_already FROM mall_orders AS o
        WHERE o.member_id = p_member_id AND o.item_id = p_item_id
          AND o.status IN ('placed', 'confirmed', 'fulfilled')
          AND (p_limit_since IS NULL OR o.created_at >= p_limit_since);
        IF v_already + p_quantity > p_limit THEN
            RETURN QUERY SELECT * FROM mall_place_given_up(p_caller, p_key, 'declined');
            RETURN;
        END IF;
    END IF;
    IF item.stock_left IS NOT NULL AND item.stock_left < p_quantity THEN
        RETURN QUERY SELECT * FROM mall_place_given_up(p_caller, p_key, 'out_of_stock');
        RETURN;
    END IF;

    -- 3. The hold: the member's status read after the lock, in a statement of its own (a new
    --    snapshot: a status change commits under this lock); an active member, nothing to
    --    settle first, the points available — else the ordinary path answers.
    SELECT m.status INTO v_status FROM members AS m WHERE m.id = p_member_id;
    IF v_status <> 'active' OR account.next_due_at <= p_now OR account.available < p_points THEN
        RETURN QUERY SELECT * FROM mall_place_given_up(p_caller, p_key, 'declined');
        RETURN;
    END IF;
    v_order_id := nextval(pg_get_serial_sequence('mall_orders', 'id'));
    SELECT * INTO held FROM ledger_hold_locked(
        account, p_member_id, p_points, p_hold_reason, p_source, 'mall-order:' || v_order_id,
        p_actor, p_created_by_kind, p_created_by_channel, p_hold_expires_at, p_now,
        p_hold_event);

    -- 4. The order (its stock taken at COMMIT, migration 0039), its event, the key's answer.
    INSERT INTO mall_orders (id, stock_at_commit, member_id, item_id, quantity, unit_points,
                             points, cash_amount, status, hold_id, source, actor, expires_at,
                             created_at)
    VALUES (v_order_id, item.stock_total IS NOT NULL, p_member_id, p_item_id, p_quantity,
            p_unit_points, p_points, p_unit_cash * p_quantity, 'placed', held.out_hold_id,
            p_source, p_actor, p_expires_at, p_now)
    RETURNING * INTO placed;
    INSERT INTO events (topic, type, payload)
    VALUES ('member:' || p_member_id, 'redemption.placed', jsonb_build_object(
        'member_id', p_member_id,
        'order', jsonb_build_object(
            'id', placed.id, 'item_id', placed.item_id, 'quantity', placed.quantity,
            'points', placed.points, 'cash_amount', placed.cash_amount::text,
            'status', placed.status, 'hold_id', placed.hold_id,
            'commit_entry_id', placed.commit_entry_id,
            'return_entry_id', placed.return_entry_id, 'coupon_codes', '[]'::jsonb)
    ));
    UPDATE idempotency_keys AS k SET response = jsonb_build_object('order_id', v_order_id)
    WHERE k.caller = p_caller AND k.key = p_key;

    RETURN QUERY SELECT 'placed', v_order_id, held.out_hold_id, placed.cash_amount,
                        held.out_available, held.out_pending, held.out_held, held.out_debt;
END
$$
"""

GIVEN_UP = """
CREATE FUNCTION mall_place_given_up(p_caller text, p_key text, p_outcome text) RETURNS TABLE (
    out_outcome text, out_order_id bigint, out_hold_id bigint, out_cash_amount numeric,
    out_available bigint, out_pending bigint, out_held bigint, out_debt bigint
)
LANGUAGE sql AS $$
    -- Nothing written but the key this statement claimed, given up again: the ordinary path
    -- (declined) claims it itself, and a refused buyer may retry with it (out of stock).
    DELETE FROM idempotency_keys AS k WHERE k.caller = p_caller AND k.key = p_key;
    SELECT p_outcome, NULL::bigint, NULL::bigint, NULL::numeric,
           NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint;
$$
"""

SIGNATURES = (
    "mall_place_order(text, text, text, text, bigint, bigint, integer, text, integer, bigint,"
    " bigint, numeric, integer, timestamptz, timestamptz, timestamptz, text, text, text, text,"
    " text, timestamptz, jsonb)",
    "mall_place_given_up(text, text, text)",
    "ledger_hold_locked(accounts, bigint, bigint, text, text, text, text, text, text,"
    " timestamptz, timestamptz, jsonb)",
)


def upgrade() -> None:
    op.execute(HOLD)
    op.execute(GIVEN_UP)
    op.execute(PLACE)


def downgrade() -> None:
    for signature in SIGNATURES:
        op.execute(f"DROP FUNCTION {signature}")
