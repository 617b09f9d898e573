"""Does a change to transfers cost an earn? Raw earns with and without it, alternating.

    python bench/transfer_fk_cpu.py                      # 3 rounds, 10 s each way, 32 connections
    python bench/transfer_fk_cpu.py --rounds 5 --kind batched
    python bench/transfer_fk_cpu.py --compare member --kind batched   # migration 0051
    python bench/transfer_fk_cpu.py --compare notify                  # migration 0052

``--compare fk`` (the default) measures transfers' two foreign keys to accounts, below.
``--compare member`` measures ``member_id`` on transfers and allocations (migration
``MEMBER_REVISION``): the database is moved down to the revision before it and up again between
runs (the SQL functions with it: ``function`` and ``batched`` post through them; ``raw`` is this
tree's SQL and needs the column), otherwise as below; ``with`` is the column, ``without`` not.
``--compare notify`` measures migration 0002's NOTIFY trigger on the outbox (migration 0052
dropped it): PostgreSQL holds a database-wide lock, wait event ``Lock:object``, from the
pre-commit of a transaction that NOTIFYed until its commit, WAL flush included, is done; the
trigger is put back (``notify``) and dropped (``none``) between runs, and left dropped.

Every earn credits a member from the programme's one ``issuance`` account, and the foreign key
``transfers.debit_account_id → programme_accounts(id)`` (``accounts(id)`` before migration 0059)
takes FOR KEY SHARE on that account's row in every
earning transaction: at once from many connections that is a shared lock held by many
transactions, which PostgreSQL records as a MultiXact. This bench measures what that costs.

In one database (bench/ledger.py's set-up: migrated, ``--members`` members), each round runs
bench/ledger.py's raw asyncpg baseline (``--kind``: ``function`` = one ``ledger_post_credit()``
statement an earn, ``batched`` = group commit's ``ledger_post_credits()``) twice, in turn, the
order alternating between rounds: once with the two foreign keys (``fk``: added ``NOT VALID``,
as they were before migration 0045 dropped them), once without (``nofk``: the schema since
0045); the database is left as the migrations made it. For
each it prints earns a second, the CPU an earn (raw clients + their PostgreSQL backends), the
share of sampled backends waiting on MultiXact / tuple locks (``pg_stat_activity``, every 20 ms)
and the MultiXact SLRU traffic (``pg_stat_slru`` deltas); then the medians and the ratio
nofk / fk. Database from ``JIFEN_DATABASE_URL`` (used as is), else bench/ledger.py's
(recreated).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.ledger import (  # noqa: E402
    BASELINES,
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    asyncpg_dsn,
    load_average,
    prepare_stage,
    register_members,
    run_baseline,
)

# An earn's two sides as a foreign key would name them since migration 0059: the programme's
# issuance account (programme_accounts, the shared row every earn would share-lock) and the
# member's own account (accounts, keyed (id, member_id)). Earns only: a spend's debit is the
# member's, which the first key would refuse.
FKS = {
    "fk_transfers_debit_account_id_accounts": (
        "debit_account_id",
        "programme_accounts (id)",
    ),
    "fk_transfers_credit_account_id_accounts": (
        "credit_account_id, member_id",
        "accounts (id, member_id)",
    ),
}
# The migration that added transfers.member_id and allocations.member_id, and the one before.
MEMBER_REVISION = ("0051", "0050")
SLRU = "SELECT name, blks_hit + blks_read AS touched, blks_zeroed FROM pg_stat_slru"


async def set_fks(dsn: str, present: bool) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for name, (columns, target) in FKS.items():  # IF EXISTS: before 0045 they are there
            await conn.execute(f"ALTER TABLE transfers DROP CONSTRAINT IF EXISTS {name}")
            if present:
                await conn.execute(
                    f"ALTER TABLE transfers ADD CONSTRAINT {name} FOREIGN KEY ({columns}) "
                    f"REFERENCES {target} NOT VALID"
                )
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


def set_member_column(url: str, present: bool) -> None:
    """The schema with transfers' and allocations' member_id (migration 0051), or as before."""
    from alembic import command

    from app.migrate import alembic_config

    config = alembic_config(url)
    added, before = MEMBER_REVISION
    (command.upgrade if present else command.downgrade)(config, added if present else before)


# Migration 0002's NOTIFY trigger on the outbox, as it was before migration 0052 dropped it.
NOTIFY_TRIGGER = (
    """
    CREATE OR REPLACE FUNCTION events_notify_relay() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('jifen_events', '');
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER events_notify_relay AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify_relay()
    """,
)
NO_NOTIFY_TRIGGER = (
    "DROP TRIGGER IF EXISTS events_notify_relay ON events",
    "DROP FUNCTION IF EXISTS events_notify_relay()",
)


def set_side(compare: str, dsn: str, url: str, present: bool) -> None:
    """Put the compared thing (``--compare``) in place or take it away."""
    if compare == "fk":
        asyncio.run(set_fks(dsn, present))
    elif compare == "notify":
        asyncio.run(set_notify(dsn, present))
    else:
        set_member_column(url, present)


def restore(compare: str, dsn: str, url: str) -> None:
    """Leave the database as the migrations do: no keys, no NOTIFY, every revision applied.

    ``--compare member`` moves between the fixed revisions 0050 and 0051; ending at 0051 would
    leave a later head's schema undone, so it ends at the head.
    """
    if compare == "member":
        from alembic import command

        from app.migrate import alembic_config

        command.upgrade(alembic_config(url), "head")
    else:
        set_side(compare, dsn, url, False)


async def set_notify(dsn: str, present: bool) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for statement in NO_NOTIFY_TRIGGER + (NOTIFY_TRIGGER if present else ()):
            await conn.execute(statement)
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def slru(dsn: str) -> dict[str, tuple[int, int]]:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        rows = await conn.fetch(SLRU)
    finally:
        await conn.close()
    return {r["name"]: (r["touched"], r["blks_zeroed"]) for r in rows if "Multi" in r["name"]}


def sample_waits(dsn: str, database: str, stop: threading.Event, out: Counter[str]) -> None:
    """Count the bench database's active backends by wait event until ``stop``."""

    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            while not stop.is_set():
                rows = await conn.fetch(
                    "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') AS w "
                    "FROM pg_stat_activity WHERE datname = $1 AND state = 'active' "
                    "AND pid <> pg_backend_pid()",
                    database,
                )
                out.update(r["w"] for r in rows)
                out["(samples)"] += 1
                await asyncio.sleep(0.02)
        finally:
            await conn.close()

    asyncio.run(run())


