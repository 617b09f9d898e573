"""Segmentation's tables (docs/ANALYTICS.md, "Segments"): each member's current segment and
scores, every change of segment, each run of the job and its counts."""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
)

from app.db import metadata

# A member's segment as of the last run, the scores and the figures behind them (scores NULL
# when it had no activity in the window). Rewritten only when something changed.
member_segments = Table(
    "member_segments",
    metadata,
    Column("member_id", BigInteger, ForeignKey("members.id"), primary_key=True),
    Column("segment", String(24), nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),  # in this segment since (a run)
    Column("last_active_on", Date),  # business day of its last activity in the window
    Column("frequency", BigInteger, nullable=False),  # its activities in the window
    Column("monetary", BigInteger, nullable=False),  # points earned in the window, net
    Column("recency_score", SmallInteger),
    Column("frequency_score", SmallInteger),
    Column("monetary_score", SmallInteger),
    Index("ix_member_segments_segment", "segment"),
)

# Every change of a member's segment (from NULL: first placed; to NULL: closed, left out).
member_segment_changes = Table(
    "member_segment_changes",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("member_id", BigInteger, ForeignKey("members.id"), primary_key=True),
    Column("from_segment", String(24)),
    Column("to_segment", String(24)),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Index("ix_member_segment_changes_member_id", "member_id", "id"),
)

# Each run of the segmentation job: when, with which window, how many members it placed.
segment_runs = Table(
    "segment_runs",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("computed_at", DateTime(timezone=True), nullable=False),
    Column("window_days", Integer, nullable=False),
    Column("new_days", Integer, nullable=False),
    Column("members", BigInteger, nullable=False),
    Column("changed", BigInteger, nullable=False),
)

# Members per segment and registration channel as of the last run (what the KPIs show).
segment_counts = Table(
    "segment_counts",
    metadata,
    Column("segment", String(24), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("members", BigInteger, nullable=False),
    PrimaryKeyConstraint("segment", "channel"),
)

# Each member's own activity (docs/ANALYTICS.md, "Segments"), summed from the outbox's events
# by the activity projection (app/segments/activity.py): every activity and net earned point
# since the programme began (``acts``, ``earned``), the part of it at or before the window's
# start (``aged_*``, up to member_activity_state.aged_until), and its last activity. The
# window's figures are the difference: a run reads a million rows, not the journal.
member_activity = Table(
    "member_activity",
    metadata,
    Column("member_id", BigInteger, primary_key=True),
    Column("acts", BigInteger, nullable=False),
    Column("earned", BigInteger, nullable=False),
    Column("aged_acts", BigInteger, nullable=False),
    Column("aged_earned", BigInteger, nullable=False),
    Column("last_at", DateTime(timezone=True)),
)

# The activity projection's state (one row, id 1): every event with id <= last_event_id is in
# member_activity; what happened at or before aged_until is in its aged columns.
member_activity_state = Table(
    "member_activity_state",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("last_event_id", BigInteger, nullable=False),
    Column("aged_until", DateTime(timezone=True), nullable=False),
    CheckConstraint("id = 1", name="one_row"),
)
