"""Engagement: sign-ins, the reward log, tasks and their progress, teams, badges, referrals.

Every member-owned table carries ``member_id`` (docs/SCALING.md: by member). Writes to a
member's rows happen under that member's account lock (the ledger's one lock). The reward log's
``UNIQUE (member_id, key)`` is the last line of defence against paying a reward twice: the key is
derived from what is rewarded (``checkin:2026-11-23:points``, ``task:7:2026-11:1:points`` …).
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from app.db import metadata

# The programme's sign-in reward schedules (data, changed by staff); exactly one is active.
signin_schedules = Table(
    "signin_schedules",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("name", Text, nullable=False),
    Column("spec", JSONB, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(96), nullable=False),
    Index("uq_signin_schedules_active", "active", unique=True, postgresql_where=text("active")),
)

# One row per member and business day signed in: the primary key refuses a second sign-in.
sign_ins = Table(
    "sign_ins",
    metadata,
    Column("member_id", BigInteger, ForeignKey("members.id"), nullable=False),
    Column("day", Date, nullable=False),
    Column("streak", Integer, nullable=False),
    Column("made_up", Boolean, nullable=False),
    Column("points", Integer, nullable=False),
    Column("rewards", JSONB, nullable=False),  # {"gifts": [...], "lottery_draws": n}
    Column("schedule_code", String(32)),
    Column("entry_id", BigInteger),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("member_id", "day"),
    CheckConstraint("streak >= 1", name="streak_positive"),
)

# What engagement holds per member: make-up cards, invite code, last activity (win-back).
engagement_profiles = Table(
    "engagement_profiles",
    metadata,
    Column("member_id", BigInteger, ForeignKey("members.id"), primary_key=True),
    Column("makeup_cards", Integer, nullable=False, server_default="0"),
    Column("invite_code", String(16)),
    Column("last_active_at", DateTime(timezone=True)),
    CheckConstraint("makeup_cards >= 0", name="makeup_cards_not_negative"),
    # Unique across members by its claim (app/members/claims.py): here with the member.
    UniqueConstraint("invite_code", "member_id", name="uq_engagement_profiles_invite_code"),
)

# Every reward engagement gave (points, gifts, lottery draws, badges, make-up cards).
engagement_rewards = Table(
    "engagement_rewards",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("member_id", BigInteger, ForeignKey("members.id"), primary_key=True),
    Column("key", String(160), nullable=False),
    Column(
        "kind", String(24), nullable=False
    ),  # points | gift | lottery_draw | badge | makeup_card
    Column("source", String(24), nullable=False),  # checkin | task | referral | winback | staff
    Column("points", Integer, nullable=False, server_default="0"),
    Column("quantity", Integer, nullable=False, server_default="1"),
    Column("item", Text),  # the gift's or badge's name
    Column("entry_id", BigInteger),
    Column("details", JSONB, nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("member_id", "key", name="uq_engagement_rewards_member_key"),
)

# Task and challenge definitions (data, changed by staff; every change bumps the version).
tasks = Table(
    "tasks",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("code", String(48), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("event", String(64)),
    Column("spec", JSONB, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(96), nullable=False),
)

# A member's progress on a task in one period ("life", "2026-11-23", "2026-W48", "2026-11", …).
task_progress = Table(
    "task_progress",
    metadata,
    Column("member_id", BigInteger, ForeignKey("members.id"), nullable=False),
    Column("task_id", BigInteger, ForeignKey("tasks.id"), nullable=False),
    Column("period", String(32), nullable=False),
    Column("progress", Numeric(18, 4), nullable=False),
    Column("completions", Integer, nullable=False),
    Column("last_day", Date),
    Column("seen", JSONB, nullable=False, server_default="[]"),  # distinct values counted
    Column("completed_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("member_id", "task_id", "period"),
)

teams = Table(
    "teams",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("task_id", BigInteger, ForeignKey("tasks.id"), nullable=False),
    Column("code", String(16), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    # A team is a reference table (Citus): the captain's member row is on a shard, so no
    # foreign key; the captain joins the team it creates, and the audit checks it (0050).
    Column("captain_id", BigInteger, nullable=False),
    Column("max_size", Integer, nullable=False),
    Column("size", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("size >= 0 AND size <= max_size", name="size_within_limit"),
)

team_members = Table(
    "team_members",
    metadata,
    Column("team_id", BigInteger, ForeignKey("teams.id"), nullable=False),
    Column("member_id", BigInteger, ForeignKey("members.id"), nullable=False),
    Column("task_id", BigInteger, ForeignKey("tasks.id"), nullable=False),
    Column("joined_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("team_id", "member_id"),
    # One team per member and challenge.
    UniqueConstraint("task_id", "member_id", name="uq_team_members_task_member"),
)

badges = Table(
    "badges",
    metadata,
    Column("code", String(48), primary_key=True),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

member_badges = Table(
    "member_badges",
    metadata,
    Column("member_id", BigInteger, ForeignKey("members.id"), nullable=False),
    Column("badge_code", String(48), ForeignKey("badges.code"), nullable=False),
    Column("source", String(160), nullable=False),
    Column("awarded_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("member_id", "badge_code"),
)

# One referrer per member: the friend's id is the primary key.
referrals = Table(
    "referrals",
    metadata,
    Column("friend_id", BigInteger, ForeignKey("members.id"), primary_key=True),
    # The referral lives with its friend (Citus): no foreign key to the referrer, whom an
    # invite code names; the audit checks it (migration 0050).
    Column("referrer_id", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # pending | rewarded
    Column("referrer_rewarded", Boolean, nullable=False, server_default="false"),
    Column("reward_month", String(7)),  # the business month the referrer's reward counts in
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("rewarded_at", DateTime(timezone=True)),
    CheckConstraint("friend_id <> referrer_id", name="not_self"),
    Index("ix_referrals_referrer_month", "referrer_id", "reward_month"),
)
