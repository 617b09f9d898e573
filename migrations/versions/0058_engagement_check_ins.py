"""engagement_check_ins(): concurrent check-ins made by one statement, one commit (group commit)

Revision ID: 0058
Revises: 0057
Create Date: 2026-12-05 18:30:00

``checkIn``'s common case is one statement, ``engagement_check_in()`` (migrations 0033, 0038,
0042, 0044), in autocommit: one round trip, one COMMIT (a WAL flush) and one wake of the relay
per check-in. The check-ins one API process has in hand at the same moment now go out together
(app/engagement/onetrip.py, app/groupcommit.py): this function makes each of them with
``engagement_check_in()`` itself, in one transaction.

Each member's outcome is its own, one row per check-in (``out_index``, 1-based), in
``engagement_check_in()``'s columns: ``signed`` (done: today's row, its earn, its events, the
tasks it feeds), ``already`` (signed in for the day: refused, nothing written — also the second
of one member sent twice in the batch, which sees the first's row) or ``declined`` (nothing
written: the caller runs the ordinary path for that member alone), or ``failed``: an unexpected
error in this check-in (its SQLSTATE and message in ``out_details``), its writes undone by its
own subtransaction (the ``EXCEPTION`` block), its neighbours unaffected; the caller sends it
again alone, so its answer is the one it would have had alone (a row of today's committed by
another transaction in between is the single statement's unique violation: refused).

Lock order. A batch holds its members' account locks until its COMMIT, so it takes them in
member order, as ``ledger_post_credits()`` does (migration 0043): two batches, of check-ins or
of earns, cross no lock in opposite orders. The ordinary path locks one account, first. A
deadlock all the same is PostgreSQL's to break: it fails one check-in, sent alone by the API.

The function calls ``engagement_check_in()`` as it stands, so a later redefinition of that
function (its body, not its signature) needs no change here.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0058"
down_revision: str | None = "0057"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE FUNCTION engagement_check_ins(
    p_member_id bigint[], p_day date[], p_now timestamptz[], p_schedules text[],
    p_schedule_code text[], p_rewards jsonb[], p_tasks text[], p_winback_before timestamptz[],
    p_counter_account text[], p_source text[], p_actor text[], p_created_by_kind text[],
    p_created_by_channel text[], p_available_at timestamptz[], p_expires_at timestamptz[],
    p_entry_event jsonb[], p_fed jsonb[]
) RETURNS TABLE (
    out_index integer, out_outcome text, out_streak integer, out_entry_id bigint,
    out_available bigint, out_pending bigint, out_held bigint, out_debt bigint,
    out_details jsonb
)
LANGUAGE plpgsql AS $$
DECLARE
    i integer;
    made record;
BEGIN
    FOR i IN SELECT t.o FROM unnest(p_member_id) WITH ORDINALITY AS t(m, o) ORDER BY t.m, t.o
    LOOP
        out_index := i;
        BEGIN
            SELECT * INTO STRICT made FROM engagement_check_in(
                p_member_id[i], p_day[i], p_now[i], p_schedules[i], p_schedule_code[i],
                p_rewards[i], p_tasks[i], p_winback_before[i], p_counter_account[i],
                p_source[i], p_actor[i], p_created_by_kind[i], p_created_by_channel[i],
                p_available_at[i], p_expires_at[i], p_entry_event[i], p_fed[i]);
            out_outcome := made.out_outcome;
            out_streak := made.out_streak;
            out_entry_id := made.out_entry_id;
            out_available := made.out_available;
            out_pending := made.out_pending;
            out_held := made.out_held;
            out_debt := made.out_debt;
            out_details := made.out_details;
        EXCEPTION WHEN OTHERS THEN
            out_outcome := 'failed';
            out_streak := NULL;
            out_entry_id := NULL;
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
    "engagement_check_ins(bigint[], date[], timestamptz[], text[], text[], jsonb[], text[],"
    " timestamptz[], text[], text[], text[], text[], text[], timestamptz[], timestamptz[],"
    " jsonb[], jsonb[])"
)


def upgrade() -> None:
    op.execute(FUNCTION)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SIGNATURE}")
