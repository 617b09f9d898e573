"""engagement_check_in(): a daily sign-in in one statement; the credit shared with earnPoints

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-05 03:40:00

A check-in ran twelve round trips (BEGIN, the account's lock, the member's read, the entry and
its transfer, the lot, the account, the event, the sign-in's row with its event and reward log
row, the task progress read that notes the activity, COMMIT) while holding the member's lock:
PostgreSQL sessions sat *idle in transaction* waiting for the API worker (docs/PERFORMANCE.md).
``engagement_check_in()`` runs the same statements, in the same order and under the same lock,
inside one statement.

The credit itself (an earn's entry, transfer, lot, account and event, the account already
locked) moves out of ``ledger_post_credit()`` (migration 0026) into
``ledger_credit_locked()``, which both call: one copy of the ledger's credit in SQL.

The check-in function writes nothing and answers ``declined`` whenever the API must take its
ordinary path: an unknown or closed member, an account with lots to settle first, a schedule
the caller did not cache as it is now, and — in the one-trip mode (``p_tasks`` given) — anything
the API would still have to do after it: a day with gifts or lottery draws, tasks changed since
the caller saw none that a sign-in feeds, or a member coming back from dormancy (win-back).
A member already signed in for the day gets ``already`` (nothing written); a sign-in row or a
reward key already there (unreachable under the lock) fails the statement, so nothing commits.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CREDIT = """
CREATE FUNCTION ledger_credit_locked(
    account accounts, p_member_id bigint, p_kind text, p_amount bigint,
    p_counter_account text, p_reason text, p_source text, p_reference text, p_actor text,
    p_created_by_kind text, p_created_by_channel text, p_details jsonb, p_now timestamptz,
    p_available_at timestamptz, p_expires_at timestamptz, p_event_type text,
    p_entry_event jsonb
) RETURNS TABLE (
    out_entry_id bigint, out_available bigint, out_pending bigint, out_held bigint,
    out_debt bigint, out_details jsonb
)
LANGUAGE plpgsql AS $$
DECLARE
    paid_off bigint;
    lot_amount bigint;
    in_pending boolean := p_available_at > p_now;
    posted_details jsonb := p_details;
    balance_total bigint;
    v_entry_id bigint;
BEGIN
    -- The credit (app/ledger/movements.py Movements.credit) on the account the caller locked:
    -- a debt is paid off first, the rest makes a lot, pending until available_at when that is
    -- later than now.
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

    -- The account saved, the event appended.
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

    RETURN QUERY SELECT v_entry_id, account.available, account.pending, account.held,
                        account.debt, posted_details;
