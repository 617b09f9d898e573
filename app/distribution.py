"""Where every table goes when PostgreSQL is distributed with Citus, and the rules Citus imposes.

Citus itself is not installed anywhere Jifen is tested; what is tested is that the live schema
obeys the rules Citus would enforce once the tables below were distributed
(``tests/test_citus_ready.py``, docs/SCALING.md "Citus"):

- a **distributed** table is split into shards by one column (its distribution column; member
  tables by ``member_id``, ``members`` by ``id``): that column is ``NOT NULL`` (Citus refuses a
  row without it) and belongs to the primary key, to every unique constraint and to every unique
  index (a shard can only check uniqueness among its own rows);
- a foreign key from a distributed table points at a **reference** table (copied to every node)
  or at a distributed table of the same co-location group, pairing the two distribution columns
  (``(entry_id, member_id) REFERENCES entries (id, member_id)``): the row it names is then in the
  same shard;
- a reference table points only at reference tables; a **local** table (kept on the
  coordinator, never joined with member shards) points at reference or local tables;
- an identity or serial column of a distributed table is ``bigint`` (Citus hands every node its
  own range of a ``bigint`` sequence, so ids need no cross-node round trip).

Every table is classified here; a table missing from :data:`PLACEMENTS` fails the test, and so
does any violation not listed, with its reason, in :data:`PENDING` (the work left). A listed
violation that no longer occurs fails too, so the list only ever shrinks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class Distributed:
    """Sharded by ``column``; tables of one ``group`` are co-located (same shard for a value)."""

    column: str = "member_id"
    group: str = "member"


@dataclass(frozen=True)
class Reference:
    """Small, read on hot paths, written by operators: a copy on every node."""


@dataclass(frozen=True)
class Local:
    """Operational bookkeeping kept on the coordinator; never joined with member shards."""


Placement = Distributed | Reference | Local

MEMBER = Distributed()
REFERENCE = Reference()
LOCAL = Local()

PLACEMENTS: Mapping[str, Placement] = {
    # The member itself: shard by its id, which every member table's member_id names.
    "members": Distributed("id"),
    # The ledger (docs/LEDGER.md): the members' accounts; the programme's own are a catalogue.
    "accounts": MEMBER,
    "programme_accounts": REFERENCE,
    "entries": MEMBER,
    "lots": MEMBER,
    "holds": MEMBER,
    "transfers": MEMBER,
    "allocations": MEMBER,
    # The outbox, by the member whose write raised each event (0: none; migration 0044).
    "events": MEMBER,
    # Earning.
    "purchases": MEMBER,
    "purchase_lines": MEMBER,
    "refunds": MEMBER,
    "earning_events": MEMBER,
    "earning_counters": MEMBER,
    # Members, tiers, segments, engagement.
    "member_channel_refs": MEMBER,
    "member_status_changes": MEMBER,
    "member_tiers": MEMBER,
    "tier_changes": MEMBER,
    "tier_task_counters": MEMBER,
    "member_segments": MEMBER,
    "member_segment_changes": MEMBER,
    "member_activity": MEMBER,
    "segment_campaign_members": MEMBER,
    "engagement_profiles": MEMBER,
    "engagement_rewards": MEMBER,
    "member_badges": MEMBER,
    "sign_ins": MEMBER,
    "task_progress": MEMBER,
    "team_members": MEMBER,
    "quest_progress": MEMBER,
    "experiment_assignments": MEMBER,
    # Mall, lifecycle, games.
    "mall_orders": MEMBER,
    "checkout_payments": MEMBER,
    "lottery_tickets": MEMBER,
    "lottery_draws": MEMBER,
    "exchanges": MEMBER,
    "donations": MEMBER,
    "bank_moves": MEMBER,
    "bank_spends": MEMBER,
    "notifications": MEMBER,
    "expiry_reminders": MEMBER,
    "auction_bids": MEMBER,
    "pledges": MEMBER,
    "analytics_members": MEMBER,
    "analytics_active": MEMBER,
    # Rows between two members live with one of them (the sender, the challenger, the friend).
    "gifts": Distributed("from_member_id"),
    "duels": Distributed("challenger_id"),
    "referrals": Distributed("friend_id"),
    # Idempotency keys are looked up by caller (a member, a partner, staff): their own group.
    "idempotency_keys": Distributed("caller", group="caller"),
    # Keys from outside, claimed across members (app/members/claims.py): by the key itself, so
    # a claim and its replay's lookup are one shard's, whichever member sends it.
    "outside_keys": Distributed("ref", group="outside_key"),
    # Catalogues: operators write them, every earning or redemption reads them.
    "badges": REFERENCE,
    "tier_definitions": REFERENCE,
    "tier_definition_versions": REFERENCE,
    "earning_rules": REFERENCE,
    "earning_rule_versions": REFERENCE,
    "earning_budgets": REFERENCE,
    "point_values": REFERENCE,
    "signin_schedules": REFERENCE,
    "tasks": REFERENCE,
    "teams": REFERENCE,
    "quests": REFERENCE,
    "quest_levels": REFERENCE,
    "experiments": REFERENCE,
    "experiment_variants": REFERENCE,
    "experiment_variant_rules": REFERENCE,
    "experiment_variant_overrides": REFERENCE,
    "segment_campaigns": REFERENCE,
    "mall_items": REFERENCE,
    "lottery_pools": REFERENCE,
    "lottery_prizes": REFERENCE,
    "charities": REFERENCE,
    "exchange_partners": REFERENCE,
    "auctions": REFERENCE,
    "campaigns": REFERENCE,
    "duel_rules": REFERENCE,
    # Coordinator-only: stock of codes, jobs, rollups, webhooks, staff and keys.
    "mall_coupon_codes": LOCAL,
    # The programme's side of the ledger: moves between two programme accounts, no member
    # (the points bank's charity matching, migration 0057).
    "programme_transfers": LOCAL,
    "bank_matches": LOCAL,
    "alembic_version": LOCAL,
    "job_runs": LOCAL,
    "events_purge_mark": LOCAL,
    "analytics_activity": LOCAL,
    "analytics_alerts": LOCAL,
    "analytics_cursor": LOCAL,
    "analytics_flows": LOCAL,
    "analytics_outlook": LOCAL,
    "analytics_sales": LOCAL,
    "member_activity_state": LOCAL,
    "weekly_reports": LOCAL,
    "segment_counts": LOCAL,
    "segment_runs": LOCAL,
    "webhook_endpoints": LOCAL,
    "webhook_messages": LOCAL,
    "webhook_attempts": LOCAL,
    "webhook_leases": LOCAL,
    "webhook_cursor": LOCAL,
    "staff": LOCAL,
    "staff_sessions": LOCAL,
    "api_keys": LOCAL,
    "widget_keys": LOCAL,
}

# Rows every member's write may lock (``FOR UPDATE`` or an advisory lock) on a hot path: the
# places where members serialize across shards. None is a distributed table; under Citus each
# such write becomes a distributed transaction (2PC with the member's shard). What to do with
# each is in docs/SCALING.md ("Cross-member locks").
SHARED_HOT_ROWS: Mapping[str, str] = {
    "earning_budgets": "a budgeted rule's row, locked by every earning that the rule pays",
    "mall_items": "an item's stock row, locked by each redemption of it (flash sales: Redis first)",
    "mall_coupon_codes": "free codes of an item, taken FOR UPDATE SKIP LOCKED per redemption",
    "auctions": "the auction row, locked by every bid on it",
    "campaigns": "the crowdfunding campaign row, locked by every pledge to it",
    "teams": "the team row, locked by every member joining it",
}

# The violations known and not fixed yet, each with why (docs/SCALING.md, "Citus": what each
# needs). The test fails on any violation not listed here, and on any listed one that no longer
# occurs. Empty since migration 0059: the schema obeys every rule above.
PENDING: Mapping[str, str] = {}


@dataclass(frozen=True)
class Key:
    """A primary key, unique constraint or unique index: its definition and its columns."""

    definition: str
    columns: frozenset[str]


@dataclass(frozen=True)
class ForeignKey:
    definition: str
    target: str
    pairs: frozenset[tuple[str, str]]


@dataclass
class TableShape:
    name: str
    nullable: dict[str, bool]
    sequenced: dict[str, str]  # identity or nextval() column -> its type
    primary_key: Key | None = None
    unique: tuple[Key, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()


_TABLES = """
    SELECT c.relname AS table_name, a.attname AS column_name, NOT a.attnotnull AS nullable,
           format_type(a.atttypid, a.atttypmod) AS type,
           a.attidentity <> '' OR coalesce(pg_get_expr(d.adbin, d.adrelid), '') LIKE 'nextval(%'
               AS sequenced
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
    WHERE n.nspname = :schema AND c.relkind IN ('r', 'p') AND NOT c.relispartition
