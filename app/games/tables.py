"""The games' tables: auctions and their bids, crowdfunding campaigns and their pledges.

A bid's points are a ledger hold (``hold_id``); the auction row is the lock every bid and the
close take first (``SELECT … FOR UPDATE``), so bids on one auction are applied one at a time in
the database, whatever Redis or the replicas do.
"""

from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from app.db import metadata


def _closing(name: str, outcome_width: int) -> list[Any]:
    """A game's closing columns: open until its end, then closed with an outcome; the close
    job finds the open ones by their end."""
    return [
        Column("status", String(8), nullable=False),  # open | closed
        Column("outcome", String(outcome_width)),
        Column("created_by", String(96), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("closed_at", DateTime(timezone=True)),
        CheckConstraint("status IN ('open', 'closed')", name="status"),
        CheckConstraint("(status = 'closed') = (outcome IS NOT NULL)", name="outcome"),
        Index(f"ix_{name}_open_end", "ends_at", postgresql_where=text("status = 'open'")),
    ]


def _stakes(name: str, game: str, width: int, statuses: str, *indexes: Index) -> Table:
    """A game's stakes (bids, pledges): each holds its member's points (``hold_id``)."""
    return Table(
        name,
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column(f"{game}_id", BigInteger, ForeignKey(f"{game}s.id"), nullable=False),
        Column("member_id", BigInteger, ForeignKey("members.id"), primary_key=True),
        Column("amount", BigInteger, nullable=False),
        Column("hold_id", BigInteger, nullable=False),
        ForeignKeyConstraint(["hold_id", "member_id"], ["holds.id", "holds.member_id"]),
        Column("status", String(width), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint(f"status IN ({statuses})", name="status"),
        # A hold stakes one bid or pledge; member_id rides along for Citus (a hold is one member's).
        UniqueConstraint("hold_id", "member_id"),
        *indexes,
        Index(f"ix_{name}_member", "member_id", "id"),
    )


def _game(name: str, *columns: Any) -> Table:
    """A game's table: its id, its code (unique: the seed finds it again by it), its name."""
    return Table(
        name,
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("code", String(64), nullable=False, unique=True),
        Column("name", String(200), nullable=False),
        *columns,
    )


auctions = _game(
    "auctions",
    Column("item_id", BigInteger, ForeignKey("mall_items.id"), nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),  # moved by anti-sniping
    Column("scheduled_end", DateTime(timezone=True), nullable=False),  # as created
    Column("starting_price", BigInteger, nullable=False),
    Column("min_increment", BigInteger, nullable=False),
    Column("reserve_price", BigInteger),
    Column("extend_seconds", Integer, nullable=False),
    # outcome: won | no_bids | reserve_not_met | out_of_stock | winner_inactive
    *_closing("auctions", 16),
    Column("leading_bid_id", BigInteger),
    Column("leading_member_id", BigInteger),
    Column("leading_amount", BigInteger),
    Column("bids", Integer, nullable=False, server_default="0"),
    Column("bidders", Integer, nullable=False, server_default="0"),
    Column("extensions", Integer, nullable=False, server_default="0"),
    # The winner's order, without a foreign key: an auction is a reference table and orders are
    # distributed under Citus (migration 0044); the games audit checks it is the winner's.
    Column("order_id", BigInteger),
    CheckConstraint(
        "starting_price > 0 AND min_increment > 0 AND extend_seconds >= 0", name="amounts"
    ),
)

# leading | outbid | won | lost
auction_bids = _stakes(
    "auction_bids",
    "auction",
    8,
    "'leading', 'outbid', 'won', 'lost'",
    Index("ix_auction_bids_auction_member", "auction_id", "member_id"),
)

campaigns = _game(
    "campaigns",
    Column("purpose", Text, nullable=False, server_default=""),
    Column("goal", BigInteger, nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("min_pledge", BigInteger, nullable=False),
    Column("allow_raise", Boolean, nullable=False),
    Column("allow_withdraw", Boolean, nullable=False),
    *_closing("campaigns", 8),  # outcome: reached | missed
    # The pledges that count: active, and once closed the committed or released ones.
    Column("pledged", BigInteger, nullable=False, server_default="0"),
    Column("backers", Integer, nullable=False, server_default="0"),
    CheckConstraint("goal > 0 AND min_pledge > 0 AND pledged >= 0", name="amounts"),
)

# active | raised | withdrawn | committed | released; one standing pledge per member and
# campaign (the row lock keeps it so; the partial unique index says it).
pledges = _stakes(
    "pledges",
    "campaign",
    10,
    "'active', 'raised', 'withdrawn', 'committed', 'released'",
    Index(
        "ix_pledges_one_active",
        "campaign_id",
        "member_id",
        unique=True,
        postgresql_where=text("status = 'active'"),
    ),
)

# PK duels (积分PK赛): the rules staff set, and the duels members play under them.
duel_rules = _game(
    "duel_rules",
    Column("metrics", ARRAY(String(16)), nullable=False),  # points | purchases | sign_in_streak
    Column("max_stake", BigInteger, nullable=False),  # 0: no stakes
    Column("reward_points", BigInteger, nullable=False),  # paid by the programme to the winner
    Column("tie_rule", String(8), nullable=False),  # split | refund
    Column("accept_hours", Integer, nullable=False),  # a challenge not accepted by then expires
    Column("max_hours", Integer, nullable=False),  # the longest window a challenge may ask
    Column("enabled", Boolean, nullable=False),
    Column("updated_by", String(96), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("max_stake >= 0 AND reward_points >= 0", name="amounts"),
    CheckConstraint("accept_hours > 0 AND max_hours > 0", name="hours"),
    CheckConstraint("tie_rule IN ('split', 'refund')", name="tie_rule"),
)

duels = Table(
    "duels",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("rules_id", BigInteger, ForeignKey("duel_rules.id"), nullable=False),
    # The duel lives with its challenger (Citus); the opponent's side has no foreign key, the
    # audit checks it (migration 0050).
    Column("challenger_id", BigInteger, ForeignKey("members.id"), primary_key=True),
    Column("opponent_id", BigInteger, nullable=False),
    # The terms, copied from the rules when challenged: a change of rules binds new duels only.
    Column("metric", String(16), nullable=False),
    Column("stake", BigInteger, nullable=False),
    Column("reward_points", BigInteger, nullable=False),
    Column("tie_rule", String(8), nullable=False),
    Column("window_hours", Integer, nullable=False),
    Column("accept_by", DateTime(timezone=True), nullable=False),
    # pending (challenged) | open (accepted: the window runs) | closed
    Column("status", String(8), nullable=False),
    # won | tied | declined | expired | void
    Column("outcome", String(8)),
    Column("starts_at", DateTime(timezone=True)),  # the acceptance
    Column("ends_at", DateTime(timezone=True)),  # the acceptance + the window
    Column("challenger_hold_id", BigInteger),
    ForeignKeyConstraint(["challenger_hold_id", "challenger_id"], ["holds.id", "holds.member_id"]),
    Column("opponent_hold_id", BigInteger),
    Column("challenger_score", BigInteger),  # frozen at the close
    Column("opponent_score", BigInteger),
    Column("winner_id", BigInteger),
    Column("winnings_entry_id", BigInteger),  # the stake won (either member's)
    Column("challenger_reward_entry_id", BigInteger),
    ForeignKeyConstraint(
        ["challenger_reward_entry_id", "challenger_id"], ["entries.id", "entries.member_id"]
    ),
    Column("opponent_reward_entry_id", BigInteger),
    Column("created_by", String(96), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    CheckConstraint("status IN ('pending', 'open', 'closed')", name="status"),
    CheckConstraint("(status = 'closed') = (outcome IS NOT NULL)", name="outcome"),
    CheckConstraint("challenger_id <> opponent_id", name="two_members"),
    CheckConstraint("stake >= 0 AND reward_points >= 0 AND window_hours > 0", name="amounts"),
    UniqueConstraint("challenger_hold_id", "challenger_id", name="uq_duels_challenger_hold_id"),
    UniqueConstraint("opponent_hold_id", "challenger_id", name="uq_duels_opponent_hold_id"),
    Index("ix_duels_pending_accept_by", "accept_by", postgresql_where=text("status = 'pending'")),
    Index("ix_duels_open_end", "ends_at", postgresql_where=text("status = 'open'")),
    Index("ix_duels_challenger", "challenger_id", "id"),
    Index("ix_duels_opponent", "opponent_id", "id"),
)

# Quest levels (积分任务闯关): an ordered chain of engagement tasks; finishing level N (its task
# completed while N is the member's current level) pays N's reward and unlocks N + 1.
quests = _game(
    "quests",
    Column("description", Text, nullable=False, server_default=""),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True)),  # none: open-ended
    Column("enabled", Boolean, nullable=False),
    Column("created_by", String(96), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

quest_levels = Table(
    "quest_levels",
    metadata,
    Column("quest_id", BigInteger, ForeignKey("quests.id"), primary_key=True),
    Column("position", Integer, primary_key=True),  # 1, 2, …
    Column("task_id", BigInteger, ForeignKey("tasks.id"), nullable=False),
    Column("reward_points", BigInteger, nullable=False),
    Column("badge", String(48)),
    CheckConstraint("position > 0 AND reward_points >= 0", name="level"),
    UniqueConstraint("quest_id", "task_id", name="uq_quest_levels_quest_task"),
    Index("ix_quest_levels_task", "task_id"),
)

quest_progress = Table(
    "quest_progress",
    metadata,
    Column("member_id", BigInteger, ForeignKey("members.id"), primary_key=True),
    Column("quest_id", BigInteger, ForeignKey("quests.id"), primary_key=True),
    Column("finished", Integer, nullable=False),  # levels finished: the current is finished + 1
    Column("unlocked_at", DateTime(timezone=True), nullable=False),  # the current level's
    Column("completed_at", DateTime(timezone=True)),  # the last level finished
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("finished >= 0", name="finished"),
)