END
$$
"""

POST_CREDIT = """
CREATE OR REPLACE FUNCTION ledger_post_credit(
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
    credited record;
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

    -- 3. The credit, the account and the event (ledger_credit_locked), then the key's answer.
    SELECT * INTO credited FROM ledger_credit_locked(
        account, p_member_id, p_kind, p_amount, p_counter_account, p_reason, p_source,
        p_reference, p_actor, p_created_by_kind, p_created_by_channel, p_details, p_now,
        p_available_at, p_expires_at, p_event_type, p_entry_event);
    UPDATE idempotency_keys AS k SET response = jsonb_build_object('entry_id', credited.out_entry_id)
    WHERE k.caller = p_caller AND k.key = p_key;

    RETURN QUERY SELECT credited.out_entry_id, credited.out_available, credited.out_pending,
                        credited.out_held, credited.out_debt, credited.out_details;
END
$$
"""

CHECK_IN = """
CREATE FUNCTION engagement_check_in(
    p_member_id bigint, p_day date, p_now timestamptz, p_schedules text, p_schedule_code text,
    p_rewards jsonb, p_tasks text, p_winback_before timestamptz, p_counter_account text,
    p_source text, p_actor text, p_created_by_kind text, p_created_by_channel text,
    p_available_at timestamptz, p_expires_at timestamptz, p_entry_event jsonb
) RETURNS TABLE (
    out_outcome text, out_streak integer, out_entry_id bigint, out_available bigint,
    out_pending bigint, out_held bigint, out_debt bigint, out_details jsonb
)
LANGUAGE plpgsql AS $$
DECLARE
    account accounts%ROWTYPE;
    v_status text;
    v_last_day date;
    v_last_streak integer;
    v_streak integer;
    v_cycle integer := jsonb_array_length(p_rewards);
    v_reward jsonb;
    v_points integer;
    v_last_active timestamptz;
    v_day text := to_char(p_day, 'YYYY-MM-DD');
    v_key text := format('checkin:%s:points', to_char(p_day, 'YYYY-MM-DD'));
    v_reason text;
    v_declined boolean := false;
    v_entry_id bigint;
    v_available bigint;
    v_pending bigint;
    v_held bigint;
    v_debt bigint;
    v_details jsonb;
BEGIN
    -- 1. The member's account, locked (the ledger's one lock, first); what is read of the
    --    member after it is read in statements of their own (new snapshots).
    SELECT * INTO account FROM accounts AS a WHERE a.member_id = p_member_id FOR UPDATE;
    IF account.id IS NULL THEN
        RETURN QUERY SELECT 'declined', NULL::integer, NULL::bigint, NULL::bigint,
                            NULL::bigint, NULL::bigint, NULL::bigint, NULL::jsonb;
        RETURN;
    END IF;
    SELECT m.status INTO v_status FROM members AS m WHERE m.id = p_member_id;
    IF v_status = 'closed' OR p_schedules IS DISTINCT FROM (
        SELECT concat(count(*), ':', coalesce(max(s.xmin::text::bigint), 0))
        FROM signin_schedules AS s
    ) THEN
        RETURN QUERY SELECT 'declined', NULL::integer, NULL::bigint, NULL::bigint,
                            NULL::bigint, NULL::bigint, NULL::bigint, NULL::jsonb;
        RETURN;
    END IF;
    SELECT s.day, s.streak INTO v_last_day, v_last_streak
    FROM sign_ins AS s WHERE s.member_id = p_member_id ORDER BY s.day DESC LIMIT 1;
    IF v_last_day >= p_day THEN
        RETURN QUERY SELECT 'already', NULL::integer, NULL::bigint, NULL::bigint,
                            NULL::bigint, NULL::bigint, NULL::bigint, NULL::jsonb;
        RETURN;
    END IF;

    -- 2. The streak and what its day pays (app/engagement/streaks.py): p_rewards holds each
    --    cycle position's reward, position 1 first.
    v_streak := CASE WHEN v_last_day = p_day - 1 THEN v_last_streak + 1 ELSE 1 END;
    v_reward := p_rewards -> ((v_streak - 1) % v_cycle);
    v_points := (v_reward ->> 'points')::integer;

    -- 3. What would still be the API's to do after this statement: then decline.
    IF account.next_due_at <= p_now THEN
        v_declined := true;  -- the ledger settles first
    ELSIF p_tasks IS NOT NULL THEN
        SELECT coalesce(
            (SELECT p.last_active_at FROM engagement_profiles AS p WHERE p.member_id = p_member_id),
            (SELECT m.created_at FROM members AS m WHERE m.id = p_member_id)
        ) INTO v_last_active;
        IF v_reward -> 'gifts' <> '[]'::jsonb OR (v_reward ->> 'lottery_draws')::integer > 0
           OR v_last_active <= p_winback_before
           OR p_tasks IS DISTINCT FROM (
               SELECT concat(count(*), ':', coalesce(max(t.xmin::text::bigint), 0))
               FROM tasks AS t)
        THEN
            v_declined := true;
        END IF;
    END IF;
    IF v_declined THEN
        RETURN QUERY SELECT 'declined', NULL::integer, NULL::bigint, NULL::bigint,
                            NULL::bigint, NULL::bigint, NULL::bigint, NULL::jsonb;
        RETURN;
    END IF;

    -- 4. The earn (the ledger's credit), then today's row, its event and the points' reward
    --    log row: no ON CONFLICT, a row already there fails the statement and the earn with it.
    IF v_points > 0 THEN
        v_reason := format('daily sign-in, day %s of the streak', v_streak);
        SELECT * INTO v_entry_id, v_available, v_pending, v_held, v_debt, v_details
        FROM ledger_credit_locked(
            account, p_member_id, 'earn', v_points, p_counter_account, v_reason, p_source, v_key,
            p_actor, p_created_by_kind, p_created_by_channel,
            jsonb_build_object('engagement', 'checkin', 'reward_key', v_key, 'day', v_day,
                               'streak', v_streak),
            p_now, p_available_at, p_expires_at, 'points.earned',
            p_entry_event || jsonb_build_object('amount', v_points, 'reason', v_reason,
                                                'reference', v_key));
    END IF;
    INSERT INTO sign_ins (member_id, day, streak, made_up, points, rewards, schedule_code,
                          entry_id, created_at)
    VALUES (p_member_id, p_day, v_streak, false, v_points,
            jsonb_build_object('gifts', v_reward -> 'gifts',
                               'lottery_draws', v_reward -> 'lottery_draws'),
            p_schedule_code, v_entry_id, p_now);
    INSERT INTO events (topic, type, payload)
    VALUES ('member:' || p_member_id, 'signin.checked_in', jsonb_build_object(
        'member_id', p_member_id, 'day', v_day, 'streak', v_streak, 'points', v_points,
        'gifts', v_reward -> 'gifts', 'lottery_draws', v_reward -> 'lottery_draws',
        'next_reward', p_rewards -> (v_streak % v_cycle)));
    IF v_points > 0 THEN
        INSERT INTO engagement_rewards (member_id, key, kind, source, points, quantity, item,
                                        entry_id, details, created_at)
        VALUES (p_member_id, v_key, 'points', 'checkin', v_points, 1, NULL,
                v_entry_id, jsonb_build_object('day', v_day, 'streak', v_streak),
                p_now);
    END IF;

    -- 5. The one-trip mode notes the activity (app/engagement/activity.py), as the task
    --    tracker's read would have.
    IF p_tasks IS NOT NULL THEN
        INSERT INTO engagement_profiles AS p (member_id, last_active_at)
        VALUES (p_member_id, p_now)
        ON CONFLICT (member_id) DO UPDATE
        SET last_active_at = greatest(p.last_active_at, excluded.last_active_at);
    END IF;

    RETURN QUERY SELECT 'signed', v_streak, v_entry_id, v_available, v_pending, v_held,
                        v_debt, v_details;
END
$$
"""

CHECK_IN_SIGNATURE = (
    "engagement_check_in(bigint, date, timestamptz, text, text, jsonb, text, timestamptz, text,"
    " text, text, text, text, timestamptz, timestamptz, jsonb)"
)
CREDIT_SIGNATURE = (
    "ledger_credit_locked(accounts, bigint, text, bigint, text, text, text, text, text, text,"
    " text, jsonb, timestamptz, timestamptz, timestamptz, text, jsonb)"
)


def _migration_0026() -> Any:
    path = Path(__file__).resolve().parent / "0026_ledger_post_credit.py"
    spec = importlib.util.spec_from_file_location("m0026", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    op.execute(CREDIT)
    op.execute(POST_CREDIT)
    op.execute(CHECK_IN)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {CHECK_IN_SIGNATURE}")
    before = _migration_0026()
    op.execute(f"DROP FUNCTION {before.SIGNATURE}")
    op.execute(before.FUNCTION)
    op.execute(f"DROP FUNCTION {CREDIT_SIGNATURE}")