"""

# Primary keys, unique and exclusion constraints, and unique indexes no constraint owns
# (partial ones included): everything a shard would have to check on its own.
_KEYS = """
    SELECT t.relname AS table_name, x.indisprimary AS is_primary,
           coalesce(pg_get_constraintdef(k.oid), pg_get_indexdef(x.indexrelid)) AS definition,
           array(SELECT a.attname FROM pg_attribute a
                 WHERE a.attrelid = t.oid AND a.attnum = ANY (x.indkey))::text[] AS columns
    FROM pg_index x
    JOIN pg_class t ON t.oid = x.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    LEFT JOIN pg_constraint k
        ON k.conindid = x.indexrelid AND k.conrelid = t.oid AND k.contype IN ('p', 'u', 'x')
    WHERE n.nspname = :schema AND (x.indisunique OR x.indisexclusion)
"""

_FOREIGN_KEYS = """
    SELECT t.relname AS table_name, r.relname AS target, pg_get_constraintdef(k.oid) AS definition,
           array(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY AS u(num, pos)
                 JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.num
                 ORDER BY u.pos)::text[] AS columns,
           array(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY AS u(num, pos)
                 JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.num
                 ORDER BY u.pos)::text[] AS target_columns
    FROM pg_constraint k
    JOIN pg_class t ON t.oid = k.conrelid
    JOIN pg_class r ON r.oid = k.confrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE n.nspname = :schema AND k.contype = 'f'
