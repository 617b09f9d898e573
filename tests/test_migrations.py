"""The migrations build exactly the schema the code's tables describe."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.ledger.commands import Earn, Spend
from app.ledger.models import Actor
from app.ledger.usecases import earn_points, spend_points
from app.members.usecases import register_member
from app.runtime import Runtime
from app.tables import metadata


async def test_the_migrated_database_matches_the_tables_in_the_code(engine: AsyncEngine) -> None:
    def differences(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with engine.connect() as conn:
        diff = await conn.run_sync(differences)
    assert diff == [], "a table changed without its migration (or the reverse):\n" + "\n".join(
        map(str, diff)
    )


def _migration(name: str) -> Any:
    path = Path(__file__).resolve().parents[1] / "migrations" / "versions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ACTORS = [
    # actor, source: what rows written before migration 0010 carried
    ("staff:alice", "api", "staff", None),
    ("member:7", "api", "member", None),
    ("partner:shop", "pos", "partner", "pos"),
    ("partner:mallory", "api", "partner", "api"),  # its own writes stay its own
    ("system", "jobs", "system", None),
    ("system:seed", "seed", "system", None),
]


async def test_migration_0010_backfills_the_creator_from_actor_and_a_partners_source(
    engine: AsyncEngine,
) -> None:
    backfill = _migration("0010_created_by").BACKFILL.format(table="entries")
    async with engine.connect() as conn:
        member = await conn.scalar(text("INSERT INTO members DEFAULT VALUES RETURNING id"))
        for actor, source, _, _ in ACTORS:
            await conn.execute(
                text(
                    "INSERT INTO entries (member_id, kind, amount, balance_after, reason, source,"
                    " actor, created_by_kind, created_at)"
                    " VALUES (:m, 'earn', 1, 1, 'old', :s, :a, 'system', now())"
                ),
                {"m": member, "s": source, "a": actor},
            )
        await conn.execute(text(backfill))
        rows = await conn.execute(
            text("SELECT actor, created_by_kind, created_by_channel FROM entries ORDER BY id")
        )
        assert [tuple(row) for row in rows] == [(a, k, c) for a, _, k, c in ACTORS]
        await conn.rollback()


async def test_the_outbox_trigger_draws_event_ids_from_its_sequence_named_once(
    engine: AsyncEngine,
) -> None:
    """Migration 0040: the trigger names the events' sequence (no catalog lookup a row) and the
    ids still come from it, in the order written (the identity's default draws one too)."""
    async with engine.connect() as conn:
        source = await conn.scalar(
            text("SELECT prosrc FROM pg_proc WHERE proname = :f"), {"f": "events_order_by_topic"}
        )
        ids = list(
            await conn.scalars(
                text(
                    "INSERT INTO events (member_id, topic, type, payload)"
                    " SELECT g, 'member:' || g, 'test', '{}'"
                    " FROM generate_series(1, 3) AS g RETURNING id"
                )
            )
        )
        last = await conn.scalar(text("SELECT currval(pg_get_serial_sequence('events', 'id'))"))
        await conn.rollback()
    assert "pg_get_serial_sequence" not in source and "events_id_seq'::regclass" in source
    assert ids == sorted(set(ids)) and len(ids) == 3 and ids[-1] == last


POINTING_AT_THEIR_MEMBER = (
    ("transfers", "fk_transfers_entry_id_entries"),
    ("allocations", "fk_allocations_lot_id_lots"),
    ("allocations", "fk_allocations_entry_id_entries"),
    ("allocations", "fk_allocations_hold_id_holds"),
)


async def test_migration_0051_backfills_the_member_of_transfers_and_allocations(
    runtime: Runtime, rolled_back: AsyncConnection
) -> None:
    staff = Actor("staff:test", "test")
    member = (await register_member(runtime, channel="t", external_ref="m")).member.id
    await earn_points(runtime, staff, Earn(member, 50, "r"), idempotency_key="e")
    await spend_points(runtime, staff, Spend(member, 20, "r"), idempotency_key="s")
    # Every row's member wrong (its constraints keep it from being none; the foreign keys that
    # pair it, from 0055, lifted in this transaction), then backfilled.
    for table, name in POINTING_AT_THEIR_MEMBER:
        await rolled_back.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {name}"))
    await rolled_back.execute(text("UPDATE transfers SET member_id = 0"))
    await rolled_back.execute(text("UPDATE allocations SET member_id = 0"))
    for statement in _migration("0051_transfers_allocations_member_id").BACKFILL:
        await rolled_back.execute(text(statement))
    members = await rolled_back.execute(
        text(
            "SELECT 'transfer', member_id FROM transfers"
            " UNION ALL SELECT 'allocation', member_id FROM allocations ORDER BY 1"
        )
    )
    assert [tuple(row) for row in members] == [
        ("allocation", member),
        ("transfer", member),
        ("transfer", member),
    ]


def _run_migration(sync_conn: Any, step: Any) -> None:
    with Operations.context(MigrationContext.configure(sync_conn)):
        step()


async def test_migration_0057_moves_the_charity_match_out_of_transfers_and_back(
    rolled_back: AsyncConnection,
) -> None:
    migration = _migration("0057_programme_transfers")
    await rolled_back.execute(
        text(
            "INSERT INTO programme_transfers (debit_account_id, credit_account_id, amount,"
            " created_at) SELECT b.id, a.id, 7, now()"
            " FROM programme_accounts b, programme_accounts a"
            " WHERE b.code = 'bank' AND a.code = 'adjustment'"
        )
    )
    await rolled_back.execute(
        text(
            "INSERT INTO bank_matches (points, charity_code, programme_transfer_id, reason,"
            " actor, created_at) SELECT 7, 'red-cross', max(id), 'r', 'staff:t', now()"
            " FROM programme_transfers"
        )
    )
    await rolled_back.run_sync(_run_migration, migration.downgrade)
    before = (
        await rolled_back.execute(
            text(
                "SELECT s.id, s.kind, s.points, s.charity_code, t.amount, t.member_id"
                " FROM bank_spends s JOIN transfers t ON t.id = s.transfer_id"
                " WHERE t.entry_id IS NULL"
            )
        )
    ).all()
    assert [tuple(row)[1:] for row in before] == [("charity_match", 7, "red-cross", 7, None)]
    await rolled_back.run_sync(_run_migration, migration.upgrade)
    after = (
        await rolled_back.execute(
            text(
                "SELECT b.id, b.points, b.charity_code, p.amount FROM bank_matches b"
                " JOIN programme_transfers p ON p.id = b.programme_transfer_id"
            )
        )
    ).all()
    # The match keeps its spend's id (a stored idempotency key still finds it).
    assert [tuple(row) for row in after] == [(before[0].id, 7, "red-cross", 7)]
    left = "SELECT count(*) FROM transfers WHERE entry_id IS NULL OR member_id IS NULL"
    assert await rolled_back.scalar(text(left)) == 0
    assert await rolled_back.scalar(text("SELECT count(*) FROM bank_spends")) == 0


async def test_migration_0059_moves_the_programme_accounts_out_of_accounts_and_back(
    runtime: Runtime, rolled_back: AsyncConnection
) -> None:
    migration = _migration("0059_programme_accounts")
    member = (await register_member(runtime, channel="t", external_ref="m")).member.id
    partner = await rolled_back.scalar(
        text(
            "INSERT INTO programme_accounts (kind, code) VALUES ('partner', 'partner:p')"
            " RETURNING id"
        )
    )
    programme = "SELECT id, kind, code FROM {table} WHERE kind <> 'member' ORDER BY id"
    before = (await rolled_back.execute(text(programme.format(table="programme_accounts")))).all()
    await rolled_back.run_sync(_run_migration, migration.downgrade)
    # Back in accounts with their ids, beside the member's.
    down = (await rolled_back.execute(text(programme.format(table="accounts")))).all()
    assert down == before and (partner, "partner", "partner:p") in down
    await rolled_back.run_sync(_run_migration, migration.upgrade)
    up = (await rolled_back.execute(text(programme.format(table="programme_accounts")))).all()
    assert up == before
    left = await rolled_back.execute(text("SELECT member_id FROM accounts"))
    assert left.scalars().all() == [member]
