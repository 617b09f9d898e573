"""ledger_post_credit(): an earn's whole posting in one statement (one round trip)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05 00:30:00

``earnPoints`` ran ten round trips (BEGIN, the key's claim, the account's lock, the member's
status, the entry and its transfer, the lot, the account, the event, the key's response,
COMMIT), and the API paid each one's CPU on both sides. This function runs the same statements,
in the same order and under the same locks (the key first, then the member's account), inside
the one statement that calls it — in autocommit, so the statement is the transaction.

It posts only the common case: a new key, an account that is open and has nothing due (no
settlement to run first). For anything else — a replay or a reused key, an unknown or closed
member, an account with lots to settle — it writes nothing (a key it claimed is deleted again)
and returns no row, and the caller runs the ledger's ordinary path, which answers exactly as it
always did (docs/PERFORMANCE.md, "The posting in one round trip").
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE FUNCTION ledger_post_credit(
    p_caller text, p_key text, p_operation text, p_fingerprint text,
    p_member_id bigint, p_kind text, p_amount bigint, p_counter_account text,
    p_reason text, p_source text, p_reference text, p_actor text,
    p_created_by_kind text, p_created_by_channel text, p_details jsonb,
    p_now timestamptz, p_available_at timestamptz, p_expires_at timestamptz,
    p_event_type text, p_entry_event jsonb
) RETURNS TABLE (
    out_entry_id bigint, out_available bigint, out_pending bigint, out_held bigint,
    out_debt bigint, out_details jsonb
)
LANGUAGE plpgsql AS $$
DECLARE
    account accounts%ROWTYPE;
    v_status text;
    paid_off bigint;
    lot_amount bigint;
    in_pending boolean := p_available_at > p_now;
    posted_details jsonb := p_details;
    balance_total bigint;
    v_entry_id bigint;
BEGIN
    -- 1. The key, first (the order of the ledger's path): a concurrent request with the same
    --    key waits here until this statement ends. Taken: a replay or a reuse, not ours.
    INSERT INTO idempotency_keys (caller, key, operation, fingerprint, created_at)
    VALUES (p_caller, p_key, p_operation, p_fingerprint, p_now)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN;
    END IF;

    -- 2. The member's account, locked; its status read after the lock, in a statement of its
    --    own (a new snapshot: a status change commits under this lock).
    SELECT * INTO account FROM accounts AS a WHERE a.member_id = p_member_id FOR UPDATE;
    IF account.id IS NOT NULL THEN
        SELECT m.status INTO v_status FROM members AS m WHERE m.id = p_member_id;
    END IF;
    IF account.id IS NULL OR v_status = 'closed' OR account.next_due_at <= p_now THEN
        DELETE FROM idempotency_keys AS k WHERE k.caller = p_caller AND k.key = p_key;
        RETURN;  -- the ledger's path refuses, or settles first
    END IF;

    -- 3. The credit (app/ledger/movements.py Movements.credit): a debt is paid off first, the
    --    rest makes a lot, pending until available_at when that is later than now.
    paid_off := least(account.debt, p_amount);
    lot_amount := p_amount - paid_off;
    IF paid_off > 0 THEN
        posted_details := p_details || jsonb_build_object('debt_paid', paid_off);
    END IF;
    account.debt := account.debt - paid_off;
    IF in_pending THEN
        account.pending := account.pending + lot_amount;
    ELSE
        account.available := account.available + lot_amount;
    END IF;
    account.lifetime_earned := account.lifetime_earned + p_amount;
    balance_total := account.available + account.pending + account.held - account.debt;

    INSERT INTO entries (member_id, kind, amount, balance_after, reason, source, reference, actor,
                         created_by_kind, created_by_channel, details, created_at)
    VALUES (p_member_id, p_kind, p_amount, balance_total, p_reason, p_source, p_reference,
            p_actor, p_created_by_kind, p_created_by_channel, posted_details, p_now)
    RETURNING id INTO v_entry_id;
    INSERT INTO transfers (entry_id, debit_account_id, credit_account_id, amount, created_at)
    VALUES (v_entry_id, (SELECT a.id FROM accounts AS a WHERE a.code = p_counter_account),
            account.id, p_amount, p_now);
    IF lot_amount > 0 THEN
        INSERT INTO lots (account_id, member_id, entry_id, amount, remaining, pending,
                          available_at, expires_at, created_at)
        VALUES (account.id, p_member_id, v_entry_id, lot_amount, lot_amount, in_pending,
                p_available_at, p_expires_at, p_now);
        IF in_pending AND (account.next_due_at IS NULL OR p_available_at < account.next_due_at)
        THEN
            account.next_due_at := p_available_at;
        END IF;
        IF p_expires_at IS NOT NULL
           AND (account.next_due_at IS NULL OR p_expires_at < account.next_due_at) THEN
            account.next_due_at := p_expires_at;
        END IF;
    END IF;

    -- 4. The account saved, the event appended, the key's answer stored.
    UPDATE accounts AS a
    SET available = account.available, pending = account.pending, held = account.held,
        debt = account.debt, lifetime_earned = account.lifetime_earned,
        lifetime_spent = account.lifetime_spent, next_due_at = account.next_due_at,
        version = a.version + 1
    WHERE a.id = account.id;
    INSERT INTO events (topic, type, payload)
    VALUES ('member:' || p_member_id, p_event_type, jsonb_build_object(
        'member_id', p_member_id,
        'balance', jsonb_build_object(
            'available', account.available, 'pending', account.pending,
            'held', account.held, 'debt', account.debt, 'total', balance_total),
        'entry',
        p_entry_event || jsonb_build_object('id', v_entry_id, 'balance_after', balance_total)
    ));
    UPDATE idempotency_keys AS k SET response = jsonb_build_object('entry_id', v_entry_id)
    WHERE k.caller = p_caller AND k.key = p_key;

    RETURN QUERY SELECT v_entry_id, account.available, account.pending, account.held,
                        account.debt, posted_details;
END
$$
"""

SIGNATURE = (
    "ledger_post_credit(text, text, text, text, bigint, text, bigint, text, text, text, text,"
    " text, text, text, jsonb, timestamptz, timestamptz, timestamptz, text, jsonb)"
)


def upgrade() -> None:
    op.execute(FUNCTION)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SIGNATURE}")
