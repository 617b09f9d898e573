"""The segmentation run, set-based: every member's RFM scores and segment in a few statements
whatever the number of members (a million in well under a minute: bench/analytics.py).

In one transaction, under an advisory lock (two runs at once would both write the history):
1. ``segment_scores``, a temporary table: each member not closed, its channel (its first
   reference's: one sort of every reference joined by hash — a look-up per member cost a
   third of the run at a million members), its activity in the window (a row per member of
   app/segments/activity.py's rollup, moved on to the window first: the journal's entries
   of the window were a 10,000,000-row scan at a million members), its quintile scores and
   its segment (app/segments/policy.py as SQL);
2. a history row for each member whose segment changed (placed the first time, or left out
   because it was closed);
3. the members' rows rewritten where anything changed, and removed for closed members;
4. the counts per segment and channel replaced, and the run recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.segments.activity import age_activity
from app.segments.policy import QUINTILES, classify_sql

# The advisory lock of segmentation runs: "JFSG".
LOCK_KEY = 0x4A465347

# A score per measure: ceil(5 * k / n), k = members with a value at most this one (a window
# ordered by the value counts its peers: ties share a score), n = members scored.
_SCORE = "(({q} * count(*) OVER (ORDER BY {value}) + count(*) OVER () - 1) / count(*) OVER ())"

_SEGMENT = classify_sql(
    is_new="m.created_at >= :new_since",
    recency="s.recency_score",
    frequency="s.frequency_score",
    monetary="s.monetary_score",
)

_SCORES = text(
    f"""
    CREATE TEMPORARY TABLE segment_scores ON COMMIT DROP AS
    WITH activity AS (
        SELECT member_id, last_at, acts - aged_acts AS acts, earned - aged_earned AS earned
        FROM member_activity WHERE acts > aged_acts
    ),
    scored AS (
        SELECT a.member_id, (a.last_at AT TIME ZONE :tz)::date AS last_active_on,
               a.acts AS frequency, a.earned AS monetary,
               {_SCORE.format(q=QUINTILES, value="(a.last_at AT TIME ZONE :tz)::date")}
                   AS recency_score,
               {_SCORE.format(q=QUINTILES, value="a.acts")} AS frequency_score,
               {_SCORE.format(q=QUINTILES, value="a.earned")} AS monetary_score
        FROM activity a JOIN members m ON m.id = a.member_id
        WHERE m.status <> 'closed'
    )
    SELECT m.id AS member_id, coalesce(ch.channel, 'unknown') AS channel, s.last_active_on,
           coalesce(s.frequency, 0) AS frequency, coalesce(s.monetary, 0) AS monetary,
           s.recency_score, s.frequency_score, s.monetary_score, {_SEGMENT} AS segment
    FROM members m
    LEFT JOIN scored s ON s.member_id = m.id
    LEFT JOIN (
        SELECT DISTINCT ON (r.member_id) r.member_id, r.channel FROM member_channel_refs r
        ORDER BY r.member_id, r.created_at, r.channel
    ) ch ON ch.member_id = m.id
    WHERE m.status <> 'closed'
    """
)
_INDEX = text("CREATE UNIQUE INDEX ON segment_scores (member_id)")
_ANALYZE = text("ANALYZE segment_scores")
_LOCK = text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=LOCK_KEY)
_WORK_MEM = text("SET LOCAL work_mem = '256MB'")

_HISTORY = text(
    """
    INSERT INTO member_segment_changes (member_id, from_segment, to_segment, changed_at)
    SELECT coalesce(s.member_id, ms.member_id), ms.segment, s.segment, :now
    FROM segment_scores s FULL JOIN member_segments ms ON ms.member_id = s.member_id
    WHERE s.segment IS DISTINCT FROM ms.segment
    """
)
_LEFT_OUT = text(
    """
    DELETE FROM member_segments ms
    WHERE NOT EXISTS (SELECT 1 FROM segment_scores s WHERE s.member_id = ms.member_id)
    """
)
_COLUMNS = (
    "segment",
    "last_active_on",
    "frequency",
    "monetary",
    "recency_score",
    "frequency_score",
    "monetary_score",
)
_WAS = ", ".join(f"ms.{c}" for c in _COLUMNS)
_IS = ", ".join(f"s.{c}" for c in _COLUMNS)
# Only the rows that are new or changed reach the insert: one hash join finds them, where an
# upsert of every member would probe and lock a million rows to change a few hundred.
_UPSERT = text(
    f"""
    INSERT INTO member_segments (member_id, segment, since, last_active_on, frequency, monetary,
                                 recency_score, frequency_score, monetary_score)
    SELECT s.member_id, s.segment, :now, s.last_active_on, s.frequency, s.monetary,
           s.recency_score, s.frequency_score, s.monetary_score
    FROM segment_scores s LEFT JOIN member_segments ms ON ms.member_id = s.member_id
    WHERE ms.member_id IS NULL OR ({_WAS}) IS DISTINCT FROM ({_IS})
    ON CONFLICT (member_id) DO UPDATE SET
        segment = excluded.segment,
        since = CASE WHEN member_segments.segment = excluded.segment
                     THEN member_segments.since ELSE excluded.since END,
        last_active_on = excluded.last_active_on, frequency = excluded.frequency,
        monetary = excluded.monetary, recency_score = excluded.recency_score,
        frequency_score = excluded.frequency_score, monetary_score = excluded.monetary_score
    """
)
_CLEAR_COUNTS = text("DELETE FROM segment_counts")
_COUNTS = text(
    """
    INSERT INTO segment_counts (segment, channel, members)
    SELECT segment, channel, count(*) FROM segment_scores GROUP BY 1, 2
    """
)
_RUN = text(
    """
    INSERT INTO segment_runs (computed_at, window_days, new_days, members, changed)
    SELECT :now, :window_days, :new_days, count(*), :changed FROM segment_scores
    RETURNING id, members
    """
)


@dataclass(frozen=True)
class SegmentRun:
    run_id: int
    computed_at: datetime
    members: int  # members placed in a segment
    changed: int  # members whose segment changed (first placements and closures included)


async def compute_segments(
    conn: AsyncConnection, *, now: datetime, tz: str, window_days: int, new_days: int
) -> SegmentRun:
    """Recompute every member's segment as of ``now``, inside the caller's transaction: the
    activity window is the ``window_days`` days before ``now``; members registered in the last
    ``new_days`` days are new."""
    await conn.execute(_LOCK)
    # The window's figures are each member's activity less what is older than the window.
    await age_activity(conn, now - timedelta(days=window_days))
    # Room for the per-member aggregate and the three sorts to stay in memory (this
    # transaction only: a million members take a few hundred MB at most).
    await conn.execute(_WORK_MEM)
    params = {
        "now": now,
        "tz": tz,
        "new_since": now - timedelta(days=new_days),
    }
    await conn.execute(_SCORES, params)
    await conn.execute(_INDEX)
    await conn.execute(_ANALYZE)
    changed = (await conn.execute(_HISTORY, {"now": now})).rowcount
    await conn.execute(_LEFT_OUT)
    await conn.execute(_UPSERT, {"now": now})
    await conn.execute(_CLEAR_COUNTS)
    await conn.execute(_COUNTS)
    run = (
        await conn.execute(
            _RUN,
            {"now": now, "window_days": window_days, "new_days": new_days, "changed": changed},
        )
    ).one()
    return SegmentRun(int(run.id), now, int(run.members), changed)