"""


async def read_schema(conn: AsyncConnection, schema: str = "public") -> dict[str, TableShape]:
    """The tables of ``schema`` as pg_catalog has them now (not as the code declares them)."""
    shapes: dict[str, TableShape] = {}
    for row in await conn.execute(text(_TABLES), {"schema": schema}):
        shape = shapes.setdefault(row.table_name, TableShape(row.table_name, {}, {}))
        shape.nullable[row.column_name] = row.nullable
        if row.sequenced:
            shape.sequenced[row.column_name] = row.type
    for row in await conn.execute(text(_KEYS), {"schema": schema}):
        key = Key(row.definition, frozenset(row.columns))
        shape = shapes[row.table_name]
        if row.is_primary:
            shape.primary_key = key
        else:
            shape.unique = (*shape.unique, key)
    for row in await conn.execute(text(_FOREIGN_KEYS), {"schema": schema}):
        pairs = frozenset(zip(row.columns, row.target_columns, strict=True))
        shape = shapes[row.table_name]
        shape.foreign_keys = (*shape.foreign_keys, ForeignKey(row.definition, row.target, pairs))
    return shapes


def violations(
    shapes: Mapping[str, TableShape], placements: Mapping[str, Placement] = PLACEMENTS
) -> list[str]:
    """Every way the schema would stop Citus from distributing it as classified, sorted."""
    found = [
        f"{name}: not classified in app/distribution.py"
        for name in shapes
        if name not in placements
    ]
    found += [f"{name}: classified but no such table" for name in placements if name not in shapes]
    for name, shape in shapes.items():
        placement = placements.get(name)
        if isinstance(placement, Distributed):
            found += _distributed(shape, placement, placements)
        elif placement is not None:
            found += _undistributed(shape, placement, placements)
    return sorted(found)


def _distributed(
    shape: TableShape, placement: Distributed, placements: Mapping[str, Placement]
) -> Iterable[str]:
    name, column = shape.name, placement.column
    if column not in shape.nullable:
        yield f"{name}: has no column {column} to be distributed by"
    elif shape.nullable[column]:
        yield f"{name}: {column} is nullable (Citus refuses a row without its distribution column)"
    if shape.primary_key is None:
        yield f"{name}: has no primary key"
    for key in (shape.primary_key, *shape.unique):
        if key is not None and column not in key.columns:
            yield f"{name}: {key.definition} lacks {column}"
    for sequenced, type_ in sorted(shape.sequenced.items()):
        if type_ != "bigint":
            yield f"{name}: sequence-drawn {sequenced} is {type_}, not bigint"
    for fk in shape.foreign_keys:
        target = placements.get(fk.target)
        if isinstance(target, Reference) or target is None:
            continue  # an unclassified target is reported as such
        if isinstance(target, Local):
            yield f"{name}: {fk.definition} points at local table {fk.target}"
        elif target.group != placement.group:
            yield f"{name}: {fk.definition} points at {fk.target}, not co-located"
        elif (column, target.column) not in fk.pairs:
            yield f"{name}: {fk.definition} does not pair {column} with {fk.target}.{target.column}"


def _undistributed(
    shape: TableShape, placement: Reference | Local, placements: Mapping[str, Placement]
) -> Iterable[str]:
    kind = "reference" if isinstance(placement, Reference) else "local"
    for fk in shape.foreign_keys:
        target = placements.get(fk.target)
        if isinstance(target, Distributed):
            yield f"{shape.name}: {kind} table's {fk.definition} points at distributed {fk.target}"
        elif isinstance(placement, Reference) and isinstance(target, Local):
            yield f"{shape.name}: reference table's {fk.definition} points at local {fk.target}"
