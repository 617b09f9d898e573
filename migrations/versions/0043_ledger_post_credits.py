"""ledger_post_credits(): concurrent earns posted by one statement, one commit (group commit)

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-05 09:10:00

``earnPoints`` posts its common case in one statement, ``ledger_post_credit()`` (migrations
0026, 0033), in autocommit: one round trip and one COMMIT (a WAL flush) per earn. Earns that an
API process has in hand at the same moment now go out together (app/ledger/groupcommit.py):
this function posts each of them as ``ledger_post_credit()`` would, in one transaction.

Each posting's outcome is its own, one row per posting (``out_index``, 1-based):

- ``posted``: written, with the entry and the balance, as ``ledger_post_credit()`` answers;
- ``declined``: nothing written (a replay or a reused key — also the second of one key sent
  twice in the batch —, an unknown or closed member, an account with something to settle): the
  caller runs the ledger's path for it, as it does when ``ledger_post_credit()`` declines;
- ``failed``: an unexpected error in this posting (its SQLSTATE and message in ``out_details``);
  its writes are undone by its own subtransaction (the ``EXCEPTION`` block), its key released,
  its neighbours unaffected; the caller sends it again alone.

Lock order. A batch holds many keys and many accounts until its COMMIT, so it takes them in an
order no other transaction can cross: every key first, in (caller, key) order, then the
accounts, in member order. Another batch does the same; the ledger's paths claim a request's
key before they lock its account. A deadlock all the same (a key some other transaction claims
after a lock) is PostgreSQL's to break: in step 2 it fails one posting, in step 1 the batch,
and the API then sends those postings alone.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0043"
down_revision: str | None = "0042"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE FUNCTION ledger_post_credits(
    p_caller text[], p_key text[], p_operation text[], p_fingerprint text[],
    p_member_id bigint[], p_kind text[], p_amount bigint[], p_counter_account text[],
    p_reason text[], p_source text[], p_reference text[], p_actor text[],
    p_created_by_kind text[], p_created_by_channel text[], p_details jsonb[],
    p_now timestamptz[], p_available_at timestamptz[], p_expires_at timestamptz[],
    p_event_type text[], p_entry_event jsonb[]
) RETURNS TABLE (
    out_index integer, out_outcome text, out_entry_id bigint, out_available bigint,
    out_pending bigint, out_held bigint, out_debt bigint, out_details jsonb
)
LANGUAGE plpgsql AS $$
DECLARE
    i integer;
    claimed boolean[] := array_fill(false, ARRAY[cardinality(p_key)]);
    account accounts%ROWTYPE;
    v_status text;
    credited record;
BEGIN
    -- 1. Every key, first, in (caller, key) order. Taken (by an earlier request, or by an
    --    earlier posting of this batch with the same key): declined, the ledger's path answers.
    FOR i IN
        SELECT t.o FROM unnest(p_caller, p_key) WITH ORDINALITY AS t(c, k, o) ORDER BY t.c, t.k, t.o
    LOOP
        INSERT INTO idempotency_keys (caller, key, operation, fingerprint, created_at)
        VALUES (p_caller[i], p_key[i], p_operation[i], p_fingerprint[i], p_now[i])
        ON CONFLICT DO NOTHING;
        claimed[i] := FOUND;
    END LOOP;

    -- 2. The postings in member order, each in its own subtransaction: as ledger_post_credit().
    FOR i IN SELECT t.o FROM unnest(p_member_id) WITH ORDINALITY AS t(m, o) ORDER BY t.m, t.o
    LOOP
        out_index := i;
        out_outcome := 'declined';
        out_entry_id := NULL;
        out_available := NULL;
        out_pending := NULL;
        out_held := NULL;
        out_debt := NULL;
        out_details := NULL;
        IF claimed[i] THEN
            BEGIN
                SELECT * INTO account FROM accounts AS a
                WHERE a.member_id = p_member_id[i] FOR UPDATE;
                v_status := NULL;
                IF account.id IS NOT NULL THEN
                    SELECT m.status INTO v_status FROM members AS m WHERE m.id = p_member_id[i];
                END IF;
                IF account.id IS NULL OR v_status = 'closed' OR account.next_due_at <= p_now[i]
                THEN
                    DELETE FROM idempotency_keys AS k
                    WHERE k.caller = p_caller[i] AND k.key = p_key[i];
                ELSE
                    SELECT * INTO credited FROM ledger_credit_locked(
                        account, p_member_id[i], p_kind[i], p_amount[i], p_counter_account[i],
                        p_reason[i], p_source[i], p_reference[i], p_actor[i],
                        p_created_by_kind[i], p_created_by_channel[i], p_details[i], p_now[i],
                        p_available_at[i], p_expires_at[i], p_event_type[i], p_entry_event[i]);
                    UPDATE idempotency_keys AS k
                    SET response = jsonb_build_object('entry_id', credited.out_entry_id)
                    WHERE k.caller = p_caller[i] AND k.key = p_key[i];
                    out_outcome := 'posted';
                    out_entry_id := credited.out_entry_id;
                    out_available := credited.out_available;
                    out_pending := credited.out_pending;
                    out_held := credited.out_held;
                    out_debt := credited.out_debt;
                    out_details := credited.out_details;
                END IF;
            EXCEPTION WHEN OTHERS THEN
                -- This posting's writes are undone; the key, claimed outside the block, goes too.
                DELETE FROM idempotency_keys AS k
                WHERE k.caller = p_caller[i] AND k.key = p_key[i];
                out_outcome := 'failed';
                out_details := jsonb_build_object('sqlstate', SQLSTATE, 'message', SQLERRM);
            END;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$
"""

SIGNATURE = (
    "ledger_post_credits(text[], text[], text[], text[], bigint[], text[], bigint[], text[],"
    " text[], text[], text[], text[], text[], text[], jsonb[], timestamptz[], timestamptz[],"
    " timestamptz[], text[], jsonb[])"
)


def upgrade() -> None:
    op.execute(FUNCTION)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SIGNATURE}")
