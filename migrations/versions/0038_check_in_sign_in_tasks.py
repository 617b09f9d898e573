"""engagement_check_in(): the sign-in tasks' progress in the same statement

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-05 06:20:00

With tasks fed by a sign-in on (the demo programme's seven-day streak and monthly points
challenge), migration 0033's function only opened the transaction: the task progress read that
notes the activity, the progress upsert and the progress events followed from the API, and the
backend sat idle in transaction waiting for its worker between them (docs/PERFORMANCE.md).

Now the one-trip mode also takes ``p_fed``: each enabled task a check-in on ``p_day`` feeds, as
the API's cached definitions say (in the tracker's order: the sign-in's tasks, then its points'),
with its period key for that day. ``engagement_sign_in_progress()`` advances them as
app/engagement/tasks.py ``advance`` does — a count, distinct days, consecutive days, points — for
a member of the right segment, and answers NULL when any of them would complete: a completion
pays rewards, awards badges, asks experiments and quests, which stay the API's, so the check-in
declines and writes nothing. Otherwise the function writes the progress rows and their
``task.progressed`` events (the member's topic, and the challenge's signal topic for a
leaderboard or team challenge) after the activity note, as the tracker would.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PROGRESS = """
CREATE FUNCTION engagement_sign_in_progress(
    p_member_id bigint, p_day date, p_points integer, p_fed jsonb
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_task jsonb;
    v_segment text;
    v_found record;
    v_progress numeric;
    v_completions integer;
    v_last_day date;
    v_target numeric;
    v_max integer;
    v_advanced jsonb := '[]'::jsonb;
BEGIN
    SELECT s.segment INTO v_segment FROM member_segments AS s WHERE s.member_id = p_member_id;
    FOR v_task IN SELECT t.value FROM jsonb_array_elements(p_fed) AS t LOOP
        CONTINUE WHEN v_task ->> 'trigger' = 'points' AND p_points <= 0;  -- no points: not fed
        CONTINUE WHEN v_task -> 'segments' <> 'null'::jsonb
                      AND (v_segment IS NULL OR NOT (v_task -> 'segments') ? v_segment);
        v_found := NULL;
        SELECT p.progress, p.completions, p.last_day, p.seen INTO v_found
        FROM task_progress AS p
        WHERE p.member_id = p_member_id AND p.task_id = (v_task ->> 'id')::bigint
          AND p.period = v_task ->> 'period';
        v_progress := coalesce(v_found.progress, 0);
        v_completions := coalesce(v_found.completions, 0);
        v_last_day := v_found.last_day;
        v_target := (v_task ->> 'target')::numeric;
        v_max := (v_task ->> 'max_completions')::integer;
        -- advance() in app/engagement/tasks.py: nothing more to do, or this day counted already.
        CONTINUE WHEN v_completions >= v_max;
        CONTINUE WHEN v_task ->> 'metric' = 'days' AND v_last_day >= p_day;
        IF (v_task ->> 'consecutive')::boolean THEN
            v_progress := CASE WHEN v_last_day = p_day - 1 THEN v_progress + 1 ELSE 1 END;
            IF v_progress >= v_target THEN
                RETURN NULL;  -- the run completes: the API pays it
            END IF;
        ELSE
            v_progress := v_progress
                + CASE WHEN v_task ->> 'metric' = 'points' THEN p_points ELSE 1 END;
            -- Another completion is reached (multiplied, not divided: no rounding).
            IF v_progress >= (v_completions + 1) * v_target THEN
                RETURN NULL;  -- the API pays it
            END IF;
        END IF;
        v_advanced := v_advanced || jsonb_build_object(
            'task_id', (v_task ->> 'id')::bigint, 'period', v_task ->> 'period',
            'progress', v_progress, 'completions', v_completions, 'last_day', p_day,
            'seen', coalesce(v_found.seen, '[]'::jsonb), 'challenge', v_task -> 'challenge',
            'event', jsonb_build_object(
                'member_id', p_member_id, 'task_id', (v_task ->> 'id')::bigint,
                'task', v_task ->> 'code', 'period', v_task ->> 'period',
                'progress', trim_scale(v_progress)::text, 'target', v_task ->> 'target',
                'completions', v_completions, 'max_completions', v_max, 'completed_now', 0));
    END LOOP;
    RETURN v_advanced;
END
$$
"""

# What migration 0033's function gains, each at one place of its text.
SIGNATURE_BEFORE = "p_expires_at timestamptz, p_entry_event jsonb\n) RETURNS TABLE"
SIGNATURE_AFTER = "p_expires_at timestamptz, p_entry_event jsonb, p_fed jsonb\n) RETURNS TABLE"
DECLARED_BEFORE = "    v_declined boolean := false;\n"
DECLARED_AFTER = DECLARED_BEFORE + "    v_advanced jsonb := '[]'::jsonb;\n    v_task jsonb;\n"
DECLINE_BEFORE = """\
        THEN
            v_declined := true;
        END IF;
"""
DECLINE_AFTER = (
    DECLINE_BEFORE
    + """\
        IF NOT v_declined AND jsonb_array_length(p_fed) > 0 THEN
            -- The sign-in tasks' progress, worked out before anything is written.
            v_advanced := engagement_sign_in_progress(p_member_id, p_day, v_points, p_fed);
            v_declined := v_advanced IS NULL;
        END IF;
"""
)
NOTED_BEFORE = "        SET last_active_at = greatest(p.last_active_at, excluded.last_active_at);\n"
NOTED_AFTER = (
    NOTED_BEFORE
    + """\
        -- The tracker's progress upsert and events (app/engagement/tracker.py), in its order.
        INSERT INTO task_progress AS p (member_id, task_id, period, progress, completions,
                                        last_day, seen, updated_at, completed_at)
        SELECT p_member_id, a.task_id, a.period, a.progress, a.completions, a.last_day, a.seen,
               p_now, NULL
        FROM jsonb_to_recordset(v_advanced) AS a(task_id bigint, period text, progress numeric,
                                                 completions integer, last_day date, seen jsonb)
        ON CONFLICT (member_id, task_id, period) DO UPDATE
        SET progress = excluded.progress, completions = excluded.completions,
            last_day = excluded.last_day, seen = excluded.seen,
            updated_at = excluded.updated_at, completed_at = excluded.completed_at;
        FOR v_task IN SELECT a.value FROM jsonb_array_elements(v_advanced) AS a LOOP
            INSERT INTO events (topic, type, payload)
            VALUES ('member:' || p_member_id, 'task.progressed', v_task -> 'event');
            IF (v_task ->> 'challenge')::boolean THEN
                INSERT INTO events (topic, type, payload)
                VALUES ('signal:challenge:' || (v_task ->> 'task_id'), 'task.progressed',
                        v_task -> 'event');
            END IF;
        END LOOP;
"""
)

SIGNATURE = (
    "engagement_check_in(bigint, date, timestamptz, text, text, jsonb, text, timestamptz, text,"
    " text, text, text, text, timestamptz, timestamptz, jsonb, jsonb)"
)
PROGRESS_SIGNATURE = "engagement_sign_in_progress(bigint, date, integer, jsonb)"


def _migration_0033() -> Any:
    path = Path(__file__).resolve().parent / "0033_engagement_check_in.py"
    spec = importlib.util.spec_from_file_location("m0033", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _once(text: str, before: str, after: str) -> str:
    assert text.count(before) == 1, f"expected once in migration 0033's function: {before!r}"
    return text.replace(before, after)


def check_in_function() -> str:
    """Migration 0033's ``engagement_check_in()`` with the sign-in tasks' part."""
    text: str = _migration_0033().CHECK_IN
    for before, after in (
        (SIGNATURE_BEFORE, SIGNATURE_AFTER),
        (DECLARED_BEFORE, DECLARED_AFTER),
        (DECLINE_BEFORE, DECLINE_AFTER),
        (NOTED_BEFORE, NOTED_AFTER),
    ):
        text = _once(text, before, after)
    return text


def upgrade() -> None:
    before = _migration_0033()
    op.execute(PROGRESS)
    op.execute(f"DROP FUNCTION {before.CHECK_IN_SIGNATURE}")
    op.execute(check_in_function())


def downgrade() -> None:
    before = _migration_0033()
    op.execute(f"DROP FUNCTION {SIGNATURE}")
    op.execute(f"DROP FUNCTION {PROGRESS_SIGNATURE}")
    op.execute(before.CHECK_IN)