def measure(args: argparse.Namespace, url: str, members: list[int], run_id: str) -> dict[str, Any]:
    dsn = asyncpg_dsn(url)
    database = dsn.rsplit("/", 1)[1].split("?")[0]
    waits: Counter[str] = Counter()
    stop = threading.Event()
    before = asyncio.run(slru(dsn))
    sampler = threading.Thread(target=sample_waits, args=(dsn, database, stop, waits))
    sampler.start()
    try:
        result = run_baseline(
            args.kind,
            url,
            members,
            connections=max(1, args.connections // BASELINES[args.kind][2]),
            processes=args.processes,
            warmup=args.warmup,
            seconds=args.duration,
            run_id=run_id,
        )
    finally:
        stop.set()
        sampler.join()
    after = asyncio.run(slru(dsn))
    busy = sum(n for w, n in waits.items() if w != "(samples)")
    multixact = sum(n for w, n in waits.items() if "MultiXact" in w)
    tuple_lock = sum(n for w, n in waits.items() if w in ("Lock:tuple", "Lock:transactionid"))
    notify_lock = waits["Lock:object"]  # a notifying transaction's commit (--compare notify)
    traffic = {
        name: (after[name][0] - before[name][0], after[name][1] - before[name][1]) for name in after
    }
    return {
        "rps": result.rps,
        "cpu_ms": result.cpu_ms,
        "p99_ms": result.p99_ms,
        "errors": result.errors,
        "multixact_share": multixact / busy if busy else 0.0,
        "lock_share": tuple_lock / busy if busy else 0.0,
        "object_share": notify_lock / busy if busy else 0.0,
        "top_waits": waits.most_common(6),
        "slru": traffic,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kind", choices=sorted(BASELINES), default="function")
    parser.add_argument("--compare", choices=("fk", "member", "notify"), default="fk")
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args()
    url, _redis, _out, run_id = prepare_stage(
        "transferfk", DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, None
    )
    members = asyncio.run(register_members(url, args.members, run_id))
    dsn = asyncpg_dsn(url)
    print(f"load average before: {load_average()}; kind {args.kind}, {args.connections} conns")
    figures: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    sides = {
        "fk": {True: "fk  ", False: "nofk"},
        "member": {True: "with", False: "w/o "},
        "notify": {True: "notify", False: "none  "},
    }[args.compare]
    try:
        for round_ in range(args.rounds):
            for present in (True, False) if round_ % 2 == 0 else (False, True):
                set_side(args.compare, dsn, url, present)
                time.sleep(1.0)
                got = measure(args, url, members, f"{run_id}:r{round_}:{int(present)}")
                figures[present].append(got)
                print(
                    f"round {round_} {sides[present]}: {got['rps']:7.0f} earns/s "
                    f"{got['cpu_ms']:.3f} ms CPU/earn p99 {got['p99_ms']:.1f} ms "
                    f"errors {got['errors']} multixact-wait {got['multixact_share']:.1%} "
                    f"lock-wait {got['lock_share']:.1%} Lock:object {got['object_share']:.1%} "
                    f"slru {got['slru']} "
                    f"top {got['top_waits']} load {load_average()}",
                    flush=True,
                )
    finally:
        restore(args.compare, dsn, url)
    for key in ("rps", "cpu_ms", "p99_ms", "multixact_share", "object_share"):
        on = statistics.median(f[key] for f in figures[True])
        off = statistics.median(f[key] for f in figures[False])
        ratio = off / on if on else float("nan")
        print(
            f"median {key:16} {sides[True]} {on:10.4f}  {sides[False]} {off:10.4f}"
            f"  {sides[False].strip()}/{sides[True].strip()} {ratio:.3f}"
        )
    pairs = [
        off["cpu_ms"] / on["cpu_ms"] for on, off in zip(figures[True], figures[False], strict=True)
    ]
    shown = ", ".join(f"{pair:.3f}" for pair in sorted(pairs))
    print(f"pairs, CPU an earn {sides[False].strip()}/{sides[True].strip()}: {shown}")
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
